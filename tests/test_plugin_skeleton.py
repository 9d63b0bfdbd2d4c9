"""``newapi plugin new``: skeletons whose tests pass as generated, in a fresh virtual environment.

The slow test here (about 30 s: a virtualenv filled from uv's cache, then a gateway and the
conformance suite in it) installs the host, the OpenAI plugin and one skeleton of each kind from
local paths, as a third-party author would, and runs the three skeletons' own tests there. No
official SDK is installed in it, so it also shows the suite skipping their checks with a note.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from newapi_host.sdk.skeleton import KINDS, Names, SkeletonError, type_id_for, write_skeleton

ROOT = Path(__file__).resolve().parents[1]
SKELETONS = {"provider": "hello", "payment": "hellopay", "login": "hellologin"}


def uv() -> str:
    found = ROOT / ".tools" / "bin" / "uv"
    if found.exists():
        return str(found)
    if which := shutil.which("uv"):
        return which
    if os.environ.get("CI"):
        pytest.fail("uv is needed to build a fresh virtualenv; CI must provide it (python3 dev.py sync)")
    pytest.skip("uv is not installed here (python3 dev.py sync installs it into .tools/)")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("NEWAPI_", "VIRTUAL_ENV")) and k != "PYTHONPATH"}


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout
    )


def test_generated_skeletons_pass_their_tests_in_a_fresh_virtualenv(tmp_path):
    for kind, name in SKELETONS.items():
        made = run(
            sys.executable, "-m", "newapi_host.cli", "plugin", "new", name, "--kind", kind, "--dir", tmp_path / name
        )
        assert made.returncode == 0, made.stderr
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    assert run(uv(), "venv", "-q", venv, "--python", sys.executable).returncode == 0
    install = [uv(), "pip", "install", "-q", "--no-sources", "--python", python, ROOT, ROOT / "plugins" / "openai"]
    install += [f"{tmp_path / name}[test]" for name in SKELETONS.values()]
    done = run(*install[:3], "--offline", *install[3:])  # uv's cache has everything on a synced machine
    if done.returncode != 0:
        done = run(*install)
    assert done.returncode == 0, done.stderr
    tests = [tmp_path / name / "tests" for name in SKELETONS.values()]
    result = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *tests, cwd=tmp_path)
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert "the openai package is not installed here: pip install openai" in result.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_a_skeleton_is_a_distribution_with_an_entry_point_and_tests(tmp_path, kind):
    root, files = write_skeleton("my-cloud", kind, tmp_path / "out")
    names = {str(p.relative_to(root)) for p in files}
    assert {"pyproject.toml", "README.md", "newapi_my_cloud/plugin.py", "tests/test_my_cloud.py"} <= names
    group = {"provider": "providers", "payment": "payments", "login": "logins"}[kind]
    pyproject = (root / "pyproject.toml").read_text()
    assert f'[project.entry-points."newapi.{group}"]\nmy-cloud = "newapi_my_cloud.plugin"' in pyproject
    assert 'NEWAPI_SDK = ">=1.2,<2"' in (root / "newapi_my_cloud" / "plugin.py").read_text()  # the SDK it was made with
    assert 'conformance_tests("my-cloud")' in (root / "tests" / "test_my_cloud.py").read_text()
    for path in files:
        if path.suffix == ".py":
            compile(path.read_text(), str(path), "exec")
        assert "{{" not in path.read_text()


def test_names_and_type_ids():
    names = Names.of("my_cloud-2")
    assert (names.module, names.dist, names.title, names.camel) == (
        "newapi_my_cloud_2",
        "newapi-plugin-my-cloud-2",
        "My Cloud 2",
        "MyCloud2",
    )
    assert type_id_for("hello") == type_id_for("hello") != type_id_for("hellox")
    assert 20_000 <= type_id_for("hello") < 1_020_000
    for bad in ("Hello", "9lives", "a b", "x" * 41, ""):
        with pytest.raises(SkeletonError):
            Names.of(bad)
