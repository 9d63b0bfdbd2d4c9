"""A local stand-in for GitHub's, Discord's and LinuxDO's OAuth endpoints, on a real socket.

It checks what they check: the registered client and secret, a code that works once and only
with its redirect_uri, PKCE when a challenge was sent, the bearer token on the user endpoint.
The user it answers with is whatever the test set last (``server.user = {...}``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

CLIENT_ID, CLIENT_SECRET = "fake-client", "fake-secret-456"
TOKEN_PATHS = ("/login/oauth/access_token", "/oauth2/token")  # GitHub's; Discord's and LinuxDO's
USER_PATHS = ("/user", "/users/@me", "/api/user")


class FakeOAuth:
    def __init__(self) -> None:
        self.user: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path.endswith("/authorize"):
                    if query.get("client_id") != CLIENT_ID:
                        self._json(400, {"error": "invalid_client"})
                        return
                    code = secrets.token_urlsafe(12)
                    with fake.lock:
                        fake.codes[code] = {**query, "user": dict(fake.user)}
                    self.send_response(302)
                    target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif url.path in USER_PATHS:
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    with fake.lock:
                        user = fake.tokens.get(token)
                    self._json(200, user) if user is not None else self._json(401, {"message": "Bad credentials"})
                else:
                    self._json(404, {"message": "Not Found"})

            def do_POST(self) -> None:
                form = {
                    k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()
                }
                if urlsplit(self.path).path not in TOKEN_PATHS:
                    self._json(404, {"message": "Not Found"})
                    return
                client, secret = form.get("client_id"), form.get("client_secret")
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    client, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                if (client, secret) != (CLIENT_ID, CLIENT_SECRET):
                    self._json(401, {"error": "invalid_client"})
                    return
                with fake.lock:
                    grant = fake.codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    self._json(400, {"error": "bad_verification_code"})
                    return
                if grant.get("code_challenge"):
                    digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["code_challenge"]:
                        self._json(400, {"error": "invalid_grant"})
                        return
                token = secrets.token_urlsafe(16)
                with fake.lock:
                    fake.tokens[token] = grant["user"]
                self._json(200, {"access_token": token, "token_type": "bearer", "scope": grant.get("scope", "")})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeOAuth:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
