"""The conformance suite: every check of :data:`~.findings.CHECKS` against installed plugins.

``newapi plugin check NAME`` and ``conformance_tests(NAME)`` (a plugin's own pytest suite) both
run it through :class:`ConformanceRun`, which loads the installed plugins once, starts one mock
upstream and, when the first live check needs it, one gateway, and reuses them for every plugin
it checks::

    with ConformanceRun() as run:
        report = run.check("openai")
    print(report.text())
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from newapi_host.plugins.manager import PluginHost

from . import contract_checks as contracts
from . import converter_checks as converters
from . import format_checks as formats
from . import method_checks as methods
from .findings import CHECKS, Finding, Findings, Report
from .gateway import KitGateway
from .live_checks import Live, check_channel_tools, check_live_http, check_switch
from .sdk_checks import check_sdk
from .subject import PluginNotInstalled, PluginUnderTest, load_host
from .upstream import MockUpstream

__all__ = ["ConformanceRun", "PluginNotInstalled", "check_plugin", "conformance_tests"]


OFFLINE = (
    contracts.check_load,
    contracts.check_sdk_range,
    contracts.check_channel_types,
    contracts.check_adapters,
    contracts.check_errors,
    formats.check_dialects,
    formats.check_usage,
    converters.check_converters,
    contracts.check_pricing,
    contracts.check_settings,
    methods.check_payments,
    methods.check_logins,
)
"""The offline checks in the order of :data:`~.findings.CHECKS`."""
LIVE = ("live-http", "live-openai", "live-anthropic", "live-google-genai", "channel-tools", "switch")


def _guarded(check: str, run: Callable[[], list[Finding]]) -> list[Finding]:
    """A check's findings; a check that breaks on what the plugin handed over fails, saying so."""
    try:
        return run()
    except Exception as exc:
        found = Findings(check)
        found.fail(check, f"the check could not run: {type(exc).__name__}: {exc}")
        return found.items


class ConformanceRun:
    """One mock upstream, one gateway (started on demand) and the installed plugins, loaded once.

    ``live=False`` runs the offline checks only. ``data_dir`` holds the gateway's database
    (a temporary directory by default). ``gateway`` reuses a running :class:`KitGateway` instead
    of starting one (the pytest fixture hands over ``newapi_gateway``, which saves a start). The
    live checks leave their channels (models ``kit-t<type id>``), prices and a user behind in it.
    """

    def __init__(self, *, live: bool = True, data_dir: Path | None = None, gateway: KitGateway | None = None) -> None:
        self.live_enabled = live
        self._tmp = None if data_dir is not None else tempfile.TemporaryDirectory(prefix="newapi-conformance-")
        self.data_dir = Path(data_dir) if data_dir is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.upstream = MockUpstream(models=()).start()
        self.host: PluginHost = load_host()
        self._gateway, self._owns_gateway = gateway, gateway is None
        self._live: Live | None = None
        self.reports: dict[str, Report] = {}

    def __enter__(self) -> ConformanceRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._live is not None:
            self._live.close()
            if self._owns_gateway:
                self._live.gateway.stop()
            self._live = None
        self.upstream.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def live(self) -> Live:
        if self._live is None:
            gateway = self._gateway or KitGateway(self.data_dir, None).start()
            self._live = Live(gateway, self.upstream)
        return self._live

    def check(self, plugin: str) -> Report:
        """Run every check against ``plugin``; raises :class:`PluginNotInstalled` for an unknown name."""
        if plugin in self.reports:
            return self.reports[plugin]
        subject = PluginUnderTest.load(plugin, self.upstream, self.host)
        findings: list[Finding] = []
        for function in OFFLINE:
            check = function.__name__.removeprefix("check_").replace("_", "-")
            if subject.import_error and check != "load":
                findings.append(Finding(check, check, "skip", "the plugin does not import (see the load check)"))
            else:
                findings += _guarded(check, lambda function=function: function(subject))
        findings += self._live_checks(subject)
        report = Report(plugin, findings)
        self.reports[plugin] = report
        return report

    def _live_checks(self, subject: PluginUnderTest) -> list[Finding]:
        why = None
        if not self.live_enabled:
            why = "live checks are off (offline run)"
        elif not subject.loaded:
            why = "the host does not load the plugin (see the load check), so a gateway cannot serve it"
        if why:
            return [Finding(check, check, "skip", why) for check in LIVE]
        live = self.live()
        if live.registry.contributions(subject.name) is None:
            why = f"the gateway does not load plugin '{subject.name}' (does newapi_plugins leave it out?)"
            return [Finding(check, check, "skip", why) for check in LIVE]
        findings = _guarded("live-http", lambda: live.prepare(subject))
        findings += _guarded("live-http", lambda: check_live_http(live, subject))
        for check in ("live-openai", "live-anthropic", "live-google-genai"):
            findings += _guarded(check, lambda check=check: check_sdk(live, subject, check))
        findings += _guarded("channel-tools", lambda: check_channel_tools(live, subject))
        findings += _guarded("switch", lambda: check_switch(live, subject))
        return findings


def check_plugin(plugin: str, *, live: bool = True) -> Report:
    """The conformance report of one installed plugin (a run of its own)."""
    with ConformanceRun(live=live) as run:
        return run.check(plugin)


def conformance_tests(plugin: str, *, live: bool = True) -> Any:
    """A pytest test running the whole suite against ``plugin``, one test per check::

        from newapi_host.sdk.testing import conformance_tests

        test_conformance = conformance_tests("hello")

    A check fails with its findings' messages, is skipped when it had nothing to check here (an
    SDK not installed, say), and passes otherwise; warnings become pytest warnings. The suite runs
    once per session (fixture ``newapi_conformance``), however many checks are collected.
    """
    import pytest

    @pytest.mark.parametrize("check", list(CHECKS))
    def test_conformance(check: str, newapi_conformance: Any) -> None:
        findings = newapi_conformance(plugin, live=live).of(check)
        verdict(findings)

    test_conformance.__doc__ = f"The conformance suite (newapi plugin check {plugin}), one check at a time."
    return test_conformance


def verdict(findings: Iterable[Finding]) -> None:
    """Fail, warn or skip the current pytest test as one check's findings say."""
    import warnings

    import pytest

    findings = list(findings)
    failed = [f for f in findings if f.failed]
    if failed:
        pytest.fail("\n".join(f"{f.subject}: {f.message}" for f in failed), pytrace=False)
    for f in findings:
        if f.outcome == "warn":
            warnings.warn(f"{f.check}: {f.subject}: {f.message}", UserWarning, stacklevel=2)
    if all(f.outcome in ("skip", "n/a") for f in findings):
        pytest.skip("; ".join(f"{f.subject}: {f.message}" for f in findings) or "nothing to check")
