"""Cloudflare Turnstile on sign-in, registration and the mails (New API's ``TurnstileCheck``).

With ``TurnstileCheckEnabled`` on, ``POST /api/user/login``, ``POST /api/user/register``,
``GET /api/verification`` and ``GET /api/reset_password`` need ``?turnstile=<token>`` from the
widget; the token is checked with ``TurnstileSecretKey`` at Cloudflare's siteverify endpoint
(``NEWAPI_TURNSTILE_VERIFY_URL`` replaces it, for tests and air-gapped mirrors). Anything but a
clear yes from Cloudflare refuses the request; the secret is never shown or logged.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import aiohttp
from litestar import Request

from newapi_host.host import host_of

log = logging.getLogger(__name__)

VERIFY_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
TIMEOUT = aiohttp.ClientTimeout(total=10)
MSG_EMPTY = "Turnstile token is empty"
MSG_FAILED = "Turnstile check failed, please refresh and try again"


async def turnstile_problem(request: Request[Any, Any, Any]) -> str | None:
    """None when Turnstile is off or the request's token is good, else the message to answer."""
    options = host_of(request.app.state).options
    if not options.get_bool("TurnstileCheckEnabled"):
        return None
    token = request.query_params.get("turnstile", "")
    if not token:
        return MSG_EMPTY
    form = {"secret": options.get("TurnstileSecretKey"), "response": token}
    if request.client:
        form["remoteip"] = request.client.host
    url = os.environ.get("NEWAPI_TURNSTILE_VERIFY_URL") or VERIFY_URL
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.post(url, data=form) as response:
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("Turnstile could not be asked (%s)", type(exc).__name__)
        return MSG_FAILED
    return None if isinstance(answer, dict) and answer.get("success") is True else MSG_FAILED
