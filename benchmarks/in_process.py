"""CPU per relayed request, measured inside one process (no wrk, no granian).

    python benchmarks/in_process.py [--stream] [--requests N] [--profile out.prof]

Builds the app in this process on SQLite (with a counter file, as ``newapi serve`` gives its
workers), starts ``fake_upstream.py`` as a separate process, sends N chat completions through
the ASGI app at concurrency 8, and prints CPU microseconds per request (user and system, this
process only: the upstream's share is not counted), plus what the ledger's flush adds.

Because it counts CPU rather than throughput, it is far less sensitive to other load on the
machine than ``run.py``. For a figure that does not move with load at all, count instructions:

    N=104 valgrind --tool=callgrind --cache-sim=no python benchmarks/in_process.py --requests 104
    N=904 ... --requests 904

and divide the difference of the two "Collected" totals by 800 (start-up cancels out).
Instructions leave out kernel work (syscalls), which ``sys_us`` shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONCURRENCY = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def measure(requests: int, stream: bool, profile: str | None, upstream: int) -> dict[str, float]:
    import httpx

    from newapi_host.app import create_app
    from newapi_host.config import Config

    app = create_app(Config.from_env())
    async with app.lifespan():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as admin:
            password = "bench-password"
            setup = {"username": "root", "password": password, "confirmPassword": password}
            await admin.post("/api/setup", json={**setup, "SelfUseModeEnabled": True})
            login = await admin.post("/api/user/login", json={"username": "root", "password": password})
            admin.headers["New-Api-User"] = str(login.json()["data"]["id"])
            base_url = f"http://127.0.0.1:{upstream}"
            await admin.post("/api/channel/", json={"type": 1, "key": "sk-up", "base_url": base_url, "models": "bench"})
            made = await admin.post("/api/token/", json={"name": "bench", "unlimited_quota": True})
            key = made.json()["data"]["key"]
        await asyncio.sleep(1.5)  # the channel reaches the relay's index

        messages = [{"role": "user", "content": "hello there"}]
        body = json.dumps({"model": "bench", "stream": stream, "messages": messages}).encode()
        headers = [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        statuses: dict[int, int] = {}

        async def one() -> None:
            path = "/v1/chat/completions"
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
                "state": {},
            }  # fmt: skip
            sent = False

            async def receive() -> dict:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.Event().wait()  # the client never hangs up
                raise AssertionError

            async def send(message: dict) -> None:
                if message["type"] == "http.response.start":
                    statuses[message["status"]] = statuses.get(message["status"], 0) + 1

            await app(scope, receive, send)

        async def client(n: int) -> None:
            for _ in range(n):
                await one()

        await asyncio.gather(*(client(200 // CONCURRENCY) for _ in range(CONCURRENCY)))  # warm-up
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0, w0 = os.times(), time.perf_counter()
        await asyncio.gather(*(client(requests // CONCURRENCY) for _ in range(CONCURRENCY)))
        t1, w1 = os.times(), time.perf_counter()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        await asyncio.sleep(1.2)  # the ledger's next flush
        t2 = os.times()
    done = CONCURRENCY * (requests // CONCURRENCY)
    return {
        "cpu_us": round(((t1.user - t0.user) + (t1.system - t0.system)) / done * 1e6, 1),
        "user_us": round((t1.user - t0.user) / done * 1e6, 1),
        "sys_us": round((t1.system - t0.system) / done * 1e6, 1),
        "cpu_us_with_flush": round(((t2.user - t0.user) + (t2.system - t0.system)) / done * 1e6, 1),
        "wall_rps": round(done / (w1 - w0)),
        "statuses": statuses,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=int(os.environ.get("N", "4000")))
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--profile", help="write a cProfile of the measured requests here")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="newapi-inproc-"))
    os.environ.update(NEWAPI_DATA_DIR=str(data), NEWAPI_LOG_LEVEL="WARNING")
    from newapi_host.store import mmap as counters

    counters.create(data / "counters.bin", 1 << 16)
    os.environ["NEWAPI_SHARED_STATE"] = str(data / "counters.bin")
    logging.disable(logging.WARNING)
    port = free_port()
    upstream = subprocess.Popen([sys.executable, str(HERE / "fake_upstream.py"), str(port)])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            import uvloop

            result = uvloop.run(measure(args.requests, args.stream, args.profile, port))
        except ImportError:
            result = asyncio.run(measure(args.requests, args.stream, args.profile, port))
    finally:
        upstream.terminate()
        upstream.wait(10)
        shutil.rmtree(data, ignore_errors=True)
    print(json.dumps({"stream": args.stream, "requests": args.requests, **result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
