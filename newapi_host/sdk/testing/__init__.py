"""The plugin test kit: a real gateway, a mock upstream and the conformance suite.

Installing the host installs its pytest plugin ``newapi`` (:mod:`.fixtures`), so a plugin's own
tests get the fixtures ``newapi_gateway``, ``newapi_upstream``, ``newapi_channel``,
``newapi_key``, ``newapi_root`` and ``newapi_conformance`` with no set-up, and run the whole
conformance suite with one line::

    from newapi_host.sdk.testing import conformance_tests

    test_conformance = conformance_tests("hello")

``newapi plugin check NAME`` runs the same suite from the command line. docs/plugin-testing.md
describes the kit; this package imports nothing of pytest itself, so the command works without it.
"""

from __future__ import annotations

from .conformance import ConformanceRun, PluginNotInstalled, check_plugin, conformance_tests
from .extension import ConformanceSetup
from .findings import CHECKS, Finding, Report
from .gateway import KitGateway, plugin_entry_points
from .samples import KIT_PIECES, KIT_SAMPLES, KIT_TEXT, KIT_USAGE, DialectSample, kit_model
from .upstream import Behaviour, MockUpstream, Recorded, Reply, Stream

__all__ = [
    "CHECKS",
    "KIT_PIECES",
    "KIT_SAMPLES",
    "KIT_TEXT",
    "KIT_USAGE",
    "Behaviour",
    "ConformanceRun",
    "ConformanceSetup",
    "DialectSample",
    "Finding",
    "KitGateway",
    "MockUpstream",
    "PluginNotInstalled",
    "Recorded",
    "Reply",
    "Report",
    "Stream",
    "check_plugin",
    "conformance_tests",
    "kit_model",
    "plugin_entry_points",
]
