"""The Docker deployment without a Docker daemon: the compose file's services and health checks,
the Dockerfile's shape, and its build step run as a script whose result serves and passes the
image's own health check."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from .conftest import free_port
from .servers import stop_group

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) per Dockerfile instruction, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    joined = text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def runtime_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_compose_declares_the_gateway_postgres_and_redis_with_health_checks():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"gateway", "postgres", "redis"}
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check["test"] and check["test"][0] in ("CMD", "CMD-SHELL"), name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    assert "/healthz" in " ".join(services["gateway"]["healthcheck"]["test"])
    gateway = services["gateway"]
    assert gateway["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    env = gateway["environment"]
    assert env["SQL_DSN"].startswith("postgres://newapi:") and env["SQL_DSN"].endswith("@postgres:5432/newapi")
    assert env["REDIS_CONN_STRING"] == "redis://redis:6379/0"
    assert "?" in env["SESSION_SECRET"]  # required from the operator's environment, never a default
    assert "?" in services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert "newapi-data:/data" in gateway["volumes"]
    assert set(compose["volumes"]) == {"newapi-data", "postgres-data", "redis-data"}


def test_the_image_is_small_non_root_with_a_data_volume_and_a_health_check():
    steps = runtime_stage()
    words = [w for w, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")  # no build tools in the runtime image
    user = next(arg for word, arg in steps if word == "USER")
    assert user not in ("root", "0")
    assert any(word == "RUN" and "useradd" in arg and user in arg for word, arg in steps)
    assert ("VOLUME", '["/data"]') in steps
    assert any(word == "ENV" and "NEWAPI_DATA_DIR=/data" in arg for word, arg in steps)
    assert words.index("USER") < words.index("CMD")
    health = next(arg for word, arg in steps if word == "HEALTHCHECK")
    assert "/healthz" in health and "--interval" in health
    assert ("CMD", '["newapi", "serve"]') in steps
    copies = [arg for word, arg in steps if word == "COPY"]
    assert copies == ["--from=build /app/.venv /app/.venv"]  # only the installed venv crosses over
    build_runs = [arg for word, arg in dockerfile() if word == "RUN" and "deploy/build.sh" in arg]
    assert build_runs == ["PYTHON=/usr/local/bin/python3 sh deploy/build.sh /app"]


def health_command() -> list[str]:
    health = next(arg for word, arg in dockerfile() if word == "HEALTHCHECK")
    return json.loads(health[health.index("CMD") + 3 :].strip())


def test_the_build_step_as_a_script_gives_a_gateway_that_passes_the_image_health_check(tmp_path: Path):
    uv = ROOT / ".tools" / "bin" / "uv"
    uv_path = str(uv) if uv.exists() else shutil.which("uv")
    if uv_path is None:
        pytest.fail("uv is needed to run the image's build step (python3 dev.py sync installs it)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWAPI_", "SQL_DSN", "REDIS_CONN", "VIRTUAL_ENV"))}
    built = subprocess.run(
        ["sh", str(ROOT / "deploy" / "build.sh"), str(tmp_path / "app")],
        env={**env, "UV": uv_path},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    assert "built newapi" in built.stdout
    venv = tmp_path / "app" / ".venv"
    # the otel extra is in: tracing needs only its OTEL_* variables in the image
    exporter = "import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter"
    assert subprocess.run([str(venv / "bin" / "python"), "-c", exporter], capture_output=True).returncode == 0
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    runtime_env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",  # what the image's ENV gives: the venv first
        "NEWAPI_DATA_DIR": str(data),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "NEWAPI_WORKERS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(tmp_path),
    }
    server = subprocess.Popen(
        ["newapi", "serve"], cwd=data, env=runtime_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the built gateway did not start:\n{server.stdout.read() if server.stdout else ''}")
            time.sleep(0.2)
        check = subprocess.run(health_command(), cwd=data, env=runtime_env, capture_output=True, timeout=10)
        assert check.returncode == 0, check.stderr
        assert (data / "newapi.db").exists()  # state lives in the data volume
    finally:
        stop_group(server)
    stopped = subprocess.run(health_command(), env=runtime_env, capture_output=True, timeout=10)
    assert stopped.returncode != 0, shlex.join(health_command())  # the check fails when nothing serves
