"""New API's model request rate limits (``ModelRequestRateLimit*`` options), per user.

With ``ModelRequestRateLimitEnabled`` on, each user may send at most ``...Count`` relay requests
(failures included; 0: no limit) and have at most ``...SuccessCount`` of them succeed (1000) in
any ``...DurationMinutes`` (1) minutes. ``ModelRequestRateLimitGroup`` (JSON,
``{"vip": [total, success]}``) overrides both for a group (the key's group, else the user's).
Requests over a limit get 429 before any channel is tried. As New API does, the total is counted
as the request arrives and a success once the answer starts with a status below 400.

Token-per-minute limits (not in New API, which limits requests only): with
``ModelRequestTPMLimitEnabled`` on, each API key may use ``ModelRequestTPMLimitTokens`` tokens
(0: no limit) in any minute; ``ModelRequestTPMLimitGroup`` (JSON, ``{"vip": 200000}``) sets the
limit for the keys of a group instead (0: none). Tokens are counted after the answer, from its
usage (input tokens, cached ones included, plus output tokens; the gateway's own count when the
upstream reports none); a request is refused with 429 before any channel is tried once the key's
last minute has used the whole budget. One answer may overshoot the budget (its size is not
known in advance); the next request then waits until the minute has slid by enough.

The windows live in the shared store (:mod:`newapi_host.store`): the counter file every local
worker maps, or Redis for every node, so the limits hold for the cluster, not per worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from newapi_host.store import StoreUnavailable

from .errors import RelayError

if TYPE_CHECKING:
    from newapi_host.options import Options
    from newapi_host.plugins.contracts import Usage
    from newapi_host.store import SharedStore

    from .keys import TokenEntry

log = logging.getLogger(__name__)

DEFAULT_SUCCESS_COUNT = 1000
DEFAULT_MINUTES = 1
TPM_WINDOW = 60.0


class RateLimits:
    def __init__(self, options: Options, store: SharedStore) -> None:
        self.options = options
        self.store = store
        self._groups_text: str | None = None
        self._groups: dict[str, tuple[int, int]] = {}
        self._tpm_text: str | None = None
        self._tpm_groups: dict[str, int] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def _group_limits(self) -> dict[str, tuple[int, int]]:
        text = self.options.get("ModelRequestRateLimitGroup", "")
        if text != self._groups_text:  # parsed once per change of the option
            self._groups_text, self._groups = text, parse_groups(text)
        return self._groups

    def limits(self, entry: TokenEntry) -> tuple[float, int, int] | None:
        """(window seconds, total limit, success limit) for this key's user, or None when off."""
        if not self.options.get_bool("ModelRequestRateLimitEnabled"):
            return None
        minutes = self.options.get_int("ModelRequestRateLimitDurationMinutes", DEFAULT_MINUTES)
        if minutes <= 0:
            return None
        total = self.options.get_int("ModelRequestRateLimitCount", 0)
        success = self.options.get_int("ModelRequestRateLimitSuccessCount", DEFAULT_SUCCESS_COUNT)
        total, success = self._group_limits().get(entry.using_group, (total, success))
        return minutes * 60.0, total, success

    def tpm_limit(self, entry: TokenEntry) -> int:
        """Tokens per minute this key may use; 0: no limit (or the limit is off)."""
        if not self.options.get_bool("ModelRequestTPMLimitEnabled"):
            return 0
        text = self.options.get("ModelRequestTPMLimitGroup", "")
        if text != self._tpm_text:
            self._tpm_text, self._tpm_groups = text, parse_tpm_groups(text)
        return self._tpm_groups.get(entry.using_group, self.options.get_int("ModelRequestTPMLimitTokens", 0))

    async def admit(self, entry: TokenEntry) -> tuple[float, int, int] | None:
        """Count the request against the user's total; raise 429 when a limit is reached."""
        found = self.limits(entry)
        tokens = self.tpm_limit(entry)
        if found is None and tokens <= 0:
            return None
        try:
            if tokens > 0:
                await self._check_tokens(entry, tokens)
            return await self._admit(entry, found) if found is not None else None
        except StoreUnavailable:  # Redis down: refuse rather than let everything through unlimited
            raise RelayError(
                503, "the rate limit could not be checked; try again shortly", code="rate_limit_check_failed"
            ) from None

    async def _admit(self, entry: TokenEntry, found: tuple[float, int, int]) -> tuple[float, int, int]:
        window, total, success = found
        minutes = int(window // 60)
        if total > 0:
            allowed, _, wait = await self.store.hit(f"rl:t:{entry.user_id}", window, total)
            if not allowed:
                raise RelayError(
                    429,
                    f"you have reached the total request limit: at most {total} requests in {minutes} minute(s), "
                    "failed requests included; check that your requests are correct",
                    type_="new_api_error",
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(max(1, int(wait)))},
                )
        if success > 0:
            allowed, _, wait = await self.store.peek(f"rl:s:{entry.user_id}", window, success)
            if not allowed:
                raise RelayError(
                    429,
                    f"you have reached the request limit: at most {success} requests in {minutes} minute(s)",
                    type_="new_api_error",
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(max(1, int(wait)))},
                )
        return found

    async def _check_tokens(self, entry: TokenEntry, limit: int) -> None:
        allowed, used, wait = await self.store.peek(f"rl:tpm:{entry.id}", TPM_WINDOW, limit)
        if not allowed:
            raise RelayError(
                429,
                f"this API key has used its token budget: at most {limit} tokens per minute "
                f"({int(used)} used in the last minute); try again in {max(1, int(wait))} seconds",
                type_="new_api_error",
                code="tpm_limit_exceeded",
                headers={"Retry-After": str(max(1, int(wait)))},
            )

    def used(self, entry: TokenEntry, usage: Usage) -> None:
        """Count an answer's tokens against its key's minute (in the background: settling is synchronous)."""
        if self.tpm_limit(entry) <= 0:
            return
        tokens = usage.prompt_tokens + usage.completion_tokens
        if usage.prompt_excludes_cache:  # Anthropic reports cache reads and writes apart from the input
            tokens += usage.cached_tokens + usage.cache_creation_tokens
        if tokens > 0:
            task = asyncio.get_running_loop().create_task(self._count_tokens(entry.id, tokens))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _count_tokens(self, token_id: int, tokens: int) -> None:
        try:
            await self.store.hit(f"rl:tpm:{token_id}", TPM_WINDOW, 0, tokens)
        except StoreUnavailable:
            log.warning("%d tokens of key %s were not counted: the shared store is down", tokens, token_id)

    async def succeeded(self, entry: TokenEntry, limits: tuple[float, int, int]) -> None:
        """Count a request whose answer started with a status below 400."""
        window, _, success = limits
        if success > 0:
            try:
                await self.store.hit(f"rl:s:{entry.user_id}", window)
            except StoreUnavailable:
                log.warning("a successful request of user %s was not counted: the shared store is down", entry.user_id)


def parse_groups(text: str) -> dict[str, tuple[int, int]]:
    """``{"group": [total, success]}``; entries that are not two whole numbers >= 0 are ignored."""
    try:
        raw: Any = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    out: dict[str, tuple[int, int]] = {}
    if isinstance(raw, dict):
        for group, pair in raw.items():
            if (
                isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in pair)
            ):
                out[str(group)] = (pair[0], pair[1])
    return out


def parse_tpm_groups(text: str) -> dict[str, int]:
    """``{"group": tokens per minute}``; entries that are not whole numbers >= 0 are ignored."""
    try:
        raw: Any = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(g): n for g, n in raw.items() if isinstance(n, int) and not isinstance(n, bool) and n >= 0}
