#!/usr/bin/env python3
"""Soak: hours-like load for minutes, then check memory, errors and the ledger.

``python benchmarks/soak.py`` (from the repository, after ``python3 dev.py sync``) starts the
fake upstream (``benchmarks/fake_upstream.py``) and ``newapi serve`` (2 workers, SQLite in a
temporary directory, or PostgreSQL/Redis with ``--sql-dsn``/``--redis``), creates a few users with
an unlimited and a limited key each, measures the peak briefly with wrk (mixed stream and
non-stream requests over every key, 32 connections; or takes ``--rate``), then sends that mix at
``--fraction`` of the peak for ``--minutes``. wrk paces itself (a per-thread schedule in its Lua
script), so the rate stays put whatever the latency does.

While it runs, each worker's resident memory is sampled from ``/proc``. At the end the gateway
is stopped (it writes every settled charge on the way out) and the database must balance:

* the quota of the consume logs adds up to the users' and the keys' ``used_quota``;
* each user's ``quota`` went down by exactly its ``used_quota``, each limited key's
  ``remain_quota`` by its ``used_quota``;
* there is a consume log per request counted in ``request_count``, and no error log.

It prints the memory table, the counts and a verdict; the exit status is 1 when any request
failed, a worker was replaced, the ledger does not balance, or a worker's memory grew by more
than ``--max-growth-mb`` after the first quarter of the run (start-up and warm-up allocations
come before that). Needs ``wrk`` (Debian/Ubuntu: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PYTHON, ROOT, free_port, parse_wrk, wait_http  # noqa: E402

HERE = Path(__file__).resolve().parent
PASSWORD = "soak-password-1"
USER_QUOTA = 10**12  # far more than a soak spends: nobody runs dry
KEY_QUOTA = 10**11  # the limited keys' remain_quota

# wrk's Lua (LuaJIT): a request mixes stream and non-stream over all keys; delay() keeps a
# per-thread schedule (monotonic clock through the FFI), so each thread sends ``per_thread`` req/s.
LUA = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } soak_ts; int clock_gettime(int, soak_ts *); ]]
local ts = ffi.new("soak_ts")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local keys = {%(keys)s}
local stream_share = %(stream_share)f
local interval = %(interval_ms)f  -- ms between sends in this thread; 0: as fast as possible
local due = nil
local bodies = {
  [false] = '{"model":"bench","stream":false,"messages":[{"role":"user","content":"hello there"}]}',
  [true] = '{"model":"bench","stream":true,"messages":[{"role":"user","content":"hello there"}]}',
}
local statuses = {}
function init(args)
  math.randomseed(math.floor(now_ms() * 1000) %% 2147483647)  -- threads start apart: different seeds
end
function request()
  local headers = {["Content-Type"] = "application/json",
                   ["Authorization"] = "Bearer " .. keys[math.random(#keys)]}
  return wrk.format("POST", "/v1/chat/completions", headers, bodies[math.random() < stream_share])
end
function delay()
  if interval <= 0 then return 0 end
  local now = now_ms()
  if due == nil or due < now - 1000 then due = now end  -- far behind: do not burst to catch up
  due = due + interval
  local wait = due - now
  if wait < 0 then return 0 end
  return wait
end
"""


def wrk(gateway: str, keys: list[str], *, rate: float, seconds: float, connections: int, stream_share: float) -> dict:
    threads = 2
    interval = threads * 1000.0 / rate if rate > 0 else 0.0
    script = LUA % {
        "keys": ", ".join(json.dumps(k) for k in keys),
        "stream_share": stream_share,
        "interval_ms": interval,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(seconds)}s", "--latency", "--timeout",
             "30s", "-s", handle.name, f"{gateway}/v1/chat/completions"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(handle.name)
    result: dict[str, Any] = parse_wrk(out)
    done = re.search(r"(\d+) requests in", out)
    result["requests"] = int(done.group(1)) if done else 0
    return result


# -- the gateway and its workers ---------------------------------------------------------------------


