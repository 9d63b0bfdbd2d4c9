"""GitHub, Discord and LinuxDO: OAuth 2 with a user endpoint, each mapped to an :class:`Identity`.

They differ only in where the endpoints are and what the user answer looks like; the account id
is the provider's numeric user id (what New API stores in ``github_id``, ``discord_id``,
``linux_do_id``). LinuxDO also refuses accounts below the configured trust level, inactive or
silenced ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from newapi_host.sdk import Identity, LoginContext, LoginFailed, LoginMethod

from .oauth2 import authorize_url, code_of, exchange, get_json
from .settings import DiscordSettings, GitHubSettings, LinuxDOSettings


@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str
    user: str


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    settings_model: type[BaseModel]
    endpoints: Callable[[Any], Endpoints]
    identity: Callable[[Any, dict[str, Any]], Identity]
    pkce: bool = True

    def _settings(self, ctx: LoginContext) -> Any:
        if not isinstance(ctx.settings, self.settings_model) or not self.available(ctx.settings):
            raise LoginFailed(f"{self.name} sign-in is not configured")
        return ctx.settings

    def available(self, settings: BaseModel | None) -> bool:
        return bool(getattr(settings, "enabled", False) and getattr(settings, "client_id", ""))

    async def start(self, ctx: LoginContext) -> str:
        s = self._settings(ctx)
        return authorize_url(self.endpoints(s).authorize, s.client_id, ctx, s.scope, pkce=self.pkce)

    async def complete(self, ctx: LoginContext, query: Mapping[str, str]) -> Identity:
        code = code_of(self.name, query)
        s = self._settings(ctx)
        urls = self.endpoints(s)
        secret = s.client_secret.get_secret_value()
        token = await exchange(self.name, urls.token, s.client_id, secret, code, ctx, pkce=self.pkce)
        user = await get_json(self.name, urls.user, token["access_token"])
        if not isinstance(user, dict) or user.get("id") in (None, ""):
            raise LoginFailed(f"{self.name} did not say who you are")
        return self.identity(s, user)

    def method(self) -> LoginMethod:
        return LoginMethod(
            id=self.id,
            name=self.name,
            kind="redirect",
            start=self.start,
            complete=self.complete,
            available=self.available,
        )


def _github(s: GitHubSettings, user: dict[str, Any]) -> Identity:
    return Identity(
        method="github",
        subject=str(user["id"]),
        username=str(user.get("login") or ""),
        display_name=str(user.get("name") or user.get("login") or ""),
        email=str(user.get("email") or ""),
    )


def _discord(s: DiscordSettings, user: dict[str, Any]) -> Identity:
    return Identity(
        method="discord",
        subject=str(user["id"]),
        username=str(user.get("username") or ""),
        display_name=str(user.get("global_name") or user.get("username") or ""),
        email=str(user.get("email") or "") if user.get("verified") else "",
    )


def _linuxdo(s: LinuxDOSettings, user: dict[str, Any]) -> Identity:
    level = user.get("trust_level")
    if not isinstance(level, int) or level < s.minimum_trust_level:
        raise LoginFailed(f"Your LinuxDO trust level ({level}) is below the {s.minimum_trust_level} this site requires")
    if user.get("active") is False or user.get("silenced") is True:
        raise LoginFailed("This LinuxDO account is inactive or silenced")
    return Identity(
        method="linuxdo",
        subject=str(user["id"]),
        username=str(user.get("username") or ""),
        display_name=str(user.get("name") or user.get("username") or ""),
        email=str(user.get("email") or ""),
    )


def _base(url: str) -> str:
    return url.rstrip("/")


GITHUB = Provider(
    id="github",
    name="GitHub",
    settings_model=GitHubSettings,
    endpoints=lambda s: Endpoints(
        authorize=f"{_base(s.web_base)}/login/oauth/authorize",
        token=f"{_base(s.web_base)}/login/oauth/access_token",
        user=f"{_base(s.api_base)}/user",
    ),
    identity=_github,
)
DISCORD = Provider(
    id="discord",
    name="Discord",
    settings_model=DiscordSettings,
    endpoints=lambda s: Endpoints(
        authorize=f"{_base(s.web_base)}/oauth2/authorize",
        token=f"{_base(s.api_base)}/oauth2/token",
        user=f"{_base(s.api_base)}/users/@me",
    ),
    identity=_discord,
)
LINUXDO = Provider(
    id="linuxdo",
    name="LinuxDO",
    settings_model=LinuxDOSettings,
    endpoints=lambda s: Endpoints(
        authorize=f"{_base(s.base)}/oauth2/authorize",
        token=f"{_base(s.base)}/oauth2/token",
        user=f"{_base(s.base)}/api/user",
    ),
    identity=_linuxdo,
)
