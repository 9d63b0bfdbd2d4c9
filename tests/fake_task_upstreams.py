"""A fake Midjourney-Proxy and a fake Suno API, run as a process of their own for the task tests.

``python tests/fake_task_upstreams.py`` listens on a free port and prints ``PORT <n>``. It checks
the keys the real services check (``mj-api-secret`` for Midjourney-Proxy, ``Authorization:
Bearer`` for Suno) and plays each task through New API's lifecycle, one step per poll of that
task (``list-by-condition``, ``/mj/task/{id}/fetch`` or ``/suno/fetch``)::

    NOT_START -> SUBMITTED -> IN_PROGRESS (50%) -> SUCCESS | FAILURE

The prompt steers a task: ``FAIL`` ends it in FAILURE, ``HANG`` keeps it IN_PROGRESS forever,
``REJECT`` makes the submit itself fail (Midjourney code 24, Suno ``{"code": "error"}``),
``EXISTS`` answers Midjourney code 21 with a finished image, ``NOACCOUNT`` code 3 (no account). ``POST /_control`` with
``{"fetch_delay": seconds}`` slows every poll answer (to kill a gateway mid-poll);
``GET /_state`` tells what happened (submits, polls, tasks).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MJ_KEY = "mj-fake-secret"
SORA_KEY = "sk-fake-sora"
VIDEO = b"\x00\x00\x00\x18ftypmp42fake video bytes"
SUNO_KEY = "suno-fake-key"


def _png(width: int = 64, height: int = 64) -> bytes:
    """A small opaque image (a blue-to-orange gradient), so a thumbnail is visible on screenshots."""
    import struct
    import zlib

    rows = b"".join(
        b"\0" + b"".join(bytes((40 + 3 * x, 90 + y, 200 - 2 * x)) for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = _png()
MJ_SUBMITS = {
    "imagine", "change", "simple-change", "describe", "blend", "action", "modal", "shorten", "video",
    "edits", "upload-discord-images",
}  # fmt: skip
STEPS = ("NOT_START", "SUBMITTED", "IN_PROGRESS")

lock = threading.Lock()
tasks: dict[str, dict[str, Any]] = {}
state: dict[str, Any] = {"submits": [], "polls": 0, "fetch_delay": 0.0}
_counter = [int(time.time() * 1000) * 1000]


def new_mj_id() -> str:
    with lock:
        _counter[0] += 1
        return str(_counter[0])


def outcome_of(text: str) -> str:
    for word in ("FAIL", "HANG", "REJECT", "EXISTS", "NOACCOUNT"):
        if word in text:
            return word
    return "OK"


def advance(task: dict[str, Any]) -> None:
    """One poll of a task moves it one step on (a hanging one stops at IN_PROGRESS)."""
    task["polls"] += 1
    step = task["polls"]
    if step < len(STEPS):
        task["status"], task["progress"] = STEPS[step], "50%" if STEPS[step] == "IN_PROGRESS" else "0%"
        return
    if task["outcome"] == "HANG":
        task["status"], task["progress"] = "IN_PROGRESS", "50%"
        return
    if task["status"] in ("SUCCESS", "FAILURE"):
        return
    task["finish"] = int(time.time() * 1000)
    if task["outcome"] == "FAIL":
        task["status"], task["progress"], task["fail_reason"] = "FAILURE", "", "Banned prompt detected"
    else:
        task["status"], task["progress"] = "SUCCESS", "100%"


def mj_dto(task: dict[str, Any], base: str) -> dict[str, Any]:
    done = task["status"] == "SUCCESS"
    return {
        "id": task["id"],
        "action": task["action"],
        "prompt": task["prompt"],
        "promptEn": task["prompt"],
        "description": "/imagine " + task["prompt"],
        "state": task.get("state", ""),
        "submitTime": task["submit"],
        "startTime": task["submit"] + 1 if task["polls"] >= 2 else 0,
        "finishTime": task.get("finish", 0),
        "imageUrl": f"{base}/images/{task['id']}.png" if done else "",
        "status": task["status"],
        "progress": task["progress"],
        "failReason": task.get("fail_reason", ""),
        "buttons": [{"customId": f"MJ::JOB::upsample::1::{task['id']}", "label": "U1"}] if done else [],
        "properties": {"finalPrompt": task["prompt"]},
    }


def suno_dto(task: dict[str, Any]) -> dict[str, Any]:
    done = task["status"] == "SUCCESS"
    clips = [{"id": task["id"] + "-clip", "audio_url": f"https://cdn.example/{task['id']}.mp3"}] if done else []
    return {
        "task_id": task["id"],
        "action": task["action"],
        "status": task["status"],
        "progress": task["progress"],
        "fail_reason": task.get("fail_reason", ""),
        "submit_time": task["submit"] // 1000,
        "start_time": task["submit"] // 1000,
        "finish_time": task.get("finish", 0) // 1000,
        "data": clips,
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reply(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def raw(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def form(self, raw: bytes) -> dict[str, Any] | None:
        """A JSON object or a multipart form (as OpenAI's SDK sends ``videos.create``)."""
        kind = self.headers.get("Content-Type", "")
        if kind.startswith("multipart/form-data"):
            from email import policy
            from email.parser import BytesParser

            message = BytesParser(policy=policy.HTTP).parsebytes(f"Content-Type: {kind}\r\n\r\n".encode() + raw)
            fields: dict[str, Any] = {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True) or b""
                fields[name] = payload.decode() if part.get_filename() is None else {"file": len(payload)}
            return fields
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def mj_authorized(self) -> bool:
        if self.headers.get("mj-api-secret") != MJ_KEY:
            self.reply(401, {"code": 401, "description": "invalid mj-api-secret"})
            return False
        return True

    def suno_authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {SUNO_KEY}":
            self.reply(401, {"code": "unauthorized", "message": "invalid key", "data": None})
            return False
        return True

    def sora_authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {SORA_KEY}":
            self.reply(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
            return False
        return True

    def sora_post(self, body: dict[str, Any] | None) -> None:
        if body is None or not body.get("prompt"):
            self.reply(400, {"error": {"message": "prompt is required", "type": "invalid_request_error"}})
            return
        outcome = outcome_of(str(body["prompt"]))
        with lock:
            state["submits"].append({"path": "/v1/videos", "body": body})
        if outcome == "REJECT":
            self.reply(400, {"error": {"message": "moderation_blocked", "type": "invalid_request_error"}})
            return
        video_id = f"video_{uuid.uuid4().hex}"
        task = {"id": video_id, "action": "VIDEO", "prompt": body["prompt"], "outcome": outcome, "polls": 0}
        task.update(status="NOT_START", progress="0%", submit=int(time.time() * 1000), body=body)
        with lock:
            tasks[video_id] = task
        self.reply(200, self.video(task))

    def video(self, task: dict[str, Any]) -> dict[str, Any]:
        status = {"SUCCESS": "completed", "FAILURE": "failed", "IN_PROGRESS": "in_progress"}.get(
            task["status"], "queued"
        )
        failed = status == "failed"
        return {
            "id": task["id"], "object": "video", "model": task["body"].get("model", "sora-2"), "status": status,
            "progress": int(task["progress"].rstrip("%") or 0) if not failed else 0,
            "created_at": task["submit"] // 1000, "completed_at": task.get("finish", 0) // 1000 or None,
            "seconds": task["body"].get("seconds", "4"), "size": task["body"].get("size", "720x1280"),
            "error": {"code": "moderation", "message": task.get("fail_reason")} if failed else None,
        }  # fmt: skip

    def sora_get(self, parts: list[str]) -> None:
        with lock:
            task = tasks.get(parts[2])
        if task is None:
            self.reply(404, {"error": {"message": "video not found", "type": "invalid_request_error"}})
        elif len(parts) == 4 and parts[3] == "content":
            ready = task["status"] == "SUCCESS"
            self.reply(200 if ready else 409, VIDEO if ready else b'{"error": {"message": "not ready"}}', "video/mp4")
        else:
            self.slow()
            with lock:
                advance(task)
                self.reply(200, self.video(task))

    def slow(self) -> None:
        with lock:
            state["polls"] += 1
            delay = state["fetch_delay"]
        if delay:
            time.sleep(delay)

    # -- GET ------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["_state"]:
            with lock:
                self.reply(200, {**state, "tasks": tasks})
            return
        if parts[0] == "images" and len(parts) == 2:
            self.reply(200, PNG, "image/png")
            return
        if parts[:2] == ["v1", "videos"] and len(parts) in (3, 4):
            if self.sora_authorized():
                self.sora_get(parts)
            return
        if parts[:2] == ["mj", "task"] and len(parts) == 4:
            if not self.mj_authorized():
                return
            with lock:
                task = tasks.get(parts[2])
            if task is None:
                self.reply(404, {"code": 4, "description": "task not found"})
            elif parts[3] == "fetch":
                self.slow()
                with lock:
                    advance(task)
                    self.reply(200, mj_dto(task, self.base))
            elif parts[3] == "image-seed":
                self.reply(200, {"code": 1, "description": "success", "result": "4242"})
            else:
                self.reply(404, {"code": 4, "description": "unknown route"})
            return
        self.reply(404, {"error": "not found"})

    # -- POST -----------------------------------------------------------------------------------

    def do_POST(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        raw = self.raw()
        if parts == ["v1", "videos"]:
            if self.sora_authorized():
                self.sora_post(self.form(raw))
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if parts == ["_control"]:
            with lock:
                state.update(body or {})
            self.reply(200, {"ok": True})
            return
        if parts[0] == "mj":
            if self.mj_authorized():
                self.mj_post(parts, body)
            return
        if parts[0] == "suno":
            if self.suno_authorized():
                self.suno_post(parts, body)
            return
        self.reply(404, {"error": "not found"})

    def mj_post(self, parts: list[str], body: Any) -> None:
        if not isinstance(body, dict):
            self.reply(400, {"code": 4, "description": "body must be JSON"})
            return
        if parts[:2] == ["mj", "task"] and parts[2:] == ["list-by-condition"]:
            self.slow()
            with lock:
                found = [tasks[i] for i in body.get("ids", []) if i in tasks]
                for task in found:
                    advance(task)
                self.reply(200, [mj_dto(t, self.base) for t in found])
            return
        is_swap = parts[1:] == ["insight-face", "swap"]
        if not is_swap and not (parts[1] == "submit" and len(parts) == 3 and parts[2] in MJ_SUBMITS):
            self.reply(404, {"code": 4, "description": "unknown route"})
            return
        prompt = str(body.get("prompt") or body.get("content") or "")
        origin = tasks.get(str(body.get("taskId") or ""))
        if origin is not None and not body.get("prompt"):
            prompt = origin["prompt"]
        outcome = outcome_of(prompt)
        with lock:
            state["submits"].append({"path": "/" + "/".join(parts), "body": body})
        if outcome == "REJECT":
            self.reply(200, {"code": 24, "description": "可能包含敏感词", "properties": {"bannedWord": "REJECT"}})
            return
        if outcome == "NOACCOUNT":
            self.reply(200, {"code": 3, "description": "无可用的账号实例", "result": None})
            return
        mj_id = new_mj_id()
        action = "SWAP_FACE" if is_swap else str(body.get("action") or parts[2].upper())
        task = {"id": mj_id, "action": action, "prompt": prompt, "outcome": outcome, "polls": 0}
        task.update(status="NOT_START", progress="0%", submit=int(time.time() * 1000))
        with lock:
            tasks[mj_id] = task
        if outcome == "EXISTS":
            task.update(status="SUCCESS", progress="100%", polls=9, finish=task["submit"])
            props = {"status": "SUCCESS", "imageUrl": f"{self.base}/images/{mj_id}.png"}
            self.reply(200, {"code": 21, "description": "任务已存在", "result": mj_id, "properties": props})
            return
        self.reply(200, {"code": 1, "description": "提交成功", "result": mj_id, "properties": {}})

    def suno_post(self, parts: list[str], body: Any) -> None:
        if not isinstance(body, dict):
            self.reply(400, {"code": "error", "message": "body must be JSON", "data": None})
            return
        if parts == ["suno", "fetch"]:
            self.slow()
            with lock:
                found = [tasks[i] for i in body.get("ids", []) if i in tasks]
                for task in found:
                    advance(task)
                self.reply(200, {"code": "success", "message": "", "data": [suno_dto(t) for t in found]})
            return
        if len(parts) != 3 or parts[1] != "submit" or parts[2] not in ("music", "lyrics"):
            self.reply(404, {"code": "error", "message": "unknown route", "data": None})
            return
        prompt = str(body.get("prompt") or body.get("gpt_description_prompt") or "")
        outcome = outcome_of(prompt)
        with lock:
            state["submits"].append({"path": "/" + "/".join(parts), "body": body})
        if outcome == "REJECT":
            self.reply(200, {"code": "error", "message": "prompt rejected", "data": None})
            return
        task_id = str(uuid.uuid4())
        task = {"id": task_id, "action": parts[2].upper(), "prompt": prompt, "outcome": outcome, "polls": 0}
        task.update(status="NOT_START", progress="0%", submit=int(time.time() * 1000))
        with lock:
            tasks[task_id] = task
        self.reply(200, {"code": "success", "message": "", "data": task_id})


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())


class FakeUpstreams:
    """The fake as a child process (see the module's docstring): ``url``, ``state()``, ``control()``."""

    def __init__(self) -> None:
        self.proc: Any = None
        self.url = ""

    def start(self) -> FakeUpstreams:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, __file__], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the fake upstream did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def state(self) -> dict[str, Any]:
        import httpx

        return httpx.get(f"{self.url}/_state", timeout=10).json()

    def control(self, **values: Any) -> None:
        import httpx

        httpx.post(f"{self.url}/_control", json=values, timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
