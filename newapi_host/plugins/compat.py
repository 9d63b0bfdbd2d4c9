"""Which plugins this host can run: the SDK version and a plugin's stated range.

A plugin states the SDK versions it was written for with a module attribute, for example
``NEWAPI_SDK = ">=1.0,<2"`` (a PEP 440 specifier). The host refuses a plugin whose range excludes
its :data:`SDK_VERSION`, with a message naming both, before any of its hooks run. A plugin that
states nothing is loaded, and told about in the log.
"""

from __future__ import annotations

from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

SDK_VERSION = "1.2.0"
"""The version of :mod:`newapi_host.sdk`: a new major version may break plugins, a minor one adds."""


def sdk_mismatch(plugin: Any) -> str | None:
    """Why ``plugin`` cannot run on this host's SDK, or None when it can (or says nothing)."""
    wanted = getattr(plugin, "NEWAPI_SDK", None)
    if wanted is None:
        return None
    try:
        spec = SpecifierSet(str(wanted))
    except InvalidSpecifier:
        return f"NEWAPI_SDK = {wanted!r} is not a version range (write it like '>=1.0,<2')"
    if Version(SDK_VERSION) not in spec:
        return f"needs plugin SDK {wanted} but this host provides SDK {SDK_VERSION}: install a matching plugin release"
    return None