def worker_pids(gateway: str, tries: int = 40) -> set[int]:
    """The pids that answer ``/healthz`` (a new connection each time, so every worker is asked)."""
    return {httpx.get(f"{gateway}/healthz", headers={"Connection": "close"}).json()["pid"] for _ in range(tries)}


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else None


def setup(gateway: str, upstream: str, users: int) -> tuple[list[str], dict[str, Any]]:
    """Root, a channel for ``bench``, ``users`` users with an unlimited and a limited key each."""
    with httpx.Client(base_url=gateway, timeout=30) as admin:
        form = {"username": "root", "password": PASSWORD, "confirmPassword": PASSWORD}
        # self-use mode prices the unlisted "bench" model (ratio 37.5), so billing runs in full
        admin.post("/api/setup", json={**form, "SelfUseModeEnabled": True})
        uid = admin.post("/api/user/login", json={"username": "root", "password": PASSWORD}).json()["data"]["id"]
        admin.headers["New-Api-User"] = str(uid)
        r = admin.post("/api/channel/", json={"type": 1, "key": "sk-up", "base_url": upstream, "models": "bench"})
        assert r.json()["success"], r.text
        keys: list[str] = []
        for n in range(users):
            name = f"soak{n}"
            assert admin.post("/api/user/", json={"username": name, "password": PASSWORD}).json()["success"]
            found = admin.get("/api/user/search", params={"keyword": name}).json()["data"]
            items = found["items"] if isinstance(found, dict) else found
            user_id = next(u["id"] for u in items if u["username"] == name)
            assert admin.put("/api/user/", json={"id": user_id, "quota": USER_QUOTA}).json()["success"]
            with httpx.Client(base_url=gateway, timeout=30) as user:
                r = user.post("/api/user/login", json={"username": name, "password": PASSWORD})
                user.headers["New-Api-User"] = str(r.json()["data"]["id"])
                for fields in ({"unlimited_quota": True}, {"unlimited_quota": False, "remain_quota": KEY_QUOTA}):
                    r = user.post("/api/token/", json={"name": "soak", **fields})
                    assert r.json()["success"], r.text
                    keys.append(r.json()["data"]["key"])
    return keys, {"users": users}


# -- the ledger ---------------------------------------------------------------------------------------

USERS_SQL = "SELECT id, quota, used_quota, request_count FROM users WHERE username LIKE 'soak%'"
TOKENS_SQL = (
    "SELECT t.id, t.unlimited_quota, t.remain_quota, t.used_quota FROM tokens t "
    "JOIN users u ON u.id = t.user_id WHERE u.username LIKE 'soak%'"
)
LOGS_SQL = (
    "SELECT COALESCE(SUM(quota), 0), COUNT(*) FROM logs WHERE type = 2 AND user_id IN "
    "(SELECT id FROM users WHERE username LIKE 'soak%')"
)
ERRORS_SQL = "SELECT COUNT(*) FROM logs WHERE type = 5"


def read_ledger(data_dir: Path, sql_dsn: str) -> dict[str, Any]:
    if sql_dsn:

        async def fetch() -> list[list[tuple]]:
            import asyncpg

            conn = await asyncpg.connect(sql_dsn)
            try:
                return [[tuple(r) for r in await conn.fetch(q)] for q in (USERS_SQL, TOKENS_SQL, LOGS_SQL, ERRORS_SQL)]
            finally:
                await conn.close()

        users, tokens, logs, errors = asyncio.run(fetch())
    else:
        with sqlite3.connect(data_dir / "newapi.db") as db:
            users, tokens, logs, errors = (
                db.execute(q).fetchall() for q in (USERS_SQL, TOKENS_SQL, LOGS_SQL, ERRORS_SQL)
            )
    log_quota, log_count = logs[0]
    problems = []
    used_users = sum(u[2] for u in users)
    used_tokens = sum(t[3] for t in tokens)
    requests = sum(u[3] for u in users)
    if not log_quota == used_users == used_tokens:
        problems.append(f"consume logs {log_quota} != users' used_quota {used_users} / keys' {used_tokens}")
    if log_count != requests:
        problems.append(f"{log_count} consume logs but request_count adds up to {requests}")
    for user_id, quota, used, _ in users:
        if USER_QUOTA - quota != used:
            problems.append(f"user #{user_id}: quota went down by {USER_QUOTA - quota}, used_quota is {used}")
    for token_id, unlimited, remain, used in tokens:
        if not unlimited and KEY_QUOTA - remain != used:
            problems.append(f"key #{token_id}: remain_quota went down by {KEY_QUOTA - remain}, used_quota is {used}")
    if errors[0][0]:
        problems.append(f"{errors[0][0]} error logs")
    return {
        "consume_logs": log_count,
        "log_quota": log_quota,
        "users_used_quota": used_users,
        "keys_used_quota": used_tokens,
        "problems": problems,
    }


