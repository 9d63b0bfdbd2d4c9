#!/usr/bin/env python3
"""One entry point for a fresh clone: ``python3 dev.py serve`` or ``python3 dev.py test``.

Needs only Python 3.11+. The first run installs uv (into ``.tools/``) and then the locked
dependencies, the host and every plugin under ``plugins/`` into ``.venv/``; later runs only
re-sync when the lock file changed. Extra arguments go to ``newapi serve`` or to pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
VENV = ROOT / ".venv"
UV_VERSION = "0.13.9"


def uv() -> str:
    found = TOOLS / "bin" / ("uv.exe" if os.name == "nt" else "uv")
    if not found.exists():
        print(f"dev.py: installing uv {UV_VERSION} into {TOOLS.name}/", flush=True)
        subprocess.check_call(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(TOOLS),
                f"uv=={UV_VERSION}",
            ]
        )
    return str(found)


def sync() -> None:
    """Install what uv.lock pins (host, plugins, test tools) into .venv.

    ``--inexact`` leaves alone what else is installed there: a plugin an author installed into
    this environment (``pip install -e ../my-plugin``) survives ``dev.py serve`` and ``dev.py test``.
    Dependencies are compiled to bytecode at install: where PYTHONDONTWRITEBYTECODE is set, every
    process (each server worker, each CLI call in the tests) would otherwise recompile Litestar,
    the SDKs and the rest from source, about two seconds per start.
    """
    command = [uv(), "sync", "--locked", "--inexact", "--all-packages", "--quiet", "--compile-bytecode"]
    subprocess.check_call(command, cwd=ROOT)


def venv_bin(name: str) -> str:
    return str(VENV / ("Scripts" if os.name == "nt" else "bin") / name)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"serve", "test", "sync"}:
        print(__doc__.strip())
        print("\nusage: python3 dev.py serve [newapi serve options] | test [pytest options] | sync")
        return 2
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py itself may run on an older python
        print("dev.py: Python 3.11 or newer is needed", file=sys.stderr)
        return 2
    sync()
    command, rest = argv[0], argv[1:]
    if command == "sync":
        return 0
    if command == "serve":
        args = [venv_bin("newapi"), "serve", *rest]
    else:
        # The suite runs on every core (pytest-xdist) unless told otherwise (-n 0: one process).
        told = any(a.startswith(("-n", "--numprocesses")) for a in rest)
        spread = [] if told else ["-n", "auto"]
        args = [venv_bin("python"), "-m", "pytest", *spread, *rest]
    if os.name == "nt":
        return subprocess.call(args, cwd=ROOT)
    os.chdir(ROOT)
    os.execv(args[0], args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
