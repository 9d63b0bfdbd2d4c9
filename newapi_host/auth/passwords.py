"""Password hashing with bcrypt, the hash New API stores, so its users can sign in unchanged,
and the policy for new passwords.

Hashing is slow on purpose (cost 10, tens of milliseconds), so the async helpers run it in a
worker thread instead of blocking the event loop.

A new password must be at least 8 characters, at most 72 bytes in UTF-8 (bcrypt reads no
further; refusing beats silently ignoring the tail, and keeps the hashes New API's own bcrypt
accepts), and not on the list of the most common passwords shipped in
``common_passwords.txt`` (compared case-insensitively). Signing in checks no policy, so
accounts with older passwords keep working.
"""

from __future__ import annotations

import functools
from pathlib import Path

import anyio.to_thread
import bcrypt

ROUNDS = 10
MIN_CHARS = 8
MAX_BYTES = 72  # bcrypt's limit
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.lower() for line in lines if len(line) >= MIN_CHARS and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be set, or None."""
    if len(password) < MIN_CHARS:
        return f"password must be at least {MIN_CHARS} characters"
    if len(password.encode()) > MAX_BYTES:
        return (
            f"password must be at most {MAX_BYTES} bytes in UTF-8 (bcrypt's limit): "
            f"{MAX_BYTES} ASCII characters, or 24 in Chinese"
        )
    if password.lower() in common_passwords():
        return "password is too common (it is on the list of the most used passwords); choose another"
    return None


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
