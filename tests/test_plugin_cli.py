"""``newapi plugin check`` and ``newapi plugin new`` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newapi_host.cli import main

KIT_FIXTURES = Path(__file__).parent / "kit_fixtures"
NEWAPI = [sys.executable, "-m", "newapi_host.cli"]


def newapi(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWAPI_") and k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([*NEWAPI, *args], env=env, capture_output=True, text=True, timeout=300)


def test_shipped_plugins_pass_the_whole_suite_from_the_command_line():
    """One process checks two, live: a gateway, the mock upstream and the three SDKs. (Each
    shipped plugin's own tests run the same suite, check by check, in-process.)"""
    done = newapi("plugin", "check", "claude", "cohere")
    assert done.returncode == 0, done.stdout + done.stderr
    for plugin in ("claude", "cohere"):
        assert f"conformance of plugin '{plugin}': PASSED" in done.stdout
    assert done.stdout.count("PASS  live-google-genai") == 2
    assert "FAIL" not in done.stdout and done.stderr == ""


def test_a_broken_plugin_exits_1_with_a_report_of_what_to_fix():
    done = newapi("plugin", "check", "kitbad-offline", "--offline", pythonpath=KIT_FIXTURES)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("conformance of plugin 'kitbad-offline': FAILED")
    assert "FAIL  pricing" in done.stdout
    assert "FAIL  [pricing] pricing ModelRatio['kitbad-1']\n      -1 is negative; prices are >= 0" in done.stdout


def test_json_findings(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(KIT_FIXTURES))
    assert main(["plugin", "check", "kitbad-methods", "--offline", "--json"]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    assert report["plugin"] == "kitbad-methods" and report["ok"] is False
    failed = {(f["check"], f["subject"]) for f in report["findings"] if f["outcome"] == "fail"}
    assert ("payments", "payment method 'kitbad-pay'") in failed


def test_a_plugin_that_is_not_installed_exits_2(capsys):
    assert main(["plugin", "check", "claude", "nosuch", "--offline"]) == 2
    err = capsys.readouterr().err
    assert "error: not installed: nosuch" in err and "claude" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad Name"], "will not do as a plugin name"),
        (["ok", "--kind", "provider", "--dir", "{full}"], "exists and is not empty"),
    ],
)
def test_plugin_new_refuses_what_will_not_do(tmp_path, capsys, args, message):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(["plugin", "new", *[a.replace("{full}", str(full)) for a in args]]) == 2
    assert message in capsys.readouterr().err
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
