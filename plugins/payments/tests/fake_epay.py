"""A small Epay (易支付) gateway for tests, run as a process of its own: ``python fake_epay.py PID KEY``.

It prints its port on the first line of stdout, then serves:

- ``GET|POST /submit.php``: checks the merchant's MD5 signature and its fields as a real Epay
  does (a bad one gets an error page, status 400), keeps the order and renders the pay page;
- ``POST /pay`` (the page's button, form field ``out_trade_no``): "the buyer paid": calls the
  order's ``notify_url`` with the signed notice (``GET``, as most Epay deployments do), records the
  answer, and redirects the browser to ``return_url``;
- ``POST /control/notify`` (JSON ``{"out_trade_no", "overrides": {...}, "method": "GET"|"POST",
  "url": ...}``): sends a notice for a known order again, fields overridden (``money``,
  ``trade_status``, ``sign`` ...) and re-signed unless ``sign`` is given; answers
  ``{"status", "body"}`` of the gateway's reply;
- ``GET /control/orders``: the orders received and the notices sent, as JSON.
"""

from __future__ import annotations

import hashlib
import html
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PID, KEY = sys.argv[1], sys.argv[2]
ORDERS: dict[str, dict[str, str]] = {}
NOTICES: list[dict[str, Any]] = []
LOCK = threading.Lock()
SERIAL = [0]


def sign(params: dict[str, str]) -> str:
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sign", "sign_type") and params[k] != "")
    return hashlib.md5((text + KEY).encode()).hexdigest()


def notify(order: dict[str, str], overrides: dict[str, str], method: str = "GET", url: str = "") -> dict[str, Any]:
    with LOCK:
        SERIAL[0] += 1
        serial = SERIAL[0]
    params = {
        "pid": PID,
        "trade_no": f"2026{serial:08d}",
        "out_trade_no": order["out_trade_no"],
        "type": order["type"],
        "name": order["name"],
        "money": order["money"],
        "trade_status": "TRADE_SUCCESS",
    }
    params.update({k: v for k, v in overrides.items() if k != "sign"})
    params["sign"] = overrides.get("sign") or sign(params)
    params["sign_type"] = "MD5"
    target = url or order["notify_url"]
    encoded = urllib.parse.urlencode(params)
    if method == "POST":
        request = urllib.request.Request(target, data=encoded.encode(), method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    else:
        request = urllib.request.Request(f"{target}?{encoded}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode()
    answer = {"out_trade_no": order["out_trade_no"], "params": params, "status": status, "body": body}
    with LOCK:
        NOTICES.append(answer)
    return answer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _fields(self) -> dict[str, str]:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        if self.headers.get("Content-Type", "").startswith("application/json"):
            return {**query, "__json__": raw}
        return {**query, **dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))}

    def _send(self, status: int, body: str, kind: str = "text/html; charset=utf-8", **headers: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.route()

    def do_POST(self) -> None:
        self.route()

    def route(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        fields = self._fields()
        if path == "/submit.php":
            self.submit(fields)
        elif path == "/pay":
            order = ORDERS.get(fields.get("out_trade_no", ""))
            if order is None:
                return self._send(404, "no such order")
            notify(order, {})
            self._send(302, "", Location=order["return_url"])
        elif path == "/control/notify":
            asked = json.loads(fields["__json__"])
            order = ORDERS[asked["out_trade_no"]]
            answer = notify(order, asked.get("overrides", {}), asked.get("method", "GET"), asked.get("url", ""))
            self._send(200, json.dumps(answer), "application/json")
        elif path == "/control/orders":
            with LOCK:
                self._send(200, json.dumps({"orders": ORDERS, "notices": NOTICES}), "application/json")
        else:
            self._send(404, "not found")

    def submit(self, fields: dict[str, str]) -> None:
        required = ("pid", "type", "out_trade_no", "notify_url", "return_url", "name", "money", "sign")
        missing = [name for name in required if not fields.get(name)]
        if missing:
            return self._send(400, f"<h1>Missing fields: {', '.join(missing)}</h1>")
        if fields["pid"] != PID:
            return self._send(400, "<h1>Unknown merchant</h1>")
        if fields["sign"] != sign(fields):
            return self._send(400, "<h1>Signature error</h1>")
        ORDERS[fields["out_trade_no"]] = {k: fields[k] for k in required if k != "sign"}
        e = html.escape
        self._send(
            200,
            f"""<!doctype html><html><head><title>Fake Epay checkout</title></head><body>
<h1>Fake Epay</h1>
<p>Order <code id="trade">{e(fields["out_trade_no"])}</code>: {e(fields["name"])},
pay <strong id="money">{e(fields["money"])}</strong> CNY with {e(fields["type"])}.</p>
<form method="post" action="/pay"><input type="hidden" name="out_trade_no" value="{e(fields["out_trade_no"])}">
<button id="pay" type="submit">Pay now</button></form></body></html>""",
        )


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
