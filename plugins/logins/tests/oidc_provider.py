"""A small but real OpenID provider, run as its own process by the tests (``python oidc_provider.py PORT``).

It does what a provider checks: registered client and secret (HTTP Basic or form), codes bound
to client and redirect_uri that work once and expire, PKCE (S256) when a challenge was sent,
RS256 id_tokens (``iss``, ``aud``, ``exp``, ``iat``, ``nonce``, ``sub``) signed with a key
published at its JWKS, and user info for its access tokens. Sign-in is automatic as the user
last set with ``POST /_control`` (JSON), which can also make the next id_token misbehave
(``"id_token": "tampered" | "expired" | "wrong_audience" | "wrong_issuer" | "other_key"``),
as a broken or hostile provider (or someone in between) would. With ``"consent": true`` it
shows an approval page instead, whose link the user follows back (a navigation this site starts).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "gateway-client"
CLIENT_SECRET = "gateway-secret-123"
CODE_TTL = 60

KEY = RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig", "alg": "RS256"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig", "alg": "RS256"})
lock = threading.Lock()
state: dict[str, Any] = {
    "user": {"sub": "oidc-user-1", "preferred_username": "alice", "name": "Alice", "email": "alice@example.com"},
    "id_token": None,
    "codes": {},  # code -> grant
    "tokens": {},  # access token -> claims
    "token_calls": 0,
    "consent": False,
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, error: str) -> None:
        self._json(status, {"error": error})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            i = self.issuer
            self._json(
                200,
                {
                    "issuer": i,
                    "authorization_endpoint": f"{i}/authorize",
                    "token_endpoint": f"{i}/token",
                    "userinfo_endpoint": f"{i}/userinfo",
                    "jwks_uri": f"{i}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                },
            )
        elif url.path == "/jwks":
            self._json(200, {"keys": [KEY.as_dict(private=False)]})
        elif url.path == "/authorize":
            self._authorize(query)
        elif url.path == "/userinfo":
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            with lock:
                claims = state["tokens"].get(token)
            if claims is None:
                self._error(401, "invalid_token")
            else:
                self._json(200, claims)
        elif url.path == "/_control":
            with lock:
                self._json(200, {"token_calls": state["token_calls"]})
        else:
            self._error(404, "not_found")

    def _authorize(self, query: dict[str, str]) -> None:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            self._error(400, "invalid_request")
            return
        redirect_uri = query.get("redirect_uri", "")
        code = secrets.token_urlsafe(16)
        with lock:
            state["codes"][code] = {
                "redirect_uri": redirect_uri,
                "nonce": query.get("nonce"),
                "challenge": query.get("code_challenge"),
                "method": query.get("code_challenge_method"),
                "user": dict(state["user"]),
                "expires": time.time() + CODE_TTL,
            }
        target = f"{redirect_uri}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        if state["consent"]:
            page = f'<!doctype html><a id="approve" href="{html.escape(target, quote=True)}">Approve</a>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if self.path == "/_control":
            change = json.loads(raw or "{}")
            with lock:
                if "user" in change:
                    state["user"] = change["user"]
                if "id_token" in change:
                    state["id_token"] = change["id_token"]
                if "consent" in change:
                    state["consent"] = bool(change["consent"])
            self._json(200, {"ok": True})
            return
        if self.path != "/token":
            self._error(404, "not_found")
            return
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        with lock:
            state["token_calls"] += 1
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            self._error(401, "invalid_client")
            return
        with lock:
            grant = state["codes"].pop(form.get("code", ""), None)  # a code works once
        if form.get("grant_type") != "authorization_code" or grant is None or grant["expires"] < time.time():
            self._error(400, "invalid_grant")
            return
        if grant["redirect_uri"] != form.get("redirect_uri"):
            self._error(400, "invalid_grant")
            return
        if grant["challenge"]:
            verifier = form.get("code_verifier", "")
            if b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
                self._error(400, "invalid_grant")
                return
        self._json(200, self._tokens(grant))

    def _tokens(self, grant: dict[str, Any]) -> dict[str, Any]:
        user = grant["user"]
        access = secrets.token_urlsafe(24)
        with lock:
            state["tokens"][access] = user
            mode = state["id_token"]
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user["sub"], "aud": CLIENT_ID, "iat": now, "exp": now + 300}
        claims.update({k: v for k, v in user.items() if k != "sub"})
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        if mode == "expired":
            claims.update(iat=now - 3600, exp=now - 1800)
        elif mode == "wrong_audience":
            claims["aud"] = "someone-else"
        elif mode == "wrong_issuer":
            claims["iss"] = "https://evil.example"
        key = OTHER_KEY if mode == "other_key" else KEY
        id_token = jwt.encode({"alg": "RS256", "kid": "key-1"}, claims, key)
        if mode == "tampered":  # another subject, the signature left as it was
            head, _, rest = id_token.partition(".")
            _, _, signature = rest.partition(".")
            forged = json.loads(base64.urlsafe_b64decode(rest.partition(".")[0] + "=="))
            forged["sub"] = "someone-else"
            id_token = f"{head}.{b64url(json.dumps(forged).encode())}.{signature}"
        return {"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Provider)
    print("ready", flush=True)
    server.serve_forever()
