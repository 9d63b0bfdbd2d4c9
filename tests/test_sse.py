"""The incremental SSE parser and writer: chunk boundaries, line endings, flush, limits, round trip."""

from __future__ import annotations

import random

import pytest

from newapi_host.plugins.contracts import SSEEvent
from newapi_host.relay.sse import DONE, SSEError, SSEParser, encode_event

STREAM = (
    b": keep-alive comment\r\n"
    b"data: first\r\n\r\n"
    b"event: message_start\n"
    b'data: {"type": "message_start"}\n\n'
    b"data: line one\rdata: line two\r\r"
    b"id: 7\nretry: 100\ndata:no-space\nfield-without-colon\n\n"
    b"data:  two spaces\r\n: comment between data lines\r\ndata: x\r\n\r\n"
    b"data: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n\n"
    b"event: ping\n\n"  # no data lines: not emitted, and the name does not leak into the next event
    b"data\n\n"  # a data field without a colon: one empty data line
    b"data: [DONE]"  # no final blank line: emitted by flush()
)

EXPECTED = [
    SSEEvent("first"),
    SSEEvent('{"type": "message_start"}', "message_start"),
    SSEEvent("line one\nline two"),
    SSEEvent("no-space"),
    SSEEvent(" two spaces\nx"),
    SSEEvent("café € 😀"),
    SSEEvent(""),
    SSEEvent(DONE),
]


def parse(chunks: list[bytes], parser: SSEParser | None = None) -> list[SSEEvent]:
    parser = parser or SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.flush()


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def test_whole_stream():
    assert parse([STREAM]) == EXPECTED


def test_every_single_split_position():
    for i in range(len(STREAM) + 1):
        assert parse(split_at(STREAM, [i])) == EXPECTED, f"split at {i}"


def test_byte_by_byte():
    assert parse([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_every_pair_of_split_positions_around_line_endings():
    # Two cuts: covers "\r" | "" | "\n", a CR at a chunk end followed by a CR, and split UTF-8.
    interesting = [i for i in range(len(STREAM)) if STREAM[i] in b"\r\n" or STREAM[i] >= 0x80]
    positions = sorted({p for i in interesting for p in (i - 1, i, i + 1, i + 2) if 0 <= p <= len(STREAM)})
    for a in positions:
        for b in positions:
            if a <= b:
                assert parse(split_at(STREAM, [a, b])) == EXPECTED, f"split at {a}, {b}"


def test_random_splits():
    rng = random.Random(20240601)
    for _ in range(2000):
        cuts = [rng.randint(0, len(STREAM)) for _ in range(rng.randint(1, 12))]
        assert parse(split_at(STREAM, cuts)) == EXPECTED, f"cuts {sorted(cuts)}"


def test_empty_chunks_are_harmless():
    chunks = []
    for piece in split_at(STREAM, [5, 20, 21, 60, 61]):
        chunks += [b"", piece, b""]
    assert parse(chunks) == EXPECTED


def test_cr_at_chunk_end_then_lf_is_one_line_ending():
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []  # the LF of the CRLF, not a blank line
    assert parser.feed(b"\r") == [SSEEvent("a")]
    assert parser.feed(b"\ndata: b\n\n") == [SSEEvent("b")]


def test_leading_bom_is_stripped():
    assert parse([b"\xef\xbb", b"\xbfdata: x\n\n"]) == [SSEEvent("x")]


def test_events_arrive_as_soon_as_complete():
    parser = SSEParser()
    assert parser.feed(b"data: one\n") == []
    assert parser.feed(b"\ndata: tw") == [SSEEvent("one")]
    assert parser.feed(b"o\n\n") == [SSEEvent("two")]


def test_flush():
    parser = SSEParser()
    assert parser.flush() == []
    assert parser.feed(b"data: a\ndata: b") == []  # last line unterminated
    assert parser.flush() == [SSEEvent("a\nb")]
    assert parser.flush() == []  # state was reset

    assert parser.feed(b"data: c\n") == []  # complete line, no blank line
    assert parser.flush() == [SSEEvent("c")]

    assert parser.feed(b"event: only-a-name\n: comment") == []
    assert parser.flush() == []  # no data lines: nothing to emit

    assert parser.feed(b"data: d\n\n") == [SSEEvent("d")]
    assert parser.flush() == []  # nothing pending after a dispatched event


def test_oversize_line_split_across_chunks():
    parser = SSEParser(max_line_bytes=100)
    parser.feed(b"data: " + b"x" * 50)
    with pytest.raises(SSEError):
        for _ in range(10):
            parser.feed(b"x" * 10)


def test_oversize_line_in_one_chunk():
    with pytest.raises(SSEError):
        SSEParser(max_line_bytes=100).feed(b"data: " + b"x" * 200 + b"\n\n")
    with pytest.raises(SSEError):
        SSEParser(max_line_bytes=100).feed(b"data: ok\n\ndata: " + b"x" * 200)  # oversize tail
    with pytest.raises(SSEError):  # partial piece plus the rest of the line in the next chunk
        parser = SSEParser(max_line_bytes=100)
        parser.feed(b"data: " + b"x" * 80)
        parser.feed(b"x" * 80 + b"\n\n")


def test_lines_up_to_the_limit_are_fine():
    line = b"data: " + b"x" * 94  # exactly 100 bytes
    parser = SSEParser(max_line_bytes=100)
    assert parse([line[:50], line[50:], b"\n\n"], parser) == [SSEEvent("x" * 94)]
    assert parse([line + b"\n\n"], SSEParser(max_line_bytes=100)) == [SSEEvent("x" * 94)]


def test_parser_state_stays_small_over_a_long_stream():
    parser = SSEParser()
    chunk = b'data: {"choices": [{"delta": {"content": "hi"}}]}\n\n' * 50
    total = 0
    for _ in range(200):
        total += len(parser.feed(chunk[:37]))
        total += len(parser.feed(chunk[37:]))
        assert parser._partial_len < len(chunk) and len(parser._data) <= 1
    assert total == 200 * 50


ROUND_TRIP = [
    SSEEvent("plain"),
    SSEEvent('{"a": 1}', "message_delta"),
    SSEEvent("multi\nline\n\ndata"),
    SSEEvent(" leading space"),
    SSEEvent(""),
    SSEEvent("trailing newline\n"),
    SSEEvent(": looks like a comment"),
    SSEEvent("café € 😀", "ünïcode"),
    SSEEvent(DONE),
]


def test_encode():
    assert encode_event(SSEEvent("x")) == b"data: x\n\n"
    assert encode_event(SSEEvent("a\nb", "delta")) == b"event: delta\ndata: a\ndata: b\n\n"
    assert encode_event(SSEEvent("a\r\nb\rc")) == b"data: a\ndata: b\ndata: c\n\n"


def test_encode_parse_round_trip():
    encoded = b"".join(encode_event(e) for e in ROUND_TRIP)
    assert parse([encoded]) == ROUND_TRIP
    rng = random.Random(7)
    for _ in range(300):
        cuts = [rng.randint(0, len(encoded)) for _ in range(rng.randint(1, 8))]
        assert parse(split_at(encoded, cuts)) == ROUND_TRIP
