"""The conformance kit checks itself: deliberately broken plugins fail each check, saying what to fix.

The broken plugins live in ``tests/kit_fixtures/`` (see its README); they are on ``sys.path`` only
while this module runs, so no other test's gateway loads them. One :class:`ConformanceRun` (one
mock upstream, one gateway) serves every test here.
"""

from __future__ import annotations

import json
import threading
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from newapi_host.sdk.testing import CHECKS, ConformanceRun, Finding, MockUpstream, PluginNotInstalled
from newapi_host.sdk.testing.conformance import verdict
from newapi_host.sdk.testing.live_checks import check_switch
from newapi_host.sdk.testing.no_network import NetworkUsed, no_network
from newapi_host.sdk.testing.subject import PluginUnderTest

KIT_FIXTURES = Path(__file__).parent / "kit_fixtures"
BROKEN = ("kitbad-import", "kitbad-sdk", "kitbad-offline", "kitbad-live", "kitbad-methods")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConformanceRun]:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(KIT_FIXTURES))
        with ConformanceRun(data_dir=tmp_path_factory.mktemp("kit-self-test")) as conformance:
            yield conformance


def failures(run: ConformanceRun, plugin: str, check: str) -> list[str]:
    return [f"{f.subject}: {f.message}" for f in run.check(plugin).of(check) if f.failed]


# Each row: a broken plugin, the check it must fail, and words of the advice the author gets.
EXPECTED = [
    ("kitbad-import", "load", "does not import: ModuleNotFoundError"),
    ("kitbad-import", "load", "Fix the import"),
    ("kitbad-sdk", "load", "the host rejects the plugin: needs plugin SDK >=9,<10"),
    ("kitbad-sdk", "load", "has no function 'setup_that_does_not_exist'"),
    ("kitbad-sdk", "sdk-range", "needs plugin SDK >=9,<10 but this host provides SDK 1.2.0"),
    ("kitbad-offline", "load", "channel type id 0 must be a whole number"),
    ("kitbad-offline", "channel-types", "use New API's id for a provider it knows"),
    ("kitbad-offline", "channel-types", "'kitbad.nowhere', which no installed plugin defines: register that Dialect"),
    ("kitbad-offline", "channel-types", "give the channel type a name"),
    ("kitbad-offline", "adapters", "build_request used the network (getaddrinfo('upstream.kitbad.test'))"),
    ("kitbad-offline", "errors", "returned str; return an ErrorVerdict or None"),
    ("kitbad-offline", "dialects", "peek accepted b'{not json'; refuse it with InvalidRequest"),
    ("kitbad-offline", "dialects", "describe it with kit.sample(DialectSample('kitbad.silent', ...))"),
    ("kitbad-offline", "usage", "usage() read (1, 1) (prompt, completion) from the canonical answer"),
    ("kitbad-offline", "usage", "finished stayed False after a complete stream: set it when"),
    ("kitbad-offline", "usage", "accepted an event that is not JSON; raise ValueError"),
    ("kitbad-offline", "converters", "the upstream reported (11, 7): carry usage over"),
    ("kitbad-offline", "converters", "emit it only when ctx.wants_usage is True"),
    ("kitbad-offline", "pricing", "-1 is negative; prices are >= 0"),
    ("kitbad-offline", "settings", "give every field a default (missing: api_key)"),
    ("kitbad-methods", "payments", "accepted a forged callback (paid=True)"),
    ("kitbad-methods", "payments", "return None when it does not match"),
    ("kitbad-methods", "logins", "does not carry ctx.state"),
    ("kitbad-methods", "logins", "for an empty callback; raise LoginFailed"),
    ("kitbad-live", "live-http", "the gateway answered 404"),
    ("kitbad-live", "live-http", "POST /v1/chat/completion is not served"),
    ("kitbad-live", "live-openai", "the call failed: NotFoundError"),
    ("kitbad-live", "live-anthropic", "the call failed: NotFoundError"),
    ("kitbad-live", "live-google-genai", "the call failed: ClientError: 404"),
    ("kitbad-live", "channel-tools", "the upstream lists ['kit-t990201']; list_models returned []"),
    ("kitbad-live", "switch", "route GET /kitbad/once: answered 200 before, 500 after switching back on"),
]


