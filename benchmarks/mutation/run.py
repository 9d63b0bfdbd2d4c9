#!/usr/bin/env python3
"""Mutation testing of the money path: ``python3 benchmarks/mutation/run.py`` (not part of CI).

Small deliberate bugs (mutants) are put into the money code one at a time and the money tests
are run against each; a mutant the tests do not notice (a survivor) is a gap in the tests, or a
change that cannot matter. The script prints the score (mutants killed / all mutants) per file
and overall, and every survivor with its file, line and mutation. ``-j`` sets the number of
parallel workers; a name pattern runs part of the scope, e.g. ``'newapi_host.billing.pricing.*'``.

Time: 2,499 mutants, cheapest first. On the shared 2-core development machine, with other
engineers' test suites running, the first 1,100 took 25 minutes (about 45 a minute); the rest
belong to functions that every app start runs, so most tests call them and each survivor there
runs 30 tests or more, and they went at about 20 a minute: a whole run is about an hour and a
half on that machine, less on an idle one. Run part of the scope with a name pattern.

Scope and tests are ``[tool.mutmut]`` in pyproject.toml: the pricing, ledger, wallet and
journal modules of ``newapi_host/billing``, ``relay/keys.py``, ``api/payments.py`` and
``api/redemptions.py``, against the in-process money tests (the tests that start subprocess
servers are left out: no tool sees into those processes). Survivors judged equivalent are in
``equivalent.toml`` beside this script, each with its reason; they are left out of the adjusted
score.

**Why mutmut.** Both tools named for the job were measured on this repository. cosmic-ray 8.7.0
writes each mutant into the source file and runs a test command in a new process: about 2,900
mutants for this scope, each paying pytest's start-up (2 s) plus its tests, so hours on two
cores, and its tests can only be chosen per module. mutmut 3.8.1 generates every mutant into a
copy of the package (``mutants/``, git-ignored) behind a switch, runs the tests once to learn
which tests call which function, then forks one process per mutant that runs only those tests,
fastest first, stopping at the first failure. It works with the uv workspace, the editable
plugins and the tests that run uvicorn in a thread. One gap is closed here (:mod:`decorated`):
mutmut skips decorated functions, which would leave out the route handlers and
``Wallets.change``.

**How it is installed.** mutmut is the ``mutation`` dependency group of pyproject.toml, pinned
in uv.lock. CI and ``dev.py`` sync the default groups only, so they never install it; this
script runs ``uv sync --group mutation`` first (a later ``dev.py`` sync removes it again).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
MUTMUT_VERSION = "3.8.1"  # decorated.py patches this version's internals
INSIDE = "NEWAPI_MUTATION_INSIDE"


def install_and_reexec() -> None:
    """Sync the locked environment with the ``mutation`` group, then run this script in it."""
    sys.path.insert(0, str(ROOT))
    import dev  # the repository's dev.py: finds or installs uv

    subprocess.check_call(
        [dev.uv(), "sync", "--locked", "--all-packages", "--group", "mutation", "--quiet", "--compile-bytecode"],
        cwd=ROOT,
    )
    os.environ[INSIDE] = "1"
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])


def run_mutmut(workers: int, names: list[str]) -> None:
    import mutmut
    from mutmut.__main__ import cli

    if mutmut.__version__ != MUTMUT_VERSION:
        raise SystemExit(f"mutation: mutmut {MUTMUT_VERSION} expected, found {mutmut.__version__}")
    import decorated

    decorated.install()
    try:
        cli.main(["run", "--max-children", str(workers), *names], prog_name="mutmut", standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-j", "--workers", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument(
        "--keep", action="store_true", help="reuse mutants/ from the last run: only mutants without a result are run"
    )
    parser.add_argument("--report", action="store_true", help="only print the report of the last run")
    parser.add_argument("mutants", nargs="*", help="mutant names to (re)run, as printed in the report")
    args = parser.parse_args(argv)
    if os.environ.get(INSIDE) != "1":
        install_and_reexec()
    os.chdir(ROOT)
    import results

    if not args.report:
        if not args.keep and not args.mutants:
            shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        started = time.monotonic()
        run_mutmut(args.workers, args.mutants)
        print(f"\nmutation run took {(time.monotonic() - started) / 60:.1f} min with {args.workers} workers")
    return 1 if results.report(ROOT) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
