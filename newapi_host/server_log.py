"""The server's own log lines: the human format (default) or one JSON object per line.

``NEWAPI_LOG_FORMAT=json`` makes every line -- ours, the libraries', granian's server and access
lines, in the parent process and in every worker -- a JSON object with ``time`` (UTC, ISO 8601),
``level``, ``logger``, ``message``, ``pid``, the ``request_id`` of the request being answered
(the ``X-Oneapi-Request-Id`` the client got) when the line was written while answering one,
with ``trace_id`` and ``span_id`` when that request is traced (``relay/tracing.py``),
and ``exception`` (the traceback text) when there is one. Log shippers then need no parsing rules.

The request id travels in a context variable that the request-id middleware and the relay set
for the time of a request (a stream's events included).
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import os
import queue
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("newapi_request_id", default=None)
# Set by relay.tracing while tracing is on: a request id's (trace id, span id), or None.
trace_ids: Callable[[str], tuple[str, str] | None] | None = None

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; never raises on odd arguments (the line is written anyway)."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format in someone's log call: keep what there is
            message = f"{record.msg!r} % {record.args!r}"
        seconds = int(record.created)
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{record.msecs:03.0f}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "pid": record.process,
        }
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
            if trace_ids is not None and (ids := trace_ids(request_id)) is not None:
                line["trace_id"], line["span_id"] = ids
        if record.name == "granian.access" and isinstance(record.args, dict):
            args = record.args
            line["http"] = {
                k: args[k]
                for k in ("method", "path", "query_string", "status", "dt_ms", "addr", "protocol")
                if k in args
            }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


_installed: tuple[int, Any] | None = None  # (pid, listener) of this process's JSON handler


def setup(level: str, log_format: str) -> None:
    """This process's root logger: the human format on stderr, or JSON lines there.

    JSON lines are formatted in the thread that logs (where the request id is) and written by a
    listener thread, so a slow stderr never stalls the event loop (as Litestar's default does for
    the human format). Called by the CLI and again by each worker's app.
    """
    global _installed
    if log_format != "json":
        logging.basicConfig(level=level, format=TEXT_FORMAT)
    elif _installed is None or _installed[0] != os.getpid():  # a forked worker inherits no thread
        lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        handler = logging.handlers.QueueHandler(lines)
        handler.setFormatter(JsonFormatter())
        writer = logging.StreamHandler(sys.stderr)  # writes the prepared line as it is
        listener = logging.handlers.QueueListener(lines, writer)
        listener.start()
        atexit.register(listener.stop)  # what is queued is written before the process ends
        logging.basicConfig(level=level, handlers=[handler], force=True)
        logging.captureWarnings(True)  # warnings.warn output becomes a JSON line too
        _installed = (os.getpid(), listener)
    logging.getLogger("piccolo").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def granian_config(level: str) -> dict[str, Any]:
    """granian's ``log_dictconfig`` for JSON: its own loggers and, in each worker, the root logger
    (a worker applies this at its start, so it holds under any process start method)."""
    json_formatter = {"()": f"{__name__}.JsonFormatter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"generic": json_formatter, "access": json_formatter},
        "handlers": {
            "console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
            "root": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "piccolo": {"level": max(logging.WARNING, logging.getLevelName(level))},
        },
        "root": {"handlers": ["root"], "level": level},
    }
