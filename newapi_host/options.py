"""Runtime options: New API's ``options`` table, held in memory by every worker.

Values are strings in the table, as in New API; typed accessors parse them. A change is written
with its revision bump in one transaction, and every worker reloads within the sync interval.
"""

from __future__ import annotations

import json
from typing import Any

from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import Option
from newapi_host.sync import bump

DEFAULTS: dict[str, str] = {
    "SystemName": "New API",
    "Logo": "",
    "Footer": "",
    "Notice": "",
    "About": "",
    "HomePageContent": "",
    "ServerAddress": "",
    "QuotaPerUnit": "500000",
    "DisplayInCurrencyEnabled": "true",
    "DisplayTokenStatEnabled": "true",
    "general_setting.quota_display_type": "USD",
    "general_setting.custom_currency_symbol": "¤",
    "general_setting.custom_currency_exchange_rate": "1",
    "general_setting.docs_link": "",
    "USDExchangeRate": "7.3",
    "Price": "7.3",
    "StripeUnitPrice": "8",
    "PasswordLoginEnabled": "true",
    "PasswordRegisterEnabled": "true",
    "RegisterEnabled": "true",
    "EmailVerificationEnabled": "false",
    "TurnstileCheckEnabled": "false",
    "TurnstileSiteKey": "",
    "SelfUseModeEnabled": "false",
    "DemoSiteEnabled": "false",
    "DrawingEnabled": "true",
    "TaskEnabled": "true",
    "DataExportEnabled": "true",
    "DataExportDefaultTime": "hour",
    "DefaultCollapseSidebar": "false",
    "MjNotifyEnabled": "false",
    "DefaultUseAutoGroup": "false",
    "QuotaForNewUser": "0",
    "QuotaForInviter": "0",
    "QuotaForInvitee": "0",
    "QuotaRemindThreshold": "1000",
    "PreConsumedQuota": "500",
    "RetryTimes": "0",
    "LogConsumeEnabled": "true",
    "AutomaticDisableChannelEnabled": "false",
    "AutomaticEnableChannelEnabled": "false",
    "ChannelDisableThreshold": "5",
}


def _is_secret(key: str) -> bool:
    """Options never sent back by the API, as in New API (keys naming a secret, token or key)."""
    return any(word in key for word in ("Secret", "Token", "Key")) and key not in {"TurnstileSiteKey"}


class Options:
    def __init__(self) -> None:
        self._values: dict[str, str] = dict(DEFAULTS)

    async def load(self) -> None:
        values = dict(DEFAULTS)
        for row in await Option.select(Option.key, Option.value):
            values[row["key"]] = row["value"]
        self._values = values

    def get(self, key: str, default: str = "") -> str:
        return self._values.get(key, default)

    def get_bool(self, key: str) -> bool:
        return self._values.get(key, "false") == "true"

    def get_int(self, key: str, default: int = 0) -> int:
        try:
            return int(float(self._values.get(key, default)))
        except ValueError:
            return default

    def get_float(self, key: str, default: float = 0.0) -> float:
        try:
            return float(self._values.get(key, default))
        except ValueError:
            return default

    def get_json(self, key: str, default: Any = None) -> Any:
        try:
            return json.loads(self._values[key])
        except (KeyError, ValueError):
            return default

    def public(self) -> dict[str, str]:
        return {k: v for k, v in sorted(self._values.items()) if not _is_secret(k)}

    async def set_many(self, values: dict[str, str]) -> None:
        """Write options and bump the revision in one transaction, then apply locally."""
        async with write_transaction():
            for key, value in values.items():
                await Option.insert(Option(key=key, value=value)).on_conflict(
                    target=Option.key, action="DO UPDATE", values=[Option.value]
                )
            await bump("options")
        self._values.update(values)
