"""Entry point of the WeChat sign-in plugin (see :mod:`newapi_logins.wechat`)."""

from __future__ import annotations

from newapi_host.sdk import Registrar, hookimpl

from .settings import WeChatSettings
from .wechat import METHOD

NEWAPI_SDK = ">=1.1,<2"
NEWAPI_CONFORMANCE = "newapi_logins.conformance:setup_wechat"


@hookimpl
def newapi_register_logins(registry: Registrar) -> None:
    registry.login_method(METHOD)


@hookimpl
def newapi_plugin_settings() -> type[WeChatSettings]:
    return WeChatSettings
