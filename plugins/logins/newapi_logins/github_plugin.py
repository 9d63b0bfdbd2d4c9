"""Entry point of the github sign-in plugin (see :mod:`newapi_logins.providers`)."""

from __future__ import annotations

from pydantic import BaseModel

from newapi_host.sdk import Registrar, hookimpl

from .providers import GITHUB

NEWAPI_SDK = ">=1.1,<2"
NEWAPI_CONFORMANCE = "newapi_logins.conformance:setup_github"


@hookimpl
def newapi_register_logins(registry: Registrar) -> None:
    registry.login_method(GITHUB.method())


@hookimpl
def newapi_plugin_settings() -> type[BaseModel]:
    return GITHUB.settings_model
