#!/usr/bin/env python3
"""The latency floor under the relay: ``python benchmarks/latency_floor.py`` (needs ``wrk``).

How much of the gateway's added latency at concurrency 1 is its own work, and how much any
Python app served the same way would add? Measured against the same fake upstream as
``benchmarks/run.py``, one granian worker each, uvloop, one wrk connection:

* ``asgi-answer``: a bare ASGI app on granian that reads the request and answers at once;
* ``rsgi-answer``: the same on granian's own RSGI interface (no ASGI message dicts);
* ``asgi-forward``: a bare ASGI app that forwards the request body to the upstream with the
  relay's own client (:class:`newapi_host.relay.client.UpstreamClient`) and returns its answer,
  which is every hop the relay makes, with none of its work (key, price, hold, conversion,
  settlement, log row).

"added p50" is each one's p50 minus the upstream's own, as in ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import HERE, ROOT, free_port, parse_wrk, wait_http

APPS = """
import os
from newapi_host.plugins.contracts import UpstreamRequest
from newapi_host.relay.client import UpstreamClient

UP = os.environ["FLOOR_UPSTREAM"] + "/v1/chat/completions"
ANSWER = b'{"ok":true}'
client = None


async def _body(receive):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _reply(send, data):
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _lifespan(receive, send):
    global client
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            client = UpstreamClient()
            await client.start()
            await send({"type": "lifespan.startup.complete"})
        else:
            await client.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def asgi_answer(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    await _body(receive)
    await _reply(send, ANSWER)


async def asgi_forward(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    request = UpstreamRequest("POST", UP, {"content-type": "application/json"}, await _body(receive))
    response = await client.send(request)
    await _reply(send, await response.read())


async def rsgi_answer(scope, proto):
    await proto()
    proto.response_bytes(200, [("content-type", "application/json")], ANSWER)
"""

LUA = """
wrk.method = "POST"
wrk.body = '{"model":"bench","stream":false,"messages":[{"role":"user","content":"hello there"}]}'
wrk.headers["Content-Type"] = "application/json"
"""

CASES = (
    ("asgi-answer", "asgi", "asgi_answer"),
    ("rsgi-answer", "rsgi", "rsgi_answer"),
    ("asgi-forward", "asgi", "asgi_forward"),
)


def wrk_c1(url: str, script: str, seconds: int) -> dict[str, float]:
    command = ["wrk", "-t", "1", "-c", "1", "-d", f"{seconds}s", "--latency", "-s", script, url]
    return parse_wrk(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="duration of each wrk run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk (or brew install wrk)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="newapi-floor-"))
    (work / "floor_apps.py").write_text(APPS)
    (work / "post.lua").write_text(LUA)
    script = str(work / "post.lua")
    up_port = free_port()
    upstream = subprocess.Popen([sys.executable, str(HERE / "fake_upstream.py"), str(up_port)])
    up_url = f"http://127.0.0.1:{up_port}"
    rows = []
    try:
        time.sleep(0.5)
        wrk_c1(f"{up_url}/v1/chat/completions", script, 1)
        for name, interface, target in CASES:
            port = free_port()
            env = {**os.environ, "PYTHONPATH": f"{work}{os.pathsep}{ROOT}", "FLOOR_UPSTREAM": up_url}
            server = subprocess.Popen(
                [sys.executable, "-m", "granian", "--interface", interface, "--loop", "uvloop", "--workers", "1",
                 "--host", "127.0.0.1", "--port", str(port), f"floor_apps:{target}"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                url = f"http://127.0.0.1:{port}/"
                wait_http(url)
                wrk_c1(url, script, 2)  # warm-up
                direct = wrk_c1(f"{up_url}/v1/chat/completions", script, args.seconds)
                via = wrk_c1(url, script, args.seconds)
                rows.append((name, via["rps"], via["p50"], via["p50"] - direct["p50"], direct["p50"]))
            finally:
                server.terminate()
                server.wait(30)
    finally:
        upstream.terminate()
        upstream.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'case':<16}{'req/s':>9}{'p50 ms':>9}{'+p50 ms':>9}{'upstream p50 ms':>17}")
    for name, rps, p50, added, direct in rows:
        print(f"{name:<16}{rps:>9.0f}{p50:>9.3f}{added:>9.3f}{direct:>17.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
