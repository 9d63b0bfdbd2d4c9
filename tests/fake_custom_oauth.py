"""A local OAuth 2 server on a real socket, standing in for a provider root defines by hand.

It checks what such a server checks: the registered client and its secret (in the form or as HTTP
Basic), a code that works once and only with the redirect_uri it was issued for, the PKCE
verifier when a challenge came with the authorization request, and the bearer token on the
user-info endpoint. Its user answer nests the fields (``data.user.id`` ...), as many do.
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

CLIENT_ID, CLIENT_SECRET = "acme-client", "acme-secret-789"


class FakeProvider:
    def __init__(self) -> None:
        self.user: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.authorizations: list[dict[str, str]] = []  # every authorization request's query
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
                if url.path == "/.well-known/openid-configuration":
                    self._json(
                        200,
                        {
                            "issuer": fake.url,
                            "authorization_endpoint": f"{fake.url}/authorize",
                            "token_endpoint": f"{fake.url}/token",
                            "userinfo_endpoint": f"{fake.url}/userinfo",
                        },
                    )
                elif url.path == "/authorize":
                    fake.authorizations.append(query)
                    if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
                        self._json(400, {"error": "invalid_client"})
                        return
                    code = secrets.token_urlsafe(12)
                    with fake.lock:
                        fake.codes[code] = {**query, "user": json.loads(json.dumps(fake.user))}
                    self.send_response(302)
                    back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                    self.send_header("Location", back)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    with fake.lock:
                        user = fake.tokens.get(token)
                    self._json(200, user) if user is not None else self._json(401, {"error": "invalid_token"})
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                if urlsplit(self.path).path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                client, secret = form.get("client_id"), form.get("client_secret")
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    client, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                if (client, secret) != (CLIENT_ID, CLIENT_SECRET):
                    self._json(401, {"error": "invalid_client", "error_description": "client authentication failed"})
                    return
                with fake.lock:
                    grant = fake.codes.pop(form.get("code", ""), None)
                if form.get("grant_type") != "authorization_code" or grant is None:
                    self._json(400, {"error": "invalid_grant", "error_description": "unknown or used code"})
                    return
                if grant["redirect_uri"] != form.get("redirect_uri"):
                    self._json(400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
                    return
                if grant.get("code_challenge"):
                    digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["code_challenge"]:
                        self._json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
                        return
                token = secrets.token_urlsafe(16)
                with fake.lock:
                    fake.tokens[token] = grant["user"]
                self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeProvider:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
