#!/usr/bin/env python3
"""Relay benchmark: ``python benchmarks/run.py`` (from the repository, after ``python3 dev.py sync``).

Starts the fake upstream, ``newapi serve`` (2 workers, SQLite in a temporary directory, key
auth + billing + consume logs on) and wrk, then prints requests/s and latency for
non-streaming and streaming (10-chunk) chat completions at concurrency 1 and 32, next to the
same load sent to the upstream directly; "added" is the gateway's share of the latency. On
Linux it also prints the gateway's CPU time per request ("cpu µs": all its processes, from
``/proc``), which moves far less with other load on the machine than requests per second do.

Needs ``wrk`` (Debian/Ubuntu: ``apt-get install wrk``; macOS: ``brew install wrk``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
LUA = """
wrk.method = "POST"
wrk.body = '{"model":"bench","stream":%s,"messages":[{"role":"user","content":"hello there"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def parse_wrk(output: str) -> dict[str, float]:
    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]

    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+\w+)", output)
        result[f"p{pct}"] = ms(m.group(1)) if m else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["errors"] = float(errors.group(1)) if errors else 0.0
    if socket_errors:
        result["errors"] += sum(float(x) for x in socket_errors.groups())
    return result


def cpu_seconds(root_pid: int) -> float | None:
    """CPU time (user + system) used so far by ``root_pid`` and its children: the gateway's
    processes. Linux only (``/proc``); None elsewhere."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    with open(f"/proc/{entry}/stat") as fh:
                        fields = fh.read().rsplit(")", 1)[1].split()
                    children.setdefault(int(fields[1]), []).append(int(entry))
        total, todo = 0, [root_pid]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / tick
    except OSError:
        return None


def wrk(url: str, key: str, stream: bool, connections: int, seconds: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % ("true" if stream else "false", key))
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    return parse_wrk(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk (or brew install wrk)", file=sys.stderr)
        return 2

    up_port, gw_port = free_port(), free_port()
    data = Path(tempfile.mkdtemp(prefix="newapi-bench-"))
    env = {**os.environ, "NEWAPI_DATA_DIR": str(data), "NEWAPI_LOG_LEVEL": "WARNING", "PORT": str(gw_port)}
    procs = [subprocess.Popen([PYTHON, str(HERE / "fake_upstream.py"), str(up_port)])]
    try:
        procs.append(
            subprocess.Popen(
                [PYTHON, "-m", "newapi_host.cli", "serve", "--host", "127.0.0.1", "--workers", str(args.workers)],
                env=env,
                cwd=ROOT,
            )
        )
        gateway = f"http://127.0.0.1:{gw_port}"
        upstream = f"http://127.0.0.1:{up_port}"
        wait_http(f"{gateway}/healthz")
        with httpx.Client(base_url=gateway, timeout=10) as admin:
            password = "bench-password"
            setup = {"username": "root", "password": password, "confirmPassword": password}
            # self-use mode prices the unlisted "bench" model (ratio 37.5), so billing runs in full
            admin.post("/api/setup", json={**setup, "SelfUseModeEnabled": True})
            uid = admin.post("/api/user/login", json={"username": "root", "password": password}).json()["data"]["id"]
            admin.headers["New-Api-User"] = str(uid)
            # enough quota for any run: root's initial 100M pays for about 127k requests here
            admin.post("/api/user/manage", json={"id": uid, "action": "add_quota", "mode": "add", "value": 10**13})
            r = admin.post("/api/channel/", json={"type": 1, "key": "sk-up", "base_url": upstream, "models": "bench"})
            assert r.json()["success"], r.text
            key = admin.post("/api/token/", json={"name": "bench", "unlimited_quota": True}).json()["data"]["key"]
        time.sleep(1.0)  # let every worker see the new channel
        for stream in (False, True):  # warm-up
            wrk(f"{gateway}/v1/chat/completions", key, stream, 4, 2)

        rows = []
        for stream in (False, True):
            for connections in (1, 32):
                direct = wrk(f"{upstream}/v1/chat/completions", key, stream, connections, args.seconds)
                before = cpu_seconds(procs[1].pid)
                via = wrk(f"{gateway}/v1/chat/completions", key, stream, connections, args.seconds)
                after = cpu_seconds(procs[1].pid)
                served = via["rps"] * args.seconds
                # the gateway's CPU per request: far less sensitive to other load than req/s
                cpu_us = (
                    (after - before) / served * 1e6 if before is not None and after is not None and served else None
                )
                rows.append(
                    {
                        "kind": "stream (10 chunks)" if stream else "non-stream",
                        "concurrency": connections,
                        "gateway_rps": round(via["rps"]),
                        "direct_rps": round(direct["rps"]),
                        "p50_ms": round(via["p50"], 3),
                        "p99_ms": round(via["p99"], 3),
                        "added_p50_ms": round(via["p50"] - direct["p50"], 3),
                        "added_p99_ms": round(via["p99"] - direct["p99"], 3),
                        "errors": int(via["errors"]),
                        "cpu_us_per_request": round(cpu_us) if cpu_us is not None else None,
                    }
                )
        with httpx.Client(base_url=gateway, timeout=10) as check:
            logged = check.get("/healthz").json()
        columns = ("req/s", "direct", "p50 ms", "p99 ms", "+p50 ms", "+p99 ms")
        header = f"{'kind':<20}{'conc':>5}" + "".join(f"{c:>9}" for c in columns) + f"{'errors':>8}{'cpu µs':>8}"
        print(header)
        for r in rows:
            print(
                f"{r['kind']:<20}{r['concurrency']:>5}{r['gateway_rps']:>9}{r['direct_rps']:>9}{r['p50_ms']:>9}"
                f"{r['p99_ms']:>9}{r['added_p50_ms']:>9}{r['added_p99_ms']:>9}{r['errors']:>8}"
                f"{r['cpu_us_per_request'] if r['cpu_us_per_request'] is not None else '-':>8}"
            )
        print(
            f"(gateway {logged['version']}, {args.workers} workers, SQLite, "
            f"{os.cpu_count()} cores, wrk {args.seconds}s per run)"
        )
        if args.json:
            print(json.dumps(rows, indent=2))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
