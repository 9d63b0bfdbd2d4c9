"""What OpenTelemetry tracing costs a relay request: the calls the pipeline makes per request.

Run: ``.venv/bin/python benchmarks/tracing_cost.py``. One non-streamed request that succeeds on
its first channel makes these calls (see ``relay/pipeline.py``): ``begin`` (the server span),
``admitted``, ``attempt`` (the client span), ``answer`` (reads the model and id of the body),
``settled`` and ``finish``. The spans go to a batch processor whose thread exports them (here to
the console exporter writing to /dev/null), off the request's path; its CPU is not counted here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import timeit
from types import SimpleNamespace


def main() -> None:
    os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = "200000"  # nothing dropped: every span is paid for
    from newapi_host.plugins.contracts import Usage
    from newapi_host.relay.tracing import Tracing

    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        sys.stdout = sink  # the console exporter writes to the sys.stdout it finds
        tracing = Tracing("console")
        channel = SimpleNamespace(id=7, type=1)
        channel_type = SimpleNamespace(name="OpenAI")
        usage = Usage(prompt_tokens=11, completion_tokens=7)
        body = (
            b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini",'
            b'"choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],'
            b'"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}'
        )
        headers = {"authorization": "Bearer sk-x", "content-type": "application/json"}

        def request() -> None:
            trace = tracing.begin(headers, "openai.chat", "20261205120000abcdef012345", "POST", "/v1/chat/completions")
            trace.admitted("gpt-4o-mini", False, 1, 2, "default")
            trace.attempt(channel, channel_type, "gpt-4o-mini", "https://api.openai.com/v1/chat/completions")
            trace.answer(body)
            trace.settled(usage, "completed", False)
            trace.finish(200)

        n = 20_000
        request()
        best = min(timeit.repeat(request, number=n, repeat=3)) / n * 1e6
        tracing.shutdown()
    sys.stdout = sys.__stdout__
    print(f"tracing on: {best:.1f} us per non-streamed request (two spans)")
    check = timeit.timeit("None is not None", number=1_000_000) / 1_000_000 * 1e9
    print(f"tracing off: one `is not None` test per request and per call site, {check:.0f} ns each")


if __name__ == "__main__":
    main()
