"""The server log as JSON lines (``NEWAPI_LOG_FORMAT=json``), from a real ``newapi serve``."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from pathlib import Path

import httpx

from newapi_host.server_log import JsonFormatter

from .conftest import free_port
from .servers import NEWAPI, Console, env_for, serve
from .test_shared_balances import call, prepare

REQUEST_ID = "x-oneapi-request-id"


def test_every_line_is_json_with_the_request_id_inside_requests(tmp_path: Path):
    server = serve(tmp_path, 2, args=("--access-log",), NEWAPI_LOG_FORMAT="json", NEWAPI_LOG_LEVEL="INFO")
    try:
        with contextlib.closing(Console(server.base)) as console:
            model = f"log-x-fail-500-{uuid.uuid4().hex[:6]}"
            prepare(console, [server.base], model)
            user = f"u{uuid.uuid4().hex[:6]}"
            console.user(user, 10**9)
            key = console.key_for(user)
            failed = call(server.base, key, model)
            assert failed.status_code == 500
            # a console route (the request-id middleware, not the relay) that logs: mail it cannot send
            mailed = console.get("/api/verification", params={"email": f"{user}@example.com"})
            assert mailed.status_code == 200 and not mailed.json()["success"]
    finally:
        server.stop()
    output = server.output()

    lines = [line for line in output.splitlines() if line.strip()]
    records = []
    for line in lines:
        record = json.loads(line)  # every line, whichever process or library wrote it
        assert isinstance(record, dict) and {"time", "level", "logger", "message", "pid"} <= record.keys(), line
        records.append(record)
    assert all(r["time"].endswith("Z") and r["time"][10] == "T" for r in records)
    loggers = {r["logger"] for r in records}
    assert {"newapi", "_granian", "granian.access"} <= loggers, loggers
    assert len({r["pid"] for r in records}) >= 3  # the parent and both workers

    # the relay's line about the failed upstream carries the id the client was given
    relay_line = next(r for r in records if "failed with 500" in r["message"])
    assert relay_line["request_id"] == failed.headers[REQUEST_ID]
    assert relay_line["logger"] == "newapi_host.relay.pipeline" and relay_line["level"] == "INFO"
    mail_line = next(r for r in records if "mail to a user could not be sent" in r["message"])
    assert mail_line["request_id"] == mailed.headers[REQUEST_ID] and mail_line["level"] == "WARNING"
    # lines written outside any request have none
    assert "request_id" not in next(r for r in records if r["logger"] == "newapi")
    # a traceback is one field of its line, not lines of its own (the fixture plugin that cannot import)
    broken = next(r for r in records if "failed to import" in r["message"])
    assert broken["level"] == "ERROR" and "ModuleNotFoundError" in broken["exception"]
    assert broken["exception"].startswith("Traceback")
    # access lines keep their fields
    access = next(r for r in records if r["logger"] == "granian.access" and r["http"]["path"] == "/v1/chat/completions")
    assert access["http"]["status"] == 500 and access["http"]["method"] == "POST"


def test_the_default_format_is_for_people(tmp_path: Path):
    server = serve(tmp_path, 1, NEWAPI_LOG_LEVEL="INFO")
    server.stop()
    output = server.output()
    assert "INFO newapi: serving on http://127.0.0.1:" in output
    assert not any(line.startswith("{") for line in output.splitlines())


def test_an_unknown_format_is_refused_before_serving(tmp_path: Path):
    env = env_for(tmp_path, NEWAPI_LOG_FORMAT="xml", PORT=str(free_port()))
    done = subprocess.run([*NEWAPI, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "NEWAPI_LOG_FORMAT='xml'" in done.stderr and "json" in done.stderr


def test_a_log_call_with_bad_arguments_still_makes_a_line():
    import logging

    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "%d items", ("many",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "WARNING" and "many" in line["message"]


def test_responses_answered_while_logging_are_unchanged(tmp_path: Path):
    """The JSON option changes the log, nothing a client sees (the request id header stays)."""
    server = serve(tmp_path, 1, NEWAPI_LOG_FORMAT="json")
    try:
        r = httpx.get(f"{server.base}/api/status", timeout=10)
        assert r.status_code == 200 and r.json()["success"] and r.headers[REQUEST_ID]
    finally:
        server.stop()
