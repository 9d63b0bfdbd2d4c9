"""What the sign-in routes (:mod:`newapi_host.api.oauth`) and the console's sign-in pages share.

Whether a login method is on, the gateway's public address, the key that signs sign-in state,
and the one-time tickets that link a widget account (Telegram) to the signed-in user. The
management API and the console are separate surfaces that never import each other; both import
this.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from litestar import Request

from newapi_host.host import Host, host_of
from newapi_host.plugins.contracts import LoginMethod

BIND_TICKET_TTL = 600


def method_available(host: Host, method: LoginMethod) -> bool:
    """The method's plugin is on and the method says it is switched on and configured."""
    if method.available is None:
        return True
    owner = host.registry.owner_of("login method", method.id)
    try:
        return bool(method.available(host.states.settings(owner) if owner else None))
    except Exception:  # a plugin's check that fails means "not available", never a 500
        return False


def public_base(request: Request[Any, Any, Any]) -> str:
    """The gateway's public address (``ServerAddress``, else the address the request came to)."""
    return (host_of(request.app.state).options.get("ServerAddress") or str(request.base_url)).rstrip("/")


def state_mac(request: Request[Any, Any, Any], text: str) -> str:
    """A MAC of ``text`` under the gateway's sign-in key (from the session secret): state cookies
    and bind tickets carry one."""
    host = host_of(request.app.state)
    key = host.extras.get("oauth_state_key")
    if key is None:
        key = hashlib.sha256(b"oauth-state\n" + host.config.resolved_session_secret().encode()).digest()
        host.extras["oauth_state_key"] = key
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def bind_ticket(request: Request[Any, Any, Any], method_id: str) -> str | None:
    """A one-time ticket that links a widget account to the signed-in user, for the widget's
    callback address (``/api/oauth/{method}/bind/{ticket}``).

    Telegram's widget sends the browser back from telegram.org: a cross-site navigation, which
    arrives without the SameSite=Strict session cookie. The ticket stands in for it: signed by
    the gateway, naming the user and the session it was made in (which must still stand), good
    for ``BIND_TICKET_TTL`` seconds and once. Knowing it is what a forged link lacks: without a
    ticket (or the cookie) nobody can link their Telegram account to someone else's user.
    """
    session = request.scope.get("session")
    if not (isinstance(session, dict) and session.get("id")):
        return None
    text = f"{int(session['id'])}.{int(session['av'])}.{session['sid']}.{int(time.time()) + BIND_TICKET_TTL}"
    text += f".{secrets.token_urlsafe(9)}"
    return f"{text}.{state_mac(request, f'bind:{method_id}:{text}')}"
