"""How a plugin tells the conformance suite about what the kit cannot know by itself.

The kit knows OpenAI's, Anthropic's and Gemini's formats. A plugin with a wire format of its own
(Cohere's v2 chat, say) names a set-up function in the module its entry point loads::

    NEWAPI_CONFORMANCE = "newapi_cohere.conformance:setup"

The suite imports it only when it checks the plugin (so test code stays out of the gateway) and
calls it with a :class:`ConformanceSetup`, which takes canonical samples of the plugin's formats,
endpoints for the mock upstream, extra channel fields and plugin settings::

    def setup(kit: ConformanceSetup) -> None:
        kit.sample(DialectSample("cohere.chat", request=..., response=..., stream=...))
        kit.route("POST", "/v2/chat", answer_chat)

The attribute may also be the function itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .samples import DialectSample
from .upstream import ErrorShape, Handler, MockUpstream, openai_error

ATTRIBUTE = "NEWAPI_CONFORMANCE"


class ConformanceSetup:
    """What a plugin's ``NEWAPI_CONFORMANCE`` function receives.

    ``upstream`` is the suite's running :class:`MockUpstream` (its ``url`` is what the kit's
    channels use as their base URL).
    """

    def __init__(self, plugin: str, upstream: MockUpstream) -> None:
        self.plugin = plugin
        self.upstream = upstream
        self.samples: dict[str, DialectSample] = {}
        self.channel_fields: dict[int, dict[str, Any]] = {}
        self.settings: dict[str, Any] = {}

    def sample(self, sample: DialectSample) -> None:
        """Canonical traffic of one of the plugin's formats (answers report 11 + 7 tokens and say
        ``KIT_TEXT``); the dialect, usage and converter checks and the live checks use it."""
        if not isinstance(sample, DialectSample):
            raise TypeError(f"sample() takes a DialectSample, not {type(sample).__name__}")
        self.samples[sample.dialect] = sample

    def route(self, method: str, path: str, handler: Handler, *, error: ErrorShape = openai_error) -> None:
        """An endpoint of the plugin's upstream on the mock (see :meth:`MockUpstream.route`)."""
        self.upstream.route(method, path, handler, error=error)

    def channel(self, type_id: int, **fields: Any) -> None:
        """Extra fields for the suite's channel of ``type_id`` (``other``, ``settings``, ...)."""
        self.channel_fields.setdefault(type_id, {}).update(fields)

    def plugin_settings(self, **values: Any) -> None:
        """Plugin settings the live checks save before they start (and the offline checks use)."""
        self.settings.update(values)


def setup_function(plugin: Any) -> Callable[[ConformanceSetup], None] | None:
    """The plugin's set-up function, imported from its ``module:function`` name; None if it has none."""
    named = getattr(plugin, ATTRIBUTE, None)
    if named is None:
        return None
    if callable(named):
        return named
    if not isinstance(named, str) or ":" not in named:
        raise ValueError(f"{ATTRIBUTE} = {named!r}: name a function as 'package.module:function'")
    module, _, attribute = named.partition(":")
    function = getattr(importlib.import_module(module), attribute, None)
    if not callable(function):
        raise ValueError(f"{ATTRIBUTE} = {named!r}: {module} has no function {attribute!r}")
    return function
