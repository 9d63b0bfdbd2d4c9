"""A small OTLP/HTTP trace receiver: what an OpenTelemetry Collector's ``otlphttp`` receiver checks.

It listens on 127.0.0.1 in a thread, accepts ``POST /v1/traces`` with ``Content-Type:
application/x-protobuf`` (gzip or not), decodes the body as an ``ExportTraceServiceRequest``
and answers with an ``ExportTraceServiceResponse``; anything else gets the status a collector
gives (404, 405, 415, 400). Spans are kept decoded (:class:`ReceivedSpan`).
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

KINDS = {Span.SPAN_KIND_SERVER: "server", Span.SPAN_KIND_CLIENT: "client", Span.SPAN_KIND_INTERNAL: "internal"}


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


@dataclass
class ReceivedSpan:
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    error: bool
    status_message: str
    resource: dict[str, Any]
    start_ns: int
    end_ns: int


class OTLPReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.rejected: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"", kind: str = "application/x-protobuf") -> None:
                if status >= 400:
                    receiver.rejected.append((status, self.path))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(405, b"method not allowed", "text/plain")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/traces":
                    return self._answer(404, b"not found", "text/plain")
                if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-protobuf":
                    return self._answer(415, b"unsupported media type", "text/plain")
                try:
                    if self.headers.get("Content-Encoding", "").lower() == "gzip":
                        body = gzip.decompress(body)
                    request = ExportTraceServiceRequest.FromString(body)
                except (DecodeError, OSError, EOFError):
                    return self._answer(400, b"bad protobuf", "text/plain")
                receiver._keep(request)
                self._answer(200, ExportTraceServiceResponse().SerializeToString())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _keep(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received = ReceivedSpan(
                        name=span.name,
                        kind=KINDS.get(span.kind, str(span.kind)),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        error=span.status.code == Status.STATUS_CODE_ERROR,
                        status_message=span.status.message,
                        resource=resource,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                    )
                    with self._lock:
                        self.spans.append(received)

    def request_spans(self, request_id: str, timeout: float = 10.0) -> tuple[ReceivedSpan, list[ReceivedSpan]]:
        """The SERVER span of the relay request ``request_id`` and its CLIENT children, once arrived."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                server = next((s for s in self.spans if s.attributes.get("newapi.request_id") == request_id), None)
                children = [s for s in self.spans if server and s.parent_span_id == server.span_id]
            if server is not None:
                return server, children
            if time.monotonic() > deadline:
                raise AssertionError(f"no span for request {request_id}; rejected posts: {self.rejected}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
