"""A small Creem for tests, run as a process of its own:
``python fake_creem.py API_KEY WEBHOOK_URL SECRET PRODUCTS`` (PRODUCTS: JSON ``{"prod_id": cents}``,
the prices Creem itself knows for each product).

It prints its port on the first line of stdout, then serves:

- ``POST /v1/checkouts`` (JSON, header ``x-api-key: API_KEY``): a checkout for a known product;
  answers ``{id, checkout_url, ...}`` (an unknown product: 404, a wrong key: 403, as Creem);
- ``GET /checkout/<id>``: the checkout page (product, price, a Pay button);
- ``POST /checkout/<id>``: "the customer paid": posts ``checkout.completed`` to WEBHOOK_URL, signed as
  Creem signs (``creem-signature``: hex HMAC-SHA256 of the raw body with SECRET), then redirects the
  browser to the checkout's ``success_url`` with ``checkout_id`` and ``request_id``, as Creem does;
- ``GET /control/checkouts``: the checkout requests received and the webhook answers, as JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY, WEBHOOK_URL, SECRET = sys.argv[1], sys.argv[2], sys.argv[3]
PRICES: dict[str, int] = json.loads(sys.argv[4])
CHECKOUTS: dict[str, dict[str, Any]] = {}
DELIVERIES: list[dict[str, Any]] = []


def deliver(checkout: dict[str, Any]) -> dict[str, Any]:
    amount = PRICES[checkout["product_id"]]
    order = {"id": f"ord_{checkout['id']}", "amount": amount, "amount_paid": amount, "currency": "USD"}
    event = {
        "id": f"evt_{checkout['id']}",
        "eventType": "checkout.completed",
        "object": {
            "id": checkout["id"],
            "object": "checkout",
            "request_id": checkout["request_id"],
            "order": {**order, "status": "paid", "type": "onetime", "product": checkout["product_id"]},
            "customer": checkout.get("customer") or {},
            "metadata": checkout.get("metadata") or {},
            "status": "completed",
        },
    }
    payload = json.dumps(event).encode()
    request = urllib.request.Request(WEBHOOK_URL, data=payload, method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("creem-signature", hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    answer = {"checkout": checkout["id"], "request_id": checkout["request_id"], "status": status}
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
        if path == "/control/checkouts":
            return self._send(200, json.dumps({"checkouts": CHECKOUTS, "deliveries": DELIVERIES}))
        checkout = CHECKOUTS.get(path.removeprefix("/checkout/"))
        if checkout is None:
            return self._send(404, "{}")
        money = f"{PRICES[checkout['product_id']] / 100:.2f} USD"
        self._send(
            200,
            f"""<!doctype html><html><head><title>Fake Creem Checkout</title></head><body>
<h1>Fake Creem Checkout</h1><p id="product">{html.escape(checkout["product_id"])}</p>
<p>Pay <strong id="money">{html.escape(money)}</strong></p>
<form method="post"><button id="pay" type="submit">Pay</button></form></body></html>""",
            "text/html; charset=utf-8",
        )

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path == "/v1/checkouts":
            if self.headers.get("x-api-key") != API_KEY:
                return self._send(403, json.dumps({"error": "Forbidden"}))
            try:
                body = json.loads(raw)
            except ValueError:
                return self._send(400, json.dumps({"error": "bad json"}))
            if body.get("product_id") not in PRICES or not body.get("request_id"):
                return self._send(404, json.dumps({"error": "product not found"}))
            cid = f"ch_{len(CHECKOUTS) + 1}"
            port = self.server.server_address[1]
            checkout = {**body, "id": cid, "checkout_url": f"http://127.0.0.1:{port}/checkout/{cid}"}
            CHECKOUTS[cid] = checkout
            return self._send(200, json.dumps(checkout))
        checkout = CHECKOUTS.get(path.removeprefix("/checkout/"))
        if checkout is None:
            return self._send(404, "{}")
        deliver(checkout)
        query = urllib.parse.urlencode({"checkout_id": checkout["id"], "request_id": checkout["request_id"]})
        target = checkout.get("success_url") or "about:blank"
        self._send(303, "", "text/plain", Location=f"{target}{'&' if '?' in target else '?'}{query}")


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
