"""Misspells a hook name; the host must say so rather than silently ignore it."""

from newapi_host.sdk import hookimpl


@hookimpl
def newapi_register_provider(registry):
    raise AssertionError("never called")
