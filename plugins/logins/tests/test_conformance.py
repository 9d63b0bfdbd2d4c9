"""The host's conformance suite (what ``newapi plugin check NAME`` runs) for each method's plugin."""

from newapi_host.sdk.testing import conformance_tests

test_oidc_conformance = conformance_tests("oidc")
test_github_conformance = conformance_tests("github")
test_discord_conformance = conformance_tests("discord")
test_linuxdo_conformance = conformance_tests("linuxdo")
test_telegram_conformance = conformance_tests("telegram")
test_wechat_conformance = conformance_tests("wechat")
