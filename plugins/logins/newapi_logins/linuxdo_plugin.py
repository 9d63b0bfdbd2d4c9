"""Entry point of the linuxdo sign-in plugin (see :mod:`newapi_logins.providers`)."""

from __future__ import annotations

from pydantic import BaseModel

from newapi_host.sdk import Registrar, hookimpl

from .providers import LINUXDO

NEWAPI_SDK = ">=1.1,<2"
NEWAPI_CONFORMANCE = "newapi_logins.conformance:setup_linuxdo"


@hookimpl
def newapi_register_logins(registry: Registrar) -> None:
    registry.login_method(LINUXDO.method())


@hookimpl
def newapi_plugin_settings() -> type[BaseModel]:
    return LINUXDO.settings_model
