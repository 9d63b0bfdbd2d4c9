"""The ``newapi`` command for real: subprocesses, granian workers, a real HTTP port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import FIXTURE_DISTS, free_port
from .servers import fresh_get, serve

NEWAPI = [sys.executable, "-m", "newapi_host.cli"]


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWAPI_", "SQL_DSN", "REDIS_CONN"))}
    env.update(NEWAPI_DATA_DIR=str(data_dir), PYTHONPATH=str(FIXTURE_DISTS), NEWAPI_SYNC_INTERVAL="0.5", **extra)
    return env


def run_cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NEWAPI, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    served = serve(tmp_path, 2)
    try:
        yield served.base, served.proc
    finally:
        served.stop()


def test_serve_two_workers_toggle_reaches_all_within_two_seconds_and_shuts_down_gracefully(server):
    base, proc = server
    pids = {fresh_get(f"{base}/healthz").json()["pid"] for _ in range(30)}
    assert len(pids) == 2, f"expected both workers to answer, saw {pids}"

    with httpx.Client(base_url=base, timeout=10) as admin:
        password = "root-password-1"
        r = admin.post("/api/setup", json={"username": "root", "password": password, "confirmPassword": password})
        assert r.json()["success"], r.text
        r = admin.post("/api/user/login", json={"username": "root", "password": password})
        admin.headers["New-Api-User"] = str(r.json()["data"]["id"])
        listed = {p["name"]: p for p in admin.get("/api/plugins").json()["data"]}
        assert listed["acme"]["enabled"] and "ModuleNotFoundError" in listed["broken"]["load_error"]
        assert fresh_get(f"{base}/acme/hello").status_code == 200

        assert admin.put("/api/plugins/acme", json={"enabled": False}).json()["success"]
        switched = time.monotonic()
    time.sleep(max(0.0, 2.0 - (time.monotonic() - switched)))
    seen = {
        (fresh_get(f"{base}/acme/hello").status_code, fresh_get(f"{base}/healthz").json()["pid"]) for _ in range(20)
    }
    assert {code for code, _ in seen} == {404}, f"a worker still served the disabled plugin: {seen}"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_cli_migrate_plugins_and_create_root(tmp_path: Path):
    env = env_for(tmp_path)
    r = run_cli("migrate", env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "newapi.db").exists()

    r = run_cli("plugins", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DISTRIBUTION", "STATE", "PROVIDES"]
    acme = next(line for line in lines if line.startswith("acme "))
    assert "newapi_plugin_acme 1.2.0" in acme and " on " in acme and "channel types: 9001" in acme
    assert any(line.startswith("password ") and "login methods: password" in line for line in lines)
    assert "error: import failed: ModuleNotFoundError" in r.stdout
    assert "channel type 9001 is claimed by both plugin 'acme' and plugin 'rival'" in r.stdout

    r = run_cli("plugins", "--json", env=env)
    import json

    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["broken"]["state"] == "error" and rows["acme"]["state"] == "on"

    r = run_cli("plugins", env={**env, "NEWAPI_DISABLED_PLUGINS": "acme"})
    assert any(line.startswith("acme ") and " blocked " in line for line in r.stdout.splitlines())

    r = run_cli("create-root", "--username", "boss", env=env, stdin="short\n")
    assert r.returncode == 2 and "at least 8 characters" in r.stderr
    r = run_cli("create-root", "--username", "boss", env=env, stdin="12345678\n")
    assert r.returncode == 2 and "too common" in r.stderr
    r = run_cli("create-root", "--username", "boss", env=env, stdin="long-enough-pass\n")
    assert r.returncode == 0, r.stderr
    assert "created root user 'boss'" in r.stdout
    r = run_cli("create-root", "--username", "boss2", "--password", "another-pass-1", env=env)
    assert r.returncode == 1 and "a root user already exists" in r.stderr


def test_first_call_walkthrough_from_the_readme(server):
    """The README's path: set up root, add a channel, create a key, call the relay."""
    import openai

    from .upstreams import shared_fake_openai

    base, _ = server
    up = shared_fake_openai()
    with httpx.Client(base_url=base, timeout=10) as admin:
        password = "change-me-now"
        admin.post("/api/setup", json={"username": "root", "password": password, "confirmPassword": password})
        user_id = admin.post("/api/user/login", json={"username": "root", "password": password}).json()["data"]["id"]
        admin.headers["New-Api-User"] = str(user_id)
        r = admin.post(
            "/api/channel/",
            json={"type": 1, "name": "local", "key": "sk-upstream", "base_url": up.url, "models": "gpt-4o-mini"},
        )
        assert r.json()["success"], r.text
        bad = admin.post("/api/channel/", json={"type": 1, "key": "", "models": "gpt-4o-mini", "weight": -1})
        assert bad.json()["success"] is False and "key" in bad.json()["message"] and "weight" in bad.json()["message"]
        r = admin.post("/api/token/", json={"name": "first", "unlimited_quota": True})
        key = r.json()["data"]["key"]
        assert key.startswith("sk-") and len(key) == 51

    client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    created = time.monotonic()
    while True:  # the other worker learns about the new channel within the sync interval (0.5 s)
        try:
            answer = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            break
        except openai.NotFoundError:
            assert time.monotonic() - created < 1.0, "a worker did not see the new channel within 1 s"
            time.sleep(0.05)
    assert answer.choices[0].message.content == "Hello from gpt-4o-mini"
    assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]

    # A New API style script: personal access token + New-Api-User, then logs and dashboard data.
    with httpx.Client(base_url=base, timeout=10) as console:
        console.post("/api/user/login", json={"username": "root", "password": "change-me-now"})
        console.headers["New-Api-User"] = str(user_id)
        access_token = console.get("/api/user/token").json()["data"]
    script = httpx.Client(
        base_url=base, timeout=10, headers={"Authorization": access_token, "New-Api-User": str(user_id)}
    )
    with script:
        deadline = time.monotonic() + 5
        while True:  # the ledger writes each worker's charges at least once a second
            logs = script.get("/api/log/", params={"type": 2}).json()["data"]["items"]
            data = script.get("/api/data/").json()["data"]
            if logs and data:
                break
            assert time.monotonic() < deadline, "no consume log or dashboard row appeared"
            time.sleep(0.2)
        assert logs[0]["model_name"] == "gpt-4o-mini" and logs[0]["quota"] > 0
        assert sum(row["quota"] for row in data) == sum(row["quota"] for row in logs)
        assert script.get("/api/option/").json()["success"]
        assert script.put("/api/option/", json={"key": "RetryTimes", "value": 2}).json()["success"]
        assert script.put("/api/option/", json={"key": "RetryTimes", "value": "many"}).json()["success"] is False


