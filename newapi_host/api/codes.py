"""One-time codes sent by mail (verification, password reset), kept in the shared store.

The shared store (memory, mmap across workers, or Redis across nodes) holds integers, so a code
is a random number: six digits to type in, or fifteen for a link. A code works once, for
``CODE_TTL`` seconds, and dies after ``MAX_TRIES`` wrong guesses; sending a new one replaces it.
Keys carry a hash of the address, never the address itself.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from newapi_host.store import SharedStore

CODE_TTL = 600  # New API's VerificationValidMinutes: 10
MAX_TRIES = 5
VERIFY = "verify"
RESET = "reset"


def _key(purpose: str, email: str) -> str:
    return f"mailcode:{purpose}:{hashlib.sha256(email.encode()).hexdigest()[:32]}"


async def issue(store: SharedStore, purpose: str, email: str, digits: int = 6) -> str:
    """A new code for ``email`` (replacing any earlier one), as text to send."""
    code = secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1)
    key = _key(purpose, email)
    for part in (key, f"{key}:exp"):
        await store.forget(part)
    await store.seed(key, code, ttl=CODE_TTL)
    await store.seed(f"{key}:exp", int(time.time()) + CODE_TTL, ttl=CODE_TTL)
    return str(code)


async def take(store: SharedStore, purpose: str, email: str, given: str) -> bool:
    """Whether ``given`` is the live code for ``email``; a right code is spent at once."""
    key = _key(purpose, email)
    code, expires = await store.get(key), await store.get(f"{key}:exp")
    if code is None or expires is None or expires < time.time():
        return False
    allowed, _, _ = await store.hit(f"{key}:tries", CODE_TTL, MAX_TRIES)
    if not allowed or not given.strip().isdigit() or not secrets.compare_digest(str(code), given.strip()):
        if not allowed:
            await store.forget(key)
        return False
    won, _, _ = await store.hit(f"{key}:used:{code}", CODE_TTL * 2, 1)  # two requests at once: one wins
    await store.forget(key)
    await store.forget(f"{key}:exp")
    return won