# -- the run --------------------------------------------------------------------------------------------


def stop(proc: subprocess.Popen, grace: float = 40) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak (default 10)")
    parser.add_argument("--fraction", type=float, default=0.8, help="share of the measured peak to send (0.8)")
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s to send; skips measuring the peak")
    parser.add_argument("--peak-seconds", type=int, default=10, help="length of the peak measurement (10)")
    parser.add_argument("--stream-share", type=float, default=0.3, help="share of streamed requests (0.3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=8, help="users, each with an unlimited and a limited key")
    parser.add_argument("--sample-seconds", type=float, default=0.0, help="RSS sampling period (default: 20 samples)")
    parser.add_argument("--max-growth-mb", type=float, default=20.0, help="allowed RSS growth after the first quarter")
    parser.add_argument("--sql-dsn", default="", help="PostgreSQL DSN of an empty database (default: SQLite)")
    parser.add_argument("--redis", default="", help="REDIS_CONN_STRING for the live balances")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk (or brew install wrk)", file=sys.stderr)
        return 2

    seconds = args.minutes * 60
    sample = args.sample_seconds or max(seconds / 20, 1.0)
    up_port, gw_port = free_port(), free_port()
    data = Path(tempfile.mkdtemp(prefix="newapi-soak-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWAPI_", "SQL_DSN", "REDIS_CONN"))}
    env.update(NEWAPI_DATA_DIR=str(data), NEWAPI_LOG_LEVEL="WARNING", PORT=str(gw_port))
    # the set-up and checks call /api from 127.0.0.1 more than New API's per-address budget allows
    env.update(GLOBAL_API_RATE_LIMIT_ENABLE="false", GLOBAL_WEB_RATE_LIMIT_ENABLE="false")
    if args.sql_dsn:
        env["SQL_DSN"] = args.sql_dsn
    if args.redis:
        env["REDIS_CONN_STRING"] = args.redis
    log_path = data / "gateway.log"
    upstream_proc = subprocess.Popen([PYTHON, str(HERE / "fake_upstream.py"), str(up_port)])
    with open(log_path, "w") as log_file:
        gateway_proc = subprocess.Popen(
            [PYTHON, "-m", "newapi_host.cli", "serve", "--host", "127.0.0.1", "--workers", str(args.workers)],
            env=env,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    gateway, upstream = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{up_port}"
    try:
        wait_http(f"{gateway}/healthz")
        wait_http(f"{upstream}/v1/models")
        keys, _ = setup(gateway, upstream, args.users)
        time.sleep(1.0)  # let every worker see the new channel
        load = {"connections": args.connections, "stream_share": args.stream_share}
        wrk(gateway, keys, rate=0, seconds=3, **load)  # warm-up
        peak = None
        if args.rate > 0:
            rate = args.rate
        else:
            peak = wrk(gateway, keys, rate=0, seconds=args.peak_seconds, **load)
            rate = peak["rps"] * args.fraction
            print(f"peak: {peak['rps']:.0f} req/s ({peak['errors']:.0f} errors); soaking at {rate:.0f} req/s")
        workers = sorted(worker_pids(gateway))
        print(f"workers: {workers}; {args.minutes:g} min, {args.stream_share:.0%} streamed, {len(keys)} keys")

        result: dict[str, Any] = {}
        # the soak's wrk runs in a thread so that this one can sample memory meanwhile
        runner = threading.Thread(
            target=lambda: result.update(wrk(gateway, keys, rate=rate, seconds=seconds, **load)), daemon=True
        )
        started = time.monotonic()
        runner.start()
        samples: list[tuple[float, list[float | None]]] = []
        while runner.is_alive():
            samples.append((time.monotonic() - started, [rss_mb(pid) for pid in workers]))
            runner.join(sample)
        samples.append((time.monotonic() - started, [rss_mb(pid) for pid in workers]))
        replaced = sorted(worker_pids(gateway) - set(workers))
    finally:
        stop(gateway_proc)  # writes every settled charge before it exits
        upstream_proc.terminate()
        upstream_proc.wait(10)

    ledger = read_ledger(data, args.sql_dsn)
    log_text = log_path.read_text(errors="replace")
    # both formats: the server's own ("... ERROR name: ...") and granian's workers' ("ERROR - ...")
    error_lines = [line for line in log_text.splitlines() if re.search(r"\b(ERROR|CRITICAL)\b|^Traceback", line)]

    print(f"\n{'t (s)':>7}" + "".join(f"{'rss ' + str(pid) + ' MB':>16}" for pid in workers))
    for at, values in samples:
        print(f"{at:>7.0f}" + "".join(f"{v:>16.1f}" if v is not None else f"{'gone':>16}" for v in values))
    quarter = [values for at, values in samples if at >= seconds / 4]
    growth = []
    for i in range(len(workers)):
        series = [v[i] for v in quarter if v[i] is not None]
        growth.append(round(series[-1] - series[0], 1) if len(series) >= 2 else None)
    failures: list[str] = []
    errors = int(result.get("errors", 0))
    if errors:
        failures.append(f"{errors} failed requests")
    if replaced:
        failures.append(f"workers replaced during the soak: {replaced}")
    if error_lines:
        failures.append(f"{len(error_lines)} error lines in the gateway's log, first: {error_lines[0]}")
    for pid, grew in zip(workers, growth, strict=True):
        if grew is None or grew > args.max_growth_mb:
            failures.append(f"worker {pid} grew by {grew} MB after the first quarter")
    failures.extend(ledger["problems"])

    achieved = result.get("requests", 0) / seconds
    print(
        f"\nsent {result.get('requests', 0)} requests in {seconds:.0f} s ({achieved:.0f} req/s, asked {rate:.0f}), "
        f"p50 {result.get('p50', float('nan')):.2f} ms, p99 {result.get('p99', float('nan')):.2f} ms, "
        f"{errors} errors"
    )
    if achieved < 0.9 * rate:
        print(
            f"note: the gateway kept up with {achieved / rate:.0%} of the rate asked; the peak measured was more "
            "than it sustains here (a busy machine?), so this soak ran at its limit rather than below it"
        )
    print(f"RSS growth after the first quarter, per worker (MB): {growth}")
    print(
        f"ledger: {ledger['consume_logs']} consume logs, {ledger['log_quota']} quota in logs, "
        f"users' used_quota {ledger['users_used_quota']}, keys' used_quota {ledger['keys_used_quota']}"
    )
    print("verdict:", "PASS" if not failures else "FAIL\n  " + "\n  ".join(failures))
    if args.json:
        summary = {
            "minutes": args.minutes,
            "peak_rps": peak["rps"] if peak else None,
            "rate": rate,
            "achieved_rps": achieved,
            "wrk": result,
            "rss_samples": samples,
            "rss_growth_mb": growth,
            "ledger": ledger,
            "failures": failures,
        }
        print(json.dumps(summary, indent=2))
    shutil.rmtree(data, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
