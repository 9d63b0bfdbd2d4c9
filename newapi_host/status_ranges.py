"""HTTP status code lists such as ``"401,500-503"``: the retry and auto-disable options.

Two readers. :func:`parse_ranges` reads a stored list on the relay's error path and skips what it
cannot read, so an old or hand-edited row never breaks a request; :func:`canonical_ranges` checks
an admin's write strictly and returns the form that is stored.
"""

from __future__ import annotations


def parse_ranges(spec: str) -> list[tuple[int, int]]:
    """``"401,500-503"`` -> [(401, 401), (500, 503)]; bad parts are ignored."""
    ranges = []
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            ranges.append((int(lo), int(hi or lo)))
        except ValueError:
            continue
    return ranges


def in_ranges(status: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= status <= hi for lo, hi in ranges)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def canonical_ranges(text: str) -> str:
    """Check a list such as "401, 500-503" (codes 100-599) and return it as "401,500-503".

    Raises :class:`ValueError` naming every part that is not a code or a rising range of codes.
    """
    parts = []
    bad = []
    for raw in text.replace("，", ",").split(","):
        part = raw.replace(" ", "").strip()
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        if not (_digits(lo) and (_digits(hi) if dash else True)):
            bad.append(part)
            continue
        start, end = int(lo), int(hi or lo)
        if start > end or start < 100 or end > 599:
            bad.append(part)
            continue
        parts.append(f"{start}-{end}" if start != end else str(start))
    if bad:
        rules = ", ".join(bad)
        raise ValueError(f"invalid HTTP status code rules: {rules} (use codes 100-599, like 401,500-503)")
    return ",".join(parts)
