"""What the host's conformance suite needs to try each method (``NEWAPI_CONFORMANCE``).

The suite's mock upstream plays the provider: a discovery document for OIDC, and for every
method a settings set that switches it on and points it there. The suite checks the redirect
carries the state and that an empty callback is refused; the real flows are in tests/.
"""

from __future__ import annotations

from typing import Any

from newapi_host.sdk.testing import ConformanceSetup, Recorded


def setup_oidc(kit: ConformanceSetup) -> None:
    root = kit.upstream.url

    def discovery(request: Recorded) -> dict[str, Any]:
        return {
            "issuer": root,
            "authorization_endpoint": f"{root}/oidc/authorize",
            "token_endpoint": f"{root}/oidc/token",
            "userinfo_endpoint": f"{root}/oidc/userinfo",
            "jwks_uri": f"{root}/oidc/jwks",
        }

    kit.route("GET", "/.well-known/openid-configuration", discovery)
    kit.plugin_settings(
        enabled=True,
        client_id="kit-client",
        client_secret="kit-secret",
        well_known=f"{root}/.well-known/openid-configuration",
    )


def setup_github(kit: ConformanceSetup) -> None:
    root = kit.upstream.url
    kit.plugin_settings(enabled=True, client_id="kit-client", client_secret="kit-secret", web_base=root, api_base=root)


def setup_discord(kit: ConformanceSetup) -> None:
    root = kit.upstream.url
    kit.plugin_settings(enabled=True, client_id="kit-client", client_secret="kit-secret", web_base=root, api_base=root)


def setup_linuxdo(kit: ConformanceSetup) -> None:
    kit.plugin_settings(enabled=True, client_id="kit-client", client_secret="kit-secret", base=kit.upstream.url)


def setup_telegram(kit: ConformanceSetup) -> None:
    kit.plugin_settings(enabled=True, bot_name="kit_bot", bot_token="123456:kit-token")


def setup_wechat(kit: ConformanceSetup) -> None:
    kit.plugin_settings(enabled=True, server_address=kit.upstream.url, server_token="kit-token")
