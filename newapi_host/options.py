"""Runtime options: New API's ``options`` table, held in memory by every worker.

Values are strings in the table, as in New API; typed accessors parse them. A change is written
with its revision bump in one transaction, and every worker reloads within the sync interval.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import Option
from newapi_host.relay import fetch_guard
from newapi_host.status_ranges import canonical_ranges
from newapi_host.sync import bump, version_of

# Defaults that code elsewhere reads by name: the relay and the channel test fall back to them when
# an option is empty, the console shows them as placeholders.
DEFAULT_RETRY_CODES = "100-199,300-399,401-407,409-499,500-503,505-523,525-599"
DEFAULT_DISABLE_CODES = "401"
# AutomaticDisableKeywords (one a line) when unset; not in DEFAULTS, so not listed until set.
DEFAULT_DISABLE_KEYWORDS = (
    "your credit balance is too low",
    "this organization has been disabled.",
    "you exceeded your current quota",
    "permission denied",
    "the security token included in the request is invalid",
    "operation not allowed",
    "your account is not authorized",
)
DEFAULT_PRICE = "7.3"  # New API's Price: money per unit (CNY per USD)
DEFAULT_USABLE_GROUPS = {"default": "Default group", "vip": "VIP group"}

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
    "Price": DEFAULT_PRICE,
    "StripeUnitPrice": "8",
    "TopUpExpireMinutes": "30",  # unpaid top-up orders are closed as expired after this long (0: never)
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
    "MjAccountFilterEnabled": "false",
    "MjModeClearEnabled": "false",
    "MjForwardUrlEnabled": "true",
    "MjActionCheckSuccessEnabled": "true",
    "DefaultUseAutoGroup": "false",
    "QuotaForNewUser": "0",
    "QuotaForInviter": "0",
    "QuotaForInvitee": "0",
    "UserUsableGroups": json.dumps(DEFAULT_USABLE_GROUPS),
    "AutoGroups": '["default"]',
    "CriticalRateLimitCount": "20",  # login/register/password change: requests per client IP
    "CriticalRateLimitDurationSeconds": "1200",  # ... per this many seconds (0 count: no limit)
    "QuotaRemindThreshold": "1000",
    "PreConsumedQuota": "500",
    "RetryTimes": "0",
    "LogConsumeEnabled": "true",
    "AutomaticDisableChannelEnabled": "false",
    "AutomaticEnableChannelEnabled": "false",
    "ChannelDisableThreshold": "5",
    "AutomaticDisableStatusCodes": DEFAULT_DISABLE_CODES,
    "AutomaticRetryStatusCodes": DEFAULT_RETRY_CODES,
    "LogRetentionDays": "0",  # 0: keep logs forever
    **fetch_guard.DEFAULTS,  # SSRF protection of admin-initiated fetches, on by default as in New API
}


# New API hides option names ending in these from GET /api/option/; "token" and "_key" are extra care.
SECRET_SUFFIXES = ("Token", "Secret", "Key", "secret", "api_key", "token", "_key")
PUBLIC_KEYS = frozenset({"TurnstileSiteKey"})  # given to every browser by /api/status anyway


def _is_secret(key: str) -> bool:
    """Options never sent back by the API: names ending in Token, Secret, Key... or naming a secret.

    A suffix, as in New API, so ``AutomaticDisableKeywords`` or ``DisplayTokenStatEnabled`` are listed.
    """
    if key in PUBLIC_KEYS:
        return False
    return key.endswith(SECRET_SUFFIXES) or "secret" in key.lower()


class Options:
    def __init__(self, defaults: Mapping[str, str] | None = None) -> None:
        """``defaults``: values the environment sets for options not saved in the table."""
        self._defaults: dict[str, str] = {**DEFAULTS, **(defaults or {})}
        self._values: dict[str, str] = dict(self._defaults)
        self._version = -1  # the "options" revision the values reflect

    async def load(self) -> None:
        """Read every option; a snapshot older than what this worker already has is dropped.

        The revision is read before the rows, so the snapshot is at least that new. If this
        worker's own :meth:`set_many` committed a newer revision meanwhile, assigning the snapshot
        would undo that change until the next reload.
        """
        version = await version_of("options")
        values = dict(self._defaults)
        for row in await Option.select(Option.key, Option.value):
            values[row["key"]] = row["value"]
        if version < self._version:
            return
        self._values, self._version = values, version

    def get(self, key: str, default: str = "") -> str:
        return self._values.get(key, default)

    def view(self) -> Mapping[str, str]:
        """The current values, read-only (what plugins are handed)."""
        return MappingProxyType(self._values)

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
            version = await bump("options")
        self._values = {**self._values, **values}
        self._version = max(self._version, version)


# -- validation of admin writes (PUT /api/option/) ----------------------------------------------

MAX_OPTION_BYTES = 1 << 20
MAX_KEY_LENGTH = 255

# JSON objects of model or group name -> number >= 0.
NUMBER_TABLES = frozenset(
    {
        "ModelRatio",
        "CompletionRatio",
        "ModelPrice",
        "CacheRatio",
        "CreateCacheRatio",
        "GroupRatio",
        "ImageRatio",
        "AudioRatio",
        "AudioCompletionRatio",
        "TopupGroupRatio",
    }
)
RANGE_LISTS = frozenset({"AutomaticRetryStatusCodes", "AutomaticDisableStatusCodes"})
# Booleans whose names do not end in "Enabled"/"enabled".
BOOL_KEYS = frozenset(
    {
        "DefaultUseAutoGroup",
        "DefaultCollapseSidebar",
        "EnableFreeModelPreConsume",
        "SMTPInsecureSkipVerify",
        "SMTPForceAuthLogin",
        "SMTPStartTLSRequired",
        "CreemTestMode",
    }
)
INF = float("inf")
# key -> (integer?, minimum, maximum, minimum excluded?)
NUMBERS: dict[str, tuple[bool, float, float, bool]] = {
    "RetryTimes": (True, 0, 10, False),
    "QuotaPerUnit": (False, 0, INF, True),
    "QuotaForNewUser": (True, 0, INF, False),
    "QuotaForInviter": (True, 0, INF, False),
    "QuotaForInvitee": (True, 0, INF, False),
    "QuotaRemindThreshold": (True, 0, INF, False),
    "PreConsumedQuota": (True, 0, INF, False),
    "LogRetentionDays": (True, 0, 36500, False),
    "CriticalRateLimitCount": (True, 0, 1_000_000, False),
    "CriticalRateLimitDurationSeconds": (True, 1, 86400 * 30, False),
    "ChannelDisableThreshold": (False, 0, INF, False),
    "AutomaticDisableChannelErrorThreshold": (True, 1, 1_000_000, False),
    "AutomaticDisableChannelErrorWindowSeconds": (False, 0, 86400 * 365, True),
    "USDExchangeRate": (False, 0, INF, True),
    "Price": (False, 0, INF, False),
    "StripeUnitPrice": (False, 0, INF, False),
    "MinTopUp": (True, 0, INF, False),
    "StripeMinTopUp": (True, 0, INF, False),
    "DataExportInterval": (True, 1, 1440, False),
    "SMTPPort": (True, 1, 65535, False),
    "StreamCacheQueueLength": (True, 0, INF, False),
    "ModelRequestRateLimitCount": (True, 0, INF, False),
    "ModelRequestRateLimitSuccessCount": (True, 0, INF, False),
    "ModelRequestRateLimitDurationMinutes": (True, 0, INF, False),
    "ModelRequestTPMLimitTokens": (True, 0, INF, False),
    "general_setting.custom_currency_exchange_rate": (False, 0, INF, True),
    "general_setting.ping_interval_seconds": (True, 1, 86400, False),
    "checkin_setting.min_quota": (True, 0, INF, False),
    "checkin_setting.max_quota": (True, 0, INF, False),
}
INT_LIMIT = 2**53  # beyond this a number no longer survives a round trip through JSON clients


class OptionError(ValueError):
    """An option value that must not be stored; the message says why."""


def is_bool_key(key: str) -> bool:
    return key.endswith(("Enabled", "enabled")) or key in BOOL_KEYS


def option_text(value: Any) -> str:
    """New API's string form of a JSON scalar: bools "true"/"false", 2.0 -> "2", 0.5 -> "0.5"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (INF, -INF):
            raise OptionError("value must be a finite number")
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, str):
        return value
    raise OptionError("value must be a string, number or boolean")


