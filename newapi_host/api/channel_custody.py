"""Channel keys go only where root pointed them.

Reading a stored key is root's (``POST /api/channel/{id}/key``), so every other way of sending one
to an address of someone else's choosing is root's too. A non-root admin who changes where a
channel's requests go -- its base URL, its type (another default base URL and another way of
sending the key) or its proxy -- must enter a key in the same request, which replaces the stored
one; their copy of a channel starts without a key, disabled until it gets one. The channel test,
model lists and balances then only ever send a stored key to the address root chose.
"""

from __future__ import annotations

import json
import time
from typing import Any

from newapi_host.auth.users import Caller
from newapi_host.db.tables import CHANNEL_MANUALLY_DISABLED, ROLE_ROOT


def is_root(caller: Caller) -> bool:
    return caller.role >= ROLE_ROOT


def _proxy(setting: str | None) -> str:
    try:
        value = json.loads(setting or "{}")
    except ValueError:
        return ""
    proxy = value.get("proxy") if isinstance(value, dict) else None
    return proxy.strip() if isinstance(proxy, str) else ""


def destination_changes(row: dict[str, Any], sent: dict[str, Any]) -> list[str]:
    """The fields of a partial update (validated, JSON columns as text) that move the channel's requests."""
    changes = []
    if "base_url" in sent and (sent["base_url"] or "").strip() != (row["base_url"] or "").strip():
        changes.append("base_url")
    if "type" in sent and sent["type"] != row["type"]:
        changes.append("type")
    if "setting" in sent and _proxy(sent["setting"]) != _proxy(row["setting"]):
        changes.append("proxy")
    return changes


def update_refusal(row: dict[str, Any], sent: dict[str, Any], key_mode: str | None) -> str | None:
    """Why a non-root admin may not make this update, or None when they may."""
    changes = destination_changes(row, sent)
    if not changes or not (row["key"] or "").strip():
        return None  # nothing moves, or there is no stored key to move
    if (sent.get("key") or "").strip() and key_mode != "append":
        return None  # the admin's own key replaces the stored one
    return (
        f"only root may send this channel's stored key to a new address: changing {', '.join(changes)} "
        "needs a key in the same request, which replaces the stored key (key_mode replace for multi-key channels)"
    )


def keyless_copy(values: dict[str, Any]) -> dict[str, Any]:
    """A non-root admin's copy of a channel: no key, no key states, disabled until it has a key."""
    info: Any = {}
    try:
        info = json.loads(values.get("channel_info") or "{}")
    except ValueError:
        pass
    if isinstance(info, dict) and info.get("is_multi_key"):
        info.update(
            multi_key_size=0,
            multi_key_status_list={},
            multi_key_disabled_reason={},
            multi_key_disabled_time={},
            multi_key_polling_index=0,
        )
    else:
        info = {}
    reason = {"status_reason": "copied without its key: set a key, then enable it", "status_time": int(time.time())}
    return {
        **values,
        "key": "",
        "channel_info": json.dumps(info),
        "status": CHANNEL_MANUALLY_DISABLED,
        "other_info": json.dumps(reason),
    }
