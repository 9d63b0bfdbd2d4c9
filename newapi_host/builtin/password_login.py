"""Built-in login plugin: username (or email) and password, checked against bcrypt hashes.

Switching this plugin off (or the ``PasswordLoginEnabled`` option) turns password sign-in off,
for sites that only allow OAuth logins.
"""

from __future__ import annotations

from collections.abc import Mapping

from newapi_host.auth.passwords import hash_password, verify_password_async
from newapi_host.db.tables import USER_ENABLED, User
from newapi_host.plugins import hookimpl
from newapi_host.plugins.contracts import Identity, LoginContext, LoginFailed, LoginMethod
from newapi_host.plugins.registry import Registrar

WRONG = "Username or password is incorrect, or user has been banned"

# Checked against when the user does not exist, so both cases take the same time.
_DUMMY_HASH = hash_password("not-a-real-password")


async def complete(ctx: LoginContext, fields: Mapping[str, str]) -> Identity:
    username = fields.get("username", "").strip()
    password = fields.get("password", "")
    if not username or not password:
        raise LoginFailed("Invalid parameters")
    user = (
        await User.select(User.id, User.username, User.password, User.status)
        .where(((User.username == username) | (User.email == username)) & User.deleted_at.is_null())
        .first()
    )
    matches = await verify_password_async(password, user["password"] if user else _DUMMY_HASH)
    if user is None or not matches or user["status"] != USER_ENABLED:
        raise LoginFailed(WRONG)
    return Identity(method="password", subject=str(user["id"]), username=user["username"], user_id=user["id"])


@hookimpl
def newapi_register_logins(registry: Registrar) -> None:
    registry.login_method(LoginMethod(id="password", name="Password", kind="form", complete=complete))