def _reject_constant(name: str) -> Any:
    raise OptionError(f"{name} is not a valid JSON number")


def _json(key: str, text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except OptionError as exc:
        raise OptionError(f"{key}: {exc}") from None
    except ValueError as exc:
        raise OptionError(f"{key} must be valid JSON: {exc}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_table(key: str, table: Any, where: str = "") -> None:
    if not isinstance(table, dict):
        raise OptionError(f"{key}{where} must be a JSON object of name -> number")
    for name, ratio in table.items():
        if not _is_number(ratio):
            raise OptionError(f"{key}{where}: the value for {name!r} must be a number")
        if ratio < 0:
            raise OptionError(f"{key}{where}: the value for {name!r} must not be negative")
        if ratio in (INF, -INF):
            raise OptionError(f"{key}{where}: the value for {name!r} must be a finite number")


def _number(key: str, text: str) -> str:
    integer, low, high, low_excluded = NUMBERS[key]
    try:
        number = float(text.strip())
    except ValueError:
        raise OptionError(f"{key} must be a number") from None
    if number != number or number in (INF, -INF):
        raise OptionError(f"{key} must be a finite number")
    if integer and not number.is_integer():
        raise OptionError(f"{key} must be a whole number")
    if abs(number) > INT_LIMIT:
        raise OptionError(f"{key} is too large")
    if number < low or (low_excluded and number == low):
        raise OptionError(f"{key} must be {'greater than' if low_excluded else 'at least'} {low:g}")
    if number > high:
        raise OptionError(f"{key} must be at most {high:g}")
    return option_text(int(number) if integer else number)


RATE_LIMIT_MAX = 2_147_483_647  # New API keeps these counts in 32 bits


def _rate_limit_groups(key: str, table: Any) -> None:
    """New API's rule for ``{"group": [total count, success count]}``: total >= 0, success >= 1."""
    if not isinstance(table, dict):
        raise OptionError(f"{key} must be a JSON object of group -> [total count, success count]")
    for group, pair in table.items():
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in pair)
        ):
            raise OptionError(f"{key}: group {group!r} must be [total count, success count], two whole numbers")
        total, success = pair
        if total < 0:
            raise OptionError(f"{key}: group {group!r}: the total count must be at least 0 (0: no limit)")
        if success < 1:
            raise OptionError(f"{key}: group {group!r}: the success count must be at least 1")
        if total > RATE_LIMIT_MAX or success > RATE_LIMIT_MAX:
            raise OptionError(f"{key}: group {group!r}: each count must be at most {RATE_LIMIT_MAX}")


