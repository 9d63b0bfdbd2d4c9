"""Entry point of the OIDC sign-in plugin (see :mod:`newapi_logins.oidc`)."""

from __future__ import annotations

from newapi_host.sdk import LoginMethod, Registrar, hookimpl

from . import oidc
from .settings import OIDCSettings

NEWAPI_SDK = ">=1.1,<2"
NEWAPI_CONFORMANCE = "newapi_logins.conformance:setup_oidc"

METHOD = LoginMethod(
    id="oidc", name="OIDC", kind="redirect", start=oidc.start, complete=oidc.complete, available=oidc.available
)


@hookimpl
def newapi_register_logins(registry: Registrar) -> None:
    registry.login_method(METHOD)


@hookimpl
def newapi_plugin_settings() -> type[OIDCSettings]:
    return OIDCSettings
