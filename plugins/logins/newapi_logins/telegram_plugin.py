"""Entry point of the Telegram sign-in plugin (see :mod:`newapi_logins.telegram`)."""

from __future__ import annotations

from newapi_host.sdk import Registrar, hookimpl

from .settings import TelegramSettings
from .telegram import METHOD

NEWAPI_SDK = ">=1.1,<2"
NEWAPI_CONFORMANCE = "newapi_logins.conformance:setup_telegram"


@hookimpl
def newapi_register_logins(registry: Registrar) -> None:
    registry.login_method(METHOD)


@hookimpl
def newapi_plugin_settings() -> type[TelegramSettings]:
    return TelegramSettings
