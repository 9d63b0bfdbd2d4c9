"""A tiny real HTTP server that records every byte that reaches it: the attacker's sink, an
"internal" service, an upstream that echoes credentials.

It runs its own event loop in a daemon thread, so it works both for tests on the test's loop
(``running``) and for the threaded gateway (``tests/gateway.py``). Each request is recorded raw
(request line, headers, body) before it is answered, so a test can assert that a secret never
arrived -- whatever form it took (a header, a proxy request, a query string).

``respond`` decides the answer from the parsed request: ``(status, content_type, body)``.
Connections are closed after each answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .conftest import free_port


@dataclass
class Arrived:
    method: str
    target: str  # as sent: a path, or an absolute URL when the sender used us as a proxy
    headers: dict[str, str]  # lower-case names
    body: bytes
    raw: bytes = field(repr=False)


Answer = tuple[int, str, bytes]
Responder = Callable[[Arrived], Answer]


def _default(_: Arrived) -> Answer:
    return 200, "application/json", b'{"object": "list", "data": []}'


class Sink:
    """Records what arrives on ``http://127.0.0.1:<port>`` and answers with ``respond``."""

    def __init__(self, respond: Responder = _default) -> None:
        self.respond = respond
        self.arrived: list[Arrived] = []
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"sink-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def saw(self, secret: str) -> bool:
        """Whether ``secret`` reached this server in any request, anywhere in its bytes."""
        return any(secret.encode() in a.raw for a in self.arrived)

    def start(self) -> Sink:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", self.port), self._loop
        )
        self._server = started.result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, *_ = (lines[0].split(" ") + ["", ""])[:3]
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            arrived = Arrived(method, target, headers, body, head + body)
            self.arrived.append(arrived)
            status, content_type, payload = self.respond(arrived)
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
