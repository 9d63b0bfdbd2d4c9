"""A small Stripe for tests, run as a process of its own: ``python fake_stripe.py API_KEY WEBHOOK_URL SECRET``.

It prints its port on the first line of stdout, then serves:

- ``POST /v1/checkout/sessions`` (what the official SDK sends; form-encoded, ``Bearer API_KEY``):
  keeps the session and answers it, with ``url`` its hosted checkout page;
- ``GET /pay/<id>``: the checkout page (amount, a Pay button);
- ``POST /pay/<id>``: "the customer paid": posts ``checkout.session.completed`` to WEBHOOK_URL,
  signed as Stripe signs (``Stripe-Signature: t=..,v1=HMAC-SHA256("t.payload")``), then redirects
  the browser to the session's ``success_url``;
- ``GET /control/sessions``: the sessions created and the webhook answers, as JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY, WEBHOOK_URL, SECRET = sys.argv[1], sys.argv[2], sys.argv[3]
SESSIONS: dict[str, dict[str, Any]] = {}
DELIVERIES: list[dict[str, Any]] = []


def deliver(session: dict[str, Any]) -> dict[str, Any]:
    event = {
        "id": f"evt_{session['id']}",
        "object": "event",
        "type": "checkout.session.completed",
        "data": {"object": {**session, "status": "complete", "payment_status": "paid"}},
    }
    payload = json.dumps(event).encode()
    at = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    request = urllib.request.Request(WEBHOOK_URL, data=payload, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Stripe-Signature", f"t={at},v1={digest}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    answer = {"session": session["id"], "status": status}
    DELIVERIES.append(answer)
    return answer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: str, kind: str = "application/json", **headers: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/control/sessions":
            return self._send(200, json.dumps({"sessions": SESSIONS, "deliveries": DELIVERIES}))
        session = SESSIONS.get(path.removeprefix("/pay/"))
        if session is None:
            return self._send(404, "{}")
        money = f"{session['amount_subtotal'] / 100:.2f} {session['currency'].upper()}"
        self._send(
            200,
            f"""<!doctype html><html><head><title>Fake Stripe Checkout</title></head><body>
<h1>Fake Stripe Checkout</h1><p>Pay <strong id="money">{html.escape(money)}</strong></p>
<form method="post"><button id="pay" type="submit">Pay</button></form></body></html>""",
            "text/html; charset=utf-8",
        )

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        if path == "/v1/checkout/sessions":
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                return self._send(401, json.dumps({"error": {"type": "invalid_request_error", "message": "bad key"}}))
            form = dict(urllib.parse.parse_qsl(raw))
            sid = f"cs_test_{len(SESSIONS) + 1}"
            port = self.server.server_address[1]
            session = {
                "id": sid,
                "object": "checkout.session",
                "client_reference_id": form.get("client_reference_id"),
                "amount_subtotal": int(form.get("line_items[0][price_data][unit_amount]", "0")),
                "amount_total": int(form.get("line_items[0][price_data][unit_amount]", "0")),
                "currency": form.get("line_items[0][price_data][currency]", "usd"),
                "success_url": form.get("success_url"),
                "url": f"http://127.0.0.1:{port}/pay/{sid}",
            }
            SESSIONS[sid] = session
            return self._send(200, json.dumps(session))
        session = SESSIONS.get(path.removeprefix("/pay/"))
        if session is None:
            return self._send(404, "{}")
        deliver(session)
        self._send(303, "", "text/plain", Location=session["success_url"])


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
