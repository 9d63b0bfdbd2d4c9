"""What the conformance suite finds, and how it is reported.

Each check yields :class:`Finding` objects: one per thing it looked at (a channel type, a
converter and a direction, an SDK call). A failure's message says what is wrong *and* what to do
about it, since the reader is a plugin author looking at a terminal or a CI log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Outcome = Literal["pass", "fail", "warn", "skip", "n/a"]

CHECKS: dict[str, str] = {
    "load": "the host loads the plugin: it imports, its hooks exist and are marked, its contributions are accepted",
    "sdk-range": "NEWAPI_SDK states the SDK versions the plugin supports, and they include this host's",
    "channel-types": "channel type ids, names, dialects, base URLs and default models are well formed",
    "adapters": "build_request turns a canned call in each of the type's dialects into a request, without I/O",
    "errors": "classify_error answers None or an ErrorVerdict for the errors upstreams send",
    "dialects": "peek reads model, stream and max_tokens from a canonical body and refuses garbage",
    "usage": "usage comes out of canonical answers and streams, and a stream counter sees the end",
    "converters": "requests, answers and streams survive each converter with text and usage intact",
    "pricing": "default prices are numbers >= 0 for named models",
    "settings": "settings models have a default for every field, a JSON schema, and survive storage",
    "payments": "payment methods are well formed and refuse a callback that is not genuine",
    "logins": "login methods are well formed, carry the state and refuse an empty callback",
    "live-http": "a real gateway serves each channel type in its own formats, and logs the right quota",
    "live-openai": "the openai SDK gets an answer (stream and not) through a channel of each type",
    "live-anthropic": "the anthropic SDK gets an answer (stream and not) through a channel of each type",
    "live-google-genai": "the google-genai SDK gets an answer (stream and not) through a channel of each type",
    "channel-tools": "the console's fetch-models button works for adapters with list_models",
    "switch": "switched off, the plugin's routes answer 404 and its types stop serving; switched on, they serve",
}
"""Every check of the suite, in the order it runs, with what it holds the plugin to."""


@dataclass(frozen=True)
class Finding:
    """One verdict: ``check`` (a name from :data:`CHECKS`), what was looked at, and the outcome.

    ``warn`` does not fail the suite; ``skip`` says why something could not be checked here;
    ``n/a`` says the plugin has nothing the check applies to (no channel types, say).
    """

    check: str
    subject: str
    outcome: Outcome
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == "fail"


class Findings:
    """Collects one check's findings with short calls: ``found.fail(subject, message)``."""

    def __init__(self, check: str) -> None:
        assert check in CHECKS, check
        self.check = check
        self.items: list[Finding] = []

    def add(self, subject: str, outcome: Outcome, message: str = "") -> None:
        self.items.append(Finding(self.check, subject, outcome, message))

    def ok(self, subject: str, message: str = "") -> None:
        self.add(subject, "pass", message)

    def fail(self, subject: str, message: str) -> None:
        self.add(subject, "fail", message)

    def warn(self, subject: str, message: str) -> None:
        self.add(subject, "warn", message)

    def skip(self, subject: str, message: str) -> None:
        self.add(subject, "skip", message)

    def none(self, message: str) -> None:
        """The plugin has nothing this check applies to."""
        self.add(self.check, "n/a", message)

    def failed_for(self, subject: str) -> bool:
        return any(f.failed and f.subject == subject for f in self.items)


@dataclass
class Report:
    """All findings for one plugin."""

    plugin: str
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not any(f.failed for f in self.findings)

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]

    def counts(self) -> dict[str, int]:
        totals = dict.fromkeys(("pass", "fail", "warn", "skip", "n/a"), 0)
        for f in self.findings:
            totals[f.outcome] += 1
        return totals

    def as_json(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "ok": self.ok,
            "counts": self.counts(),
            "findings": [asdict(f) for f in self.findings],
        }

    def text(self, verbose: bool = False) -> str:
        """A readable report: a line per check, then every failure, warning and skip in full."""
        c = self.counts()
        verdict = "PASSED" if self.ok else "FAILED"
        lines = [
            f"conformance of plugin '{self.plugin}': {verdict} "
            f"({c['pass']} passed, {c['fail']} failed, {c['warn']} warnings, {c['skip']} skipped, "
            f"{c['n/a']} not applicable)",
            "",
        ]
        for check in CHECKS:
            mine = self.of(check)
            if not mine:
                continue
            status = _status(mine)
            lines.append(f"  {status:<5} {check:<18} {CHECKS[check]}")
        shown = [f for f in self.findings if f.outcome in ("fail", "warn", "skip") or verbose and f.outcome == "pass"]
        if shown:
            lines.append("")
        for outcome, where, message in _grouped(_ordered(shown)):
            lines.append(f"{outcome.upper():<5} {where}")
            lines.extend(f"      {line}" for line in message.splitlines())
        return "\n".join(lines)


def _status(findings: Iterable[Finding]) -> str:
    outcomes = {f.outcome for f in findings}
    for outcome in ("fail", "warn", "pass", "skip"):
        if outcome in outcomes:
            return outcome.upper()
    return "N/A"


def _ordered(findings: list[Finding]) -> list[Finding]:
    rank = {"fail": 0, "warn": 1, "skip": 2, "pass": 3, "n/a": 4}
    return sorted(findings, key=lambda f: rank[f.outcome])


def _grouped(findings: list[Finding]) -> list[tuple[str, str, str]]:
    """(outcome, where, message) lines; skips for the same reason share one line."""
    lines: list[tuple[str, str, str]] = []
    skips: dict[str, list[Finding]] = {}
    for f in findings:
        if f.outcome == "skip":
            skips.setdefault(f.message, []).append(f)
        else:
            lines.append((f.outcome, f"[{f.check}] {f.subject}", f.message))
    for message, group in skips.items():
        where = ", ".join(f"[{f.check}] {f.subject}" if f.subject != f.check else f"[{f.check}]" for f in group)
        lines.append(("skip", where, message))
    rank = {"fail": 0, "warn": 1, "pass": 3}
    return sorted(lines, key=lambda line: rank.get(line[0], 2))
