"""OpenTelemetry traces of relay requests: GenAI attributes over real OTLP/HTTP, off by default.

The gateway exports to :class:`tests.otlp.OTLPReceiver`, a real HTTP server that decodes the
protobuf as a collector would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from newapi_host.config import exporter_from_env

from .conftest import free_port
from .gateway import Gateway, start_gateway, unique
from .otlp import OTLPReceiver
from .servers import NEWAPI, env_for
from .upstreams import FakeUpstream, shared_fake_openai

MSG = [{"role": "user", "content": "hi"}]
REQUEST_ID = "x-oneapi-request-id"


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    r = OTLPReceiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, receiver: OTLPReceiver) -> Iterator[Gateway]:
    """A gateway whose exporter is configured with the standard variables only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)  # the exporter appends /v1/traces
        mp.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # ms between exports, so the test does not wait long
        mp.setenv("OTEL_SERVICE_NAME", "newapi-under-test")
        config_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        gw = start_gateway(tmp_path_factory.mktemp("traced"), tracing=exporter_from_env(config_env))
        try:
            yield gw
        finally:
            gw.stop()


@pytest.fixture(scope="module")
def up() -> FakeUpstream:
    return shared_fake_openai()


def chat(gw: Gateway, key: str, model: str, **extra: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", **extra.pop("headers", {})}  # type: ignore[dict-item]
    return httpx.post(
        f"{gw.base_url}/chat/completions", json={"model": model, "messages": MSG, **extra}, headers=headers, timeout=30
    )


def test_non_streamed_chat_has_genai_attributes_and_joins_the_callers_trace(traced, up, receiver):
    model = unique("trace-plain")
    channel = traced.channel(base_url=up.url, models=[model])
    key = traced.token(traced.user())
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = chat(traced, key, model, headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"})
    assert r.status_code == 200, r.text

    server, children = receiver.request_spans(r.headers[REQUEST_ID])
    assert server.kind == "server" and server.name == f"chat {model}"
    assert (server.trace_id, server.parent_span_id) == (caller_trace, caller_span)
    assert server.resource["service.name"] == "newapi-under-test"
    a = server.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == model and a["gen_ai.response.model"] == model
    assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.system"] == "openai"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 7)  # the fake's usage
    assert a["newapi.channel_id"] == channel and a["newapi.stream"] is False
    assert a["http.response.status_code"] == 200 and not server.error
    assert a["gen_ai.response.id"].startswith("chatcmpl")

    [attempt] = children
    assert attempt.kind == "client" and attempt.name == f"chat {model}" and attempt.trace_id == caller_trace
    assert attempt.attributes["gen_ai.request.model"] == model
    assert attempt.attributes["gen_ai.usage.output_tokens"] == 7
    assert attempt.attributes["server.address"] == "127.0.0.1"
    assert server.start_ns <= attempt.start_ns <= attempt.end_ns <= server.end_ns


def test_streamed_chat_span_ends_with_the_stream_and_names_the_mapped_model(traced, up, receiver):
    asked, sent = unique("trace-alias"), unique("trace-real")
    traced.channel(base_url=up.url, models=[asked], model_mapping={asked: sent})
    key = traced.token(traced.user())
    with httpx.stream(
        "POST",
        f"{traced.base_url}/chat/completions",
        json={"model": asked, "messages": MSG, "stream": True, "stream_options": {"include_usage": True}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as r:
        body = r.read().decode()
    assert r.status_code == 200 and "[DONE]" in body

    server, [attempt] = receiver.request_spans(r.headers[REQUEST_ID])
    assert server.name == f"chat {asked}" and server.attributes["gen_ai.request.model"] == asked
    assert server.attributes["newapi.stream"] is True
    assert server.attributes["newapi.end_state"] == "completed" and not server.error
    # the upstream was asked for (and answered with) the mapped model
    assert attempt.name == f"chat {sent}" and attempt.attributes["gen_ai.request.model"] == sent
    assert server.attributes["gen_ai.response.model"] == sent == attempt.attributes["gen_ai.response.model"]
    assert (server.attributes["gen_ai.usage.input_tokens"], server.attributes["gen_ai.usage.output_tokens"]) == (11, 7)


def test_upstream_failure_is_an_error_span_and_each_retry_its_own(traced, up, receiver):
    model = unique("trace-x-fail-500")
    first = traced.channel(base_url=up.url, models=[model], priority=10)
    second = traced.channel(base_url=up.url, models=[model], priority=0)
    traced.option(RetryTimes="1")
    try:
        key = traced.token(traced.user())
        r = chat(traced, key, model)
    finally:
        traced.option(RetryTimes="0")
    assert r.status_code == 500

    server, attempts = receiver.request_spans(r.headers[REQUEST_ID])
    assert server.error and server.attributes["http.response.status_code"] == 500
    assert server.attributes["error.type"]
    assert "gen_ai.usage.input_tokens" not in server.attributes
    assert sorted(s.attributes["newapi.channel_id"] for s in attempts) == sorted([first, second])
    for attempt in attempts:
        assert attempt.kind == "client" and attempt.error
        assert attempt.attributes["http.response.status_code"] == 500
        assert attempt.attributes["gen_ai.provider.name"] == "openai"


def test_a_refused_request_is_traced_without_being_an_error(traced, receiver):
    r = chat(traced, "sk-not-a-key", "any-model")
    assert r.status_code == 401
    server, children = receiver.request_spans(r.headers[REQUEST_ID])
    assert children == [] and not server.error
    assert server.attributes["http.response.status_code"] == 401 and server.attributes["error.type"]


def test_exporter_choice_from_the_standard_variables():
    assert exporter_from_env({}) == ""  # nothing configured: no tracing (not OTLP to localhost)
    assert exporter_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == "otlp"
    assert exporter_from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}) == "otlp"
    assert exporter_from_env({"OTEL_TRACES_EXPORTER": "console"}) == "console"
    assert exporter_from_env({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}) == ""
    assert exporter_from_env({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}) == ""
    for bad in (
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_TRACES_EXPORTER": "otlp,console"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ):
        with pytest.raises(ValueError):
            exporter_from_env(bad)


def test_serve_refuses_an_exporter_it_cannot_run(tmp_path: Path):
    env = env_for(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4317", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    env["PORT"] = str(free_port())
    done = subprocess.run([*NEWAPI, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "grpc" in done.stderr and "http/protobuf" in done.stderr and "Traceback" not in done.stderr


OFF_SCRIPT = """
import asyncio, sys, httpx
from pathlib import Path
from newapi_host.app import create_app
from newapi_host.config import Config
from newapi_host.relay import tracing

# What the tracing code would load. (redis-py >= 8 imports OpenTelemetry's metrics API and SDK by
# itself when they are installed, for its own dormant instrumentation; that is not ours.)
OURS = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.propagators",
        "opentelemetry.trace.propagation.tracecontext")

async def main():
    app = create_app(Config(data_dir=Path(sys.argv[1]), session_secret="s"))
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.post("/v1/chat/completions", json={"model": "m", "messages": []},
                                  headers={"Authorization": "Bearer sk-nope"})
            assert r.status_code == 401, r.text
    assert tracing.TRACER is None
    print(sorted(m for m in sys.modules if m.startswith(OURS)))

asyncio.run(main())
"""


def test_off_by_default_and_the_tracing_sdk_is_never_imported(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", OFF_SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_serve_names_the_extra_when_opentelemetry_is_missing(tmp_path: Path):
    # a regular package `opentelemetry` ahead of the installed ones hides them: no SDK, no exporter
    (tmp_path / "shadow" / "opentelemetry").mkdir(parents=True)
    (tmp_path / "shadow" / "opentelemetry" / "__init__.py").write_text("")
    env = env_for(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318", PORT=str(free_port()))
    env["PYTHONPATH"] = f"{tmp_path / 'shadow'}{os.pathsep}{env['PYTHONPATH']}"
    done = subprocess.run([*NEWAPI, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "newapi-host[otel]" in done.stderr and "Traceback" not in done.stderr


def test_newapi_serve_workers_export_their_spans(tmp_path: Path, receiver: OTLPReceiver):
    """Under granian each worker starts its own exporter after the fork; a stop sends what is left."""
    import contextlib
    import uuid

    from .servers import Console, serve
    from .test_rate_limits import set_everywhere
    from .test_shared_balances import call, prepare

    server = serve(
        tmp_path,
        2,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_SERVICE_NAME="served",
        NEWAPI_LOG_FORMAT="json",
        NEWAPI_LOG_LEVEL="INFO",
    )
    try:
        with contextlib.closing(Console(server.base)) as console:
            model = f"served-{uuid.uuid4().hex[:6]}"
            failing = f"served-x-fail-502-{uuid.uuid4().hex[:6]}"
            prepare(console, [server.base], model)
            prepare(console, [server.base], failing)
            set_everywhere(console, server.base, "ModelPrice", json.dumps({model: 0.01, failing: 0.01}))
            user = f"u{uuid.uuid4().hex[:6]}"
            console.user(user, 10**9)
            key = console.key_for(user)
            answers = [call(server.base, key, model, stream=i % 2 == 1) for i in range(6)]
            assert [r.status_code for r in answers] == [200] * 6
            failed = call(server.base, key, failing)
            assert failed.status_code == 502
            workers = server.worker_pids()
            assert len(workers) == 2
    finally:
        server.stop()  # the default batch delay is 5 s: the spans still buffered go out at shutdown
    # the log line written while the failed request was answered leads to its trace
    [line] = [json.loads(x) for x in server.output().splitlines() if "failed with 502" in x]
    failed_span, _ = receiver.request_spans(failed.headers[REQUEST_ID], timeout=5)
    assert line["request_id"] == failed.headers[REQUEST_ID]
    assert (line["trace_id"], line["span_id"]) == (failed_span.trace_id, failed_span.span_id)
    pids: set[int] = set()
    for r in answers:
        span, [attempt] = receiver.request_spans(r.headers[REQUEST_ID], timeout=5)
        assert span.resource["service.name"] == "served" and span.attributes["gen_ai.request.model"] == model
        assert attempt.attributes["gen_ai.usage.output_tokens"] == 7
        pids.add(span.resource.get("process.pid"))
    assert pids <= workers  # made and sent by the workers, not the parent


def test_a_converted_request_is_traced_in_the_clients_words_and_the_upstreams(traced, up, receiver):
    """A Claude client on an OpenAI channel: the operation is still chat; usage and model as charged."""
    model = unique("trace-claude")
    traced.channel(base_url=up.url, models=[model])
    key = traced.token(traced.user())
    r = httpx.post(
        f"{traced.url}/v1/messages",
        json={"model": model, "max_tokens": 64, "messages": MSG, "stream": True},
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert r.status_code == 200 and "message_stop" in r.text
    server, [attempt] = receiver.request_spans(r.headers[REQUEST_ID])
    assert server.attributes["newapi.dialect"] == "claude.messages"
    assert server.attributes["gen_ai.operation.name"] == "chat" == attempt.attributes["gen_ai.operation.name"]
    assert attempt.attributes["gen_ai.provider.name"] == "openai"  # the channel's provider, not the client's
    assert server.attributes["gen_ai.response.model"] == model
    assert (server.attributes["gen_ai.usage.input_tokens"], server.attributes["gen_ai.usage.output_tokens"]) == (11, 7)
