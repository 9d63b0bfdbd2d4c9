"""Read a finished mutmut run (``mutants/``) and report the score and every survivor.

A survivor is shown as ``file:line  function  - original / + mutated``. Survivors judged
equivalent (the mutation cannot change what the code does, or only changes something no money
rule depends on) are listed in ``equivalent.toml`` beside this file, matched by file, function
and the mutated lines, each with its reason: they are left out of the adjusted score. An entry
that no longer matches a survivor is reported as stale, so the list is kept honest as the code
and the tests change.
"""

from __future__ import annotations

import ast
import json
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.format_utils import orig_function_and_class_names_from_key

KILLED = {"killed", "timeout", "segfault"}  # a mutant that made the tests fail, crash or hang is caught
UNFINISHED = {"not checked", "check was interrupted by user"}  # the run stopped before these: not counted
EQUIVALENT_FILE = Path(__file__).with_name("equivalent.toml")


@dataclass(frozen=True)
class Survivor:
    name: str  # mutmut's mutant name, for `mutmut show` / `mutmut apply`
    file: str
    line: int
    function: str  # Class.method or function
    removed: str  # the original line(s), stripped, joined with " | "
    added: str  # the mutated line(s)
    status: str  # survived, no tests, suspicious

    def key(self) -> tuple[str, str, str, str]:
        return self.file, self.function, self.removed, self.added


def _changed_lines(diff: str) -> tuple[list[str], list[str]]:
    removed, added = [], []
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            removed.append(line[1:].strip())
        elif line.startswith("+"):
            added.append(line[1:].strip())
    return removed, added


def _function_span(source: str, function: str, class_name: str | None) -> tuple[int, int]:
    """First and last line of ``function`` (decorators included) in the original file."""
    body = ast.parse(source).body
    if class_name is not None:
        body = next((n.body for n in body if isinstance(n, ast.ClassDef) and n.name == class_name), [])
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return first, node.end_lineno or node.lineno
    return 1, 1


def _line_of(source_lines: list[str], span: tuple[int, int], removed: list[str]) -> int:
    first, last = span
    if removed:
        for number in range(first, last + 1):
            if source_lines[number - 1].strip() == removed[0]:
                return number
    return first


def read(root: Path) -> tuple[Counter[str], dict[str, Counter[str]], list[Survivor]]:
    """(statuses overall, statuses per file, survivors) of the run in ``root/mutants``."""
    overall: Counter[str] = Counter()
    per_file: dict[str, Counter[str]] = {}
    survivors: list[Survivor] = []
    for meta in sorted((root / "mutants").rglob("*.py.meta")):
        file = str(meta.relative_to(root / "mutants")).removesuffix(".meta")
        source = (root / file).read_text()
        lines = source.splitlines()
        counts = per_file.setdefault(file, Counter())
        for name, exit_code in sorted(json.loads(meta.read_text())["exit_code_by_key"].items()):
            status = status_by_exit_code[exit_code]
            overall[status] += 1
            if status in UNFINISHED:
                continue
            counts[status] += 1
            if status in KILLED:
                continue
            function, class_name = orig_function_and_class_names_from_key(name)
            removed, added = _changed_lines(get_diff_for_mutant(name, path=file))
            span = _function_span(source, function, class_name)
            survivors.append(
                Survivor(
                    name=name,
                    file=file,
                    line=_line_of(lines, span, removed),
                    function=f"{class_name}.{function}" if class_name else function,
                    removed=" | ".join(removed),
                    added=" | ".join(added),
                    status=status,
                )
            )
    return overall, per_file, survivors


def equivalents() -> dict[tuple[str, str, str, str], str]:
    """Survivors judged equivalent: (file, function, removed, added) -> reason."""
    entries = tomllib.loads(EQUIVALENT_FILE.read_text()).get("equivalent", [])
    return {(e["file"], e["function"], e["removed"], e["added"]): e["reason"] for e in entries}


def _score(killed: int, total: int) -> str:
    return f"{killed}/{total} = {100 * killed / total:.1f}%" if total else "no mutants"


def report(root: Path) -> int:
    """Print the scores and the survivors; the number of survivors not judged equivalent."""
    overall, per_file, survivors = read(root)
    judged = equivalents()
    print()
    print(f"{'file':40} {'mutants':>8} {'killed':>7} {'survived':>9}   score")
    for file, counts in per_file.items():
        total = sum(counts.values())
        killed = sum(counts[s] for s in KILLED)
        print(f"{file:40} {total:8} {killed:7} {total - killed:9}   {_score(killed, total)}")
    total = sum(n for status, n in overall.items() if status not in UNFINISHED)
    killed = sum(overall[s] for s in KILLED)
    equivalent = [s for s in survivors if s.key() in judged]
    open_survivors = [s for s in survivors if s.key() not in judged]
    print()
    print("statuses: " + ", ".join(f"{status} {n}" for status, n in overall.most_common()))
    unfinished = sum(overall[s] for s in UNFINISHED)
    if unfinished:
        print(f"{unfinished} mutants were not run (the run was stopped): the scores below leave them out")
    print(f"raw score (killed / all mutants): {_score(killed, total)}")
    print(f"adjusted score (killed / mutants not judged equivalent): {_score(killed, total - len(equivalent))}")
    if open_survivors:
        print(f"\nsurvivors ({len(open_survivors)}; `.venv/bin/mutmut show NAME` prints the diff):")
        for s in open_survivors:
            print(f"  {s.file}:{s.line}  {s.function}  [{s.status}]  {s.name.rpartition('.')[2]}")
            print(f"      - {s.removed}")
            print(f"      + {s.added}")
    if equivalent:
        print(f"\njudged equivalent ({len(equivalent)}; reasons in {EQUIVALENT_FILE.name}):")
        for s in equivalent:
            print(f"  {s.file}:{s.line}  {s.function}: {judged[s.key()]}")
    stale = set(judged) - {s.key() for s in survivors}
    if stale:
        print(f"\n{len(stale)} entries of {EQUIVALENT_FILE.name} match no survivor (killed now, or the code moved):")
        for file, function, removed, added in sorted(stale):
            print(f"  {file}  {function}: - {removed} / + {added}")
    return len(open_survivors)