@pytest.mark.parametrize(("plugin", "check", "advice"), EXPECTED, ids=[f"{p}-{c}" for p, c, _ in EXPECTED])
def test_a_broken_plugin_fails_the_check_with_what_to_fix(run, plugin, check, advice):
    found = failures(run, plugin, check)
    assert any(advice in message for message in found), f"{check} of {plugin} said:\n" + "\n".join(found)


def test_every_check_has_a_broken_plugin_that_fails_it(run):
    failed = {f.check for plugin in BROKEN for f in run.check(plugin).findings if f.failed}
    assert failed == set(CHECKS)
    assert not any(run.check(plugin).ok for plugin in BROKEN)


def test_a_plugin_without_an_sdk_range_is_warned_not_failed(run):
    findings = run.check("kitbad-methods").of("sdk-range")
    assert [f.outcome for f in findings] == ["warn"]
    assert 'Add NEWAPI_SDK = ">=1.2,<2"' in findings[0].message


def test_a_plugin_that_does_not_import_is_not_checked_further(run):
    report = run.check("kitbad-import")
    assert {f.outcome for f in report.findings if f.check != "load"} == {"skip"}


def test_live_checks_skip_a_plugin_the_host_rejects(run):
    live = run.check("kitbad-offline").of("live-http")
    assert [f.outcome for f in live] == ["skip"]
    assert "does not load the plugin" in live[0].message


def test_the_switch_check_sees_a_plugin_that_keeps_serving_while_off(run, monkeypatch):
    assert run.check("claude").ok
    subject = PluginUnderTest.load("claude", run.upstream, run.host)
    live = run.live()
    monkeypatch.setattr(live.gateway, "switch", lambda plugin, enabled: None)  # the switch does nothing
    found = [f"{f.subject}: {f.message}" for f in check_switch(live, subject) if f.failed]
    assert "route POST /v1/messages: answers 400 while the plugin is off; it must answer 404" in found
    assert "channel type 14: still serves while the plugin is off" in found


def test_an_unknown_plugin_is_refused(run):
    with pytest.raises(PluginNotInstalled, match="no installed plugin is named 'nosuch'"):
        run.check("nosuch")


def test_the_report_reads_and_serialises(run):
    report = run.check("kitbad-methods")
    text = report.text()
    assert text.startswith("conformance of plugin 'kitbad-methods': FAILED")
    assert "FAIL  [payments] payment method 'kitbad-pay'" in text
    assert "N/A   channel-types" in text
    data = json.loads(json.dumps(report.as_json()))
    assert data["ok"] is False and data["counts"]["fail"] == 3
    assert any(f["check"] == "payments" and f["outcome"] == "fail" for f in data["findings"])


# -- the pytest face and the network guard -------------------------------------------------------


def test_a_failed_check_fails_its_test_with_every_message():
    findings = [Finding("usage", "a", "fail", "first"), Finding("usage", "b", "fail", "second")]
    with pytest.raises(pytest.fail.Exception, match="a: first\nb: second"):
        verdict(findings)


def test_a_check_with_nothing_to_do_is_skipped_and_a_warning_warns():
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        verdict([Finding("live-openai", "openai", "skip", "not installed")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        verdict([Finding("sdk-range", "x", "warn", "state it"), Finding("sdk-range", "y", "pass")])
    assert [str(w.message) for w in caught] == ["sdk-range: x: state it"]


def test_the_network_guard_stops_only_the_guarded_thread():
    with MockUpstream() as upstream:
        seen: list[int] = []

        def other_thread() -> None:
            with urllib.request.urlopen(f"{upstream.url}/v1/models") as answer:
                seen.append(answer.status)

        with no_network():
            with pytest.raises(NetworkUsed, match="getaddrinfo|connect"):
                urllib.request.urlopen(f"{upstream.url}/v1/models")
            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join(10)
        assert seen == [200]
        with urllib.request.urlopen(f"{upstream.url}/v1/models") as answer:  # restored afterwards
            assert answer.status == 200