def test_serve_refuses_a_port_another_server_listens_on(tmp_path: Path):
    """granian binds with SO_REUSEPORT: without the check a second server would share the port."""
    import socket

    with socket.socket() as other:  # another server, bound the way granian binds its workers
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen(8)
        port = other.getsockname()[1]
        r = run_cli("serve", "--host", "127.0.0.1", "--port", str(port), env=env_for(tmp_path))
    assert r.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in r.stderr
    assert not (tmp_path / "newapi.db").exists()  # refused before touching the database


def test_a_stop_sent_to_the_whole_group_while_workers_start_is_prompt(tmp_path: Path):
    """Ctrl-C or ``kill -- -PGID`` reaches each worker twice (directly and from granian's parent);
    a worker still starting must not hang on the second signal until the kill timeout."""
    from .servers import Served
    from .servers import env_for as served_env

    proc = subprocess.Popen(
        [*NEWAPI, "serve", "--host", "127.0.0.1", "--port", str(free_port()), "--workers", "2"],
        env=served_env(tmp_path, NEWAPI_LOG_LEVEL="WARNING"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    served = Served("", proc, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while served.output().count("Spawning worker-") < 2:
            assert proc.poll() is None and time.monotonic() < deadline, served.output()
            time.sleep(0.01)
        assert served.started_workers() < 2  # still starting: importing the app takes a second or two
        os.killpg(proc.pid, signal.SIGTERM)
        stopping = time.monotonic()
        proc.wait(30)  # the kill timeout (--shutdown-timeout) is 30 s
        took = time.monotonic() - stopping
    finally:
        served.stop()
    assert took < 10, f"the stop took {took:.1f} s:\n{served.output()}"
    assert "refused to gracefully stop" not in served.output()
