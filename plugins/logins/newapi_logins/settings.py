"""Each method's settings, edited by root on the Plugins page.

Fields marked with ``json_schema_extra={"option": ...}`` live in New API's options table under
New API's own keys, so an imported New API configuration keeps working and ``PUT /api/option/``
and the Plugins page change the same value. The other fields are this plugin's own: mostly where
the provider lives, which only tests and self-hosted providers change.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


def option(key: str) -> dict[str, str]:
    return {"option": key}


class OIDCSettings(BaseModel):
    enabled: bool = Field(False, description="Offer sign-in with OIDC", json_schema_extra=option("oidc.enabled"))
    client_id: str = Field("", description="Client id at the provider", json_schema_extra=option("oidc.client_id"))
    client_secret: SecretStr = Field(
        SecretStr(""), description="Client secret", json_schema_extra=option("oidc.client_secret")
    )
    well_known: str = Field(
        "",
        description="Discovery document URL (…/.well-known/openid-configuration)",
        json_schema_extra=option("oidc.well_known"),
    )
    authorization_endpoint: str = Field(
        "", description="Overrides the discovered one", json_schema_extra=option("oidc.authorization_endpoint")
    )
    token_endpoint: str = Field(
        "", description="Overrides the discovered one", json_schema_extra=option("oidc.token_endpoint")
    )
    user_info_endpoint: str = Field(
        "", description="Overrides the discovered one", json_schema_extra=option("oidc.user_info_endpoint")
    )
    issuer: str = Field("", description="Expected id_token issuer; empty: the discovered one")
    jwks_uri: str = Field("", description="Provider's signing keys; empty: the discovered ones")
    scope: str = Field("openid profile email", description="Scopes asked for")


class GitHubSettings(BaseModel):
    enabled: bool = Field(
        False, description="Offer sign-in with GitHub", json_schema_extra=option("GitHubOAuthEnabled")
    )
    client_id: str = Field("", description="OAuth app client id", json_schema_extra=option("GitHubClientId"))
    client_secret: SecretStr = Field(
        SecretStr(""), description="OAuth app client secret", json_schema_extra=option("GitHubClientSecret")
    )
    web_base: str = Field("https://github.com", description="Where users sign in (GitHub Enterprise: your server)")
    api_base: str = Field("https://api.github.com", description="GitHub's API (Enterprise: https://HOST/api/v3)")
    scope: str = Field("read:user user:email", description="Scopes asked for")


class DiscordSettings(BaseModel):
    enabled: bool = Field(False, description="Offer sign-in with Discord", json_schema_extra=option("discord.enabled"))
    client_id: str = Field("", description="Application client id", json_schema_extra=option("discord.client_id"))
    client_secret: SecretStr = Field(
        SecretStr(""), description="Application client secret", json_schema_extra=option("discord.client_secret")
    )
    web_base: str = Field("https://discord.com", description="Where users sign in")
    api_base: str = Field("https://discord.com/api", description="Discord's API")
    scope: str = Field("identify email", description="Scopes asked for")


class LinuxDOSettings(BaseModel):
    enabled: bool = Field(
        False, description="Offer sign-in with LinuxDO", json_schema_extra=option("LinuxDOOAuthEnabled")
    )
    client_id: str = Field("", description="Connect client id", json_schema_extra=option("LinuxDOClientId"))
    client_secret: SecretStr = Field(
        SecretStr(""), description="Connect client secret", json_schema_extra=option("LinuxDOClientSecret")
    )
    minimum_trust_level: int = Field(
        0, ge=0, le=4, description="Lowest trust level let in", json_schema_extra=option("LinuxDOMinimumTrustLevel")
    )
    base: str = Field("https://connect.linux.do", description="LinuxDO Connect")
    scope: str = Field("user", description="Scopes asked for")


class TelegramSettings(BaseModel):
    enabled: bool = Field(
        False, description="Offer sign-in with Telegram", json_schema_extra=option("TelegramOAuthEnabled")
    )
    bot_name: str = Field("", description="The bot's username (without @)", json_schema_extra=option("TelegramBotName"))
    bot_token: SecretStr = Field(
        SecretStr(""), description="The bot's token from @BotFather", json_schema_extra=option("TelegramBotToken")
    )
    max_age_seconds: int = Field(3600, ge=30, le=86400, description="How old a widget sign-in may be")


class WeChatSettings(BaseModel):
    enabled: bool = Field(False, description="Offer sign-in with WeChat", json_schema_extra=option("WeChatAuthEnabled"))
    server_address: str = Field(
        "", description="The WeChat helper server (wechat-server)", json_schema_extra=option("WeChatServerAddress")
    )
    server_token: SecretStr = Field(
        SecretStr(""), description="Its access token", json_schema_extra=option("WeChatServerToken")
    )
    qrcode_url: str = Field(
        "", description="QR code of the official account", json_schema_extra=option("WeChatAccountQRCodeImageURL")
    )
