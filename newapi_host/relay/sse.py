"""Incremental Server-Sent Events parsing and writing, for relaying streams without buffering them.

:class:`SSEParser` takes body chunks with arbitrary boundaries (a line, a ``\\r\\n`` pair or a
multi-byte UTF-8 character may be split between chunks) and returns the events completed so far.
It keeps only the current incomplete line and the current event's data, so memory stays flat
however long the stream runs. It follows the WHATWG ``text/event-stream`` rules the relay needs:
``\\n``, ``\\r\\n`` and ``\\r`` line endings, ``:`` comments, ``data:`` lines joined with ``\\n``,
``event:`` names, one optional space after the colon, ``id:``/``retry:``/unknown fields ignored,
a blank line dispatching the event, events without data lines dropped, a leading BOM stripped.
Unlike a browser it also emits the last event at end of stream (:meth:`SSEParser.flush`),
because upstreams often omit the final blank line.

This runs once per upstream chunk on the hot path: lines are found with bytes operations and
each chunk's complete lines are decoded with one ``bytes.decode`` call.
"""

from __future__ import annotations

from newapi_host.plugins.contracts import SSEEvent

__all__ = ["DONE", "SSEError", "SSEEvent", "SSEParser", "encode_event"]

DONE = "[DONE]"
DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024


class SSEError(ValueError):
    """The stream is not usable as SSE (a line exceeded ``max_line_bytes``)."""


class SSEParser:
    """Turns a byte stream into :class:`SSEEvent` objects, one chunk at a time."""

    __slots__ = ("max_line_bytes", "_partial", "_partial_len", "_skip_lf", "_data", "_event", "_bom")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._partial: list[bytes] = []  # pieces of the current incomplete line
        self._partial_len = 0
        self._skip_lf = False  # the last chunk ended in "\r": drop a "\n" starting the next one
        self._data: list[str] = []  # data lines of the current event
        self._event: str | None = None
        self._bom = True  # a BOM may still start the stream

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume ``chunk`` and return the events it completed (often none or one)."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if b"\r" in chunk:  # rare: normalise CRLF and CR to LF within this chunk
            if chunk[-1] == 0x0D:
                self._skip_lf = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

        end = chunk.rfind(b"\n")
        if end < 0:  # no line completed: remember the piece
            self._partial.append(chunk)
            self._partial_len += len(chunk)
            if self._partial_len > self.max_line_bytes:
                self._reset()
                raise SSEError(f"SSE line longer than {self.max_line_bytes} bytes")
            return []

        complete = chunk[:end]
        if self._partial:
            self._partial.append(complete)
            complete = b"".join(self._partial)
            self._partial = []
            self._partial_len = 0
        tail_len = len(chunk) - end - 1
        if tail_len:
            if tail_len > self.max_line_bytes:
                self._reset()
                raise SSEError(f"SSE line longer than {self.max_line_bytes} bytes")
            self._partial.append(chunk[end + 1 :])
            self._partial_len = tail_len
        if len(complete) > self.max_line_bytes and any(
            len(line) > self.max_line_bytes for line in complete.split(b"\n")
        ):
            self._reset()
            raise SSEError(f"SSE line longer than {self.max_line_bytes} bytes")
        return self._lines(complete.decode("utf-8", "replace").split("\n"))

    def flush(self) -> list[SSEEvent]:
        """End of stream: process an unterminated last line and emit the pending event, if any."""
        lines: list[str] = []
        if self._partial:
            lines.append(b"".join(self._partial).decode("utf-8", "replace"))
        lines.append("")  # the blank line upstreams often omit
        events = self._lines(lines)
        self._reset()
        return events

    def _reset(self) -> None:
        self._partial = []
        self._partial_len = 0
        self._skip_lf = False
        self._data = []
        self._event = None
        self._bom = True

    def _lines(self, lines: list[str]) -> list[SSEEvent]:
        if self._bom:
            self._bom = False
            if lines[0].startswith("\ufeff"):
                lines[0] = lines[0][1:]
        events: list[SSEEvent] = []
        data = self._data
        event = self._event
        for line in lines:
            if not line:  # blank line: dispatch
                if data:
                    events.append(SSEEvent("\n".join(data), event))
                    data = []
                event = None
            elif line.startswith("data:"):
                data.append(line[6:] if line.startswith(" ", 5) else line[5:])
            elif line[0] == ":":  # comment
                continue
            else:
                name, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if name == "event":
                    event = value or None
                elif name == "data":  # "data" without a colon: an empty data line
                    data.append(value)
                # id, retry and unknown fields are ignored
        self._data = data
        self._event = event
        return events


def encode_event(event: SSEEvent) -> bytes:
    """Serialise one event: an ``event:`` line if named, a ``data:`` line per data line, a blank line."""
    data = event.data
    if "\n" in data or "\r" in data:
        data = "\ndata: ".join(data.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    if event.event:
        return f"event: {event.event}\ndata: {data}\n\n".encode()
    return f"data: {data}\n\n".encode()
