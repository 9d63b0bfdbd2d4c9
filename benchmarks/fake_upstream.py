"""A deliberately tiny OpenAI-compatible upstream for benchmarks: canned answers, no framework.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length requests) to answer
``POST /v1/chat/completions`` with a fixed JSON body, or with a 10-chunk SSE stream when the
body asks for ``"stream": true``, so that the gateway, not the upstream, is what gets measured.
"""

from __future__ import annotations

import asyncio
import json
import sys

USAGE = {"prompt_tokens": 11, "completion_tokens": 10, "total_tokens": 21}
ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello " * 10}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
).encode()


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "bench"}
    body["choices"] = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


STREAM = (
    _chunk({"role": "assistant", "content": ""})
    + b"".join(_chunk({"content": "hello "}) for _ in range(10))
    + _chunk({}, "stop")
    + _chunk({}, usage=USAGE)
    + b"data: [DONE]\n\n"
)


def _response(body: bytes, content_type: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: keep-alive\r\n\r\n"
        + body
    )


PLAIN = _response(ANSWER, b"application/json")
SSE = _response(STREAM, b"text/event-stream")
MODELS = _response(b'{"object":"list","data":[{"id":"bench","object":"model"}]}', b"application/json")


class Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 : head.find(b"\r\n", marker) if head.find(b"\r\n", marker) > 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith(b"get"):
                self.transport.write(MODELS)  # type: ignore[attr-defined]
            else:
                self.transport.write(SSE if b'"stream":true' in body.replace(b" ", b"") else PLAIN)  # type: ignore[attr-defined]


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=2048)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(int(sys.argv[1])))