def validate_option(key: Any, value: Any) -> tuple[str, str]:
    """(key, value to store) for an admin's write, or :class:`OptionError` saying what is wrong."""
    if not isinstance(key, str) or not key.strip():
        raise OptionError("key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise OptionError(f"key must be at most {MAX_KEY_LENGTH} characters")
    if value is None:
        raise OptionError("value is required")
    text = option_text(value)
    if len(text.encode()) > MAX_OPTION_BYTES:
        raise OptionError(f"{key}: value is larger than {MAX_OPTION_BYTES // 1024} KB")
    if key.startswith(fetch_guard.PREFIX):
        try:
            return key, fetch_guard.validate(key, text)
        except ValueError as exc:
            raise OptionError(str(exc)) from None
    if is_bool_key(key):
        if text not in ("true", "false"):
            raise OptionError(f"{key} must be true or false")
        return key, text
    if key in NUMBERS:
        return key, _number(key, text)
    if key in RANGE_LISTS:
        try:
            return key, canonical_ranges(text)
        except ValueError as exc:
            raise OptionError(f"{key}: {exc}") from None
    if key in NUMBER_TABLES and text.strip():
        _number_table(key, _json(key, text))
    elif key == "GroupGroupRatio" and text.strip():
        table = _json(key, text)
        if not isinstance(table, dict):
            raise OptionError(f"{key} must be a JSON object of user group -> {{group: number}}")
        for group, row in table.items():
            _number_table(key, row, f"[{group!r}]")
    elif key == "UserUsableGroups" and text.strip():
        table = _json(key, text)
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise OptionError(f"{key} must be a JSON object of group -> description (string)")
    elif key == "ModelRequestRateLimitGroup" and text.strip():
        _rate_limit_groups(key, _json(key, text))
    elif key == "ModelRequestTPMLimitGroup" and text.strip():
        table = _json(key, text)
        if not isinstance(table, dict):
            raise OptionError(f"{key} must be a JSON object of group -> tokens per minute")
        for group, tokens in table.items():
            if not isinstance(tokens, int) or isinstance(tokens, bool) or not 0 <= tokens <= INT_LIMIT:
                raise OptionError(f"{key}: the value for {group!r} must be a whole number of tokens, at least 0")
    elif key == "AutoGroups" and text.strip():
        groups = _json(key, text)
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise OptionError(f"{key} must be a JSON list of group names")
    return key, text


# An option whose switch needs another option filled in first (New API refuses these too).
PREREQUISITES: dict[str, tuple[str, str]] = {
    "GitHubOAuthEnabled": ("GitHubClientId", "cannot enable GitHub OAuth: set GitHubClientId and the secret first"),
    "LinuxDOOAuthEnabled": ("LinuxDOClientId", "cannot enable LinuxDO OAuth: set LinuxDOClientId and the secret first"),
    "WeChatAuthEnabled": ("WeChatServerAddress", "cannot enable WeChat login: set WeChatServerAddress first"),
    "TurnstileCheckEnabled": ("TurnstileSiteKey", "cannot enable Turnstile: set TurnstileSiteKey and the secret first"),
    "TelegramOAuthEnabled": ("TelegramBotToken", "cannot enable Telegram OAuth: set TelegramBotToken first"),
    "EmailDomainRestrictionEnabled": (
        "EmailDomainWhitelist",
        "cannot enable the e-mail domain restriction: set EmailDomainWhitelist first",
    ),
}


def check_prerequisite(options: Options, key: str, value: str) -> None:
    needed = PREREQUISITES.get(key)
    if needed and value == "true" and not options.get(needed[0]).strip():
        raise OptionError(needed[1])
