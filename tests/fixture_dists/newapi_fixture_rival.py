"""Claims Acme's channel type id: must be rejected, naming both plugins."""

from newapi_fixture_acme import AcmeAdapter

from newapi_host.sdk import ChannelType, hookimpl


@hookimpl
def newapi_register_providers(registry):
    registry.channel_type(ChannelType(id=9001, name="Rival", dialects=("acme.chat",), adapter=AcmeAdapter()))
