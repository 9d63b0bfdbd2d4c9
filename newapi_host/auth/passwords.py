"""Password hashing with bcrypt, the hash New API stores, so its users can sign in unchanged.

Hashing is slow on purpose (cost 10, tens of milliseconds), so the async helpers run it in a
worker thread instead of blocking the event loop.
"""

from __future__ import annotations

import anyio.to_thread
import bcrypt

ROUNDS = 10
MAX_BYTES = 72  # bcrypt ignores what follows; longer passwords are rejected at the API


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode()[:MAX_BYTES], bcrypt.gensalt(ROUNDS)).decode()


def verify_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode()[:MAX_BYTES], hashed.encode())
    except ValueError:  # not a bcrypt hash (empty, or an account without a password)
        return False


async def hash_password_async(password: str) -> str:
    return await anyio.to_thread.run_sync(hash_password, password)


async def verify_password_async(password: str, hashed: str) -> bool:
    return await anyio.to_thread.run_sync(verify_password, password, hashed)
