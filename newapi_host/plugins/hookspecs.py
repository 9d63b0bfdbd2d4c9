"""Hook specifications: the whole surface a plugin can implement.

Every hook runs once, at start-up, in each worker process; none is called per request. A plugin
implements a hook by defining a function of the same name decorated with
:data:`newapi_host.plugins.hookimpl`, in the module its entry point names. Hooks take keyword
arguments only, and a plugin may accept fewer arguments than the spec lists.

The host calls each plugin's implementation separately, so it always knows which plugin made a
contribution: that is what the plugin list shows, what a conflict error names, and what is
switched off when an admin disables the plugin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .contracts import BackgroundJob
    from .registry import Registrar

hookspec = pluggy.HookspecMarker("newapi")


@hookspec
def newapi_register_providers(registry: Registrar) -> None:
    """Add what a provider plugin brings: channel types, dialects, converters, pricing defaults.

    Call ``registry.channel_type(...)``, ``registry.dialect(...)``, ``registry.converter(...)`` and
    ``registry.pricing(...)`` with objects from :mod:`newapi_host.plugins.contracts`. Claiming a
    channel type id, a dialect name, a converter pair or a route that another plugin already
    claimed rejects this plugin's whole contribution, with an error naming both plugins.
    """


@hookspec
def newapi_register_payments(registry: Registrar) -> None:
    """Add payment methods for top-ups with ``registry.payment_method(PaymentMethod(...))``.

    Method ids are global (``epay``, ``stripe``); a second plugin claiming one is rejected.
    """


@hookspec
def newapi_register_logins(registry: Registrar) -> None:
    """Add console sign-in methods with ``registry.login_method(LoginMethod(...))``.

    The host's password login is itself a plugin that implements this hook.
    """


@hookspec
def newapi_plugin_settings() -> type[BaseModel] | None:
    """Return the pydantic model of this plugin's settings, or None if it has none.

    Values are stored in the database, validated by this model on every change, and edited in
    the console through a form generated from ``model_json_schema()``. Every field needs a
    default so the plugin works before an admin touches it. Use ``SecretStr`` for secrets:
    they are never sent back to the console.
    """


@hookspec
def newapi_routes() -> Sequence[Any] | None:
    """Return extra Litestar route handlers or routers (for example ``/mj/*``).

    The routes answer 404 while the plugin is disabled. A path and method another plugin or the
    host already serves rejects the plugin.
    """


@hookspec
def newapi_jobs() -> Sequence[BackgroundJob] | None:
    """Return background jobs (:class:`~newapi_host.plugins.contracts.BackgroundJob`).

    Job names only need to be unique within the plugin. Jobs pause while the plugin is disabled.
    """


@hookspec
def newapi_piccolo_apps() -> Sequence[str] | None:
    """Return dotted paths of Piccolo ``AppConfig`` modules that hold this plugin's tables.

    Their migrations run with the host's, at start and on ``newapi migrate``. Prefix table
    names with the plugin name (``plugin_payments_orders``) to stay clear of core tables.
    """
