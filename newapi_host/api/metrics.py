"""``GET /metrics``: Prometheus exposition, off unless ``NEWAPI_METRICS=true``.

New API has no such route. It answers 404 while metrics are off; with ``NEWAPI_METRICS_TOKEN``
set it asks for ``Authorization: Bearer <token>`` (what Prometheus' ``authorization`` scrape
setting sends) and answers 401 otherwise.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException

from newapi_host.host import host_of
from newapi_host.relay import metrics


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def scrape(request: Request[Any, Any, Any]) -> Response[bytes]:
    series = metrics.METRICS
    if series is None:
        raise NotFoundException()
    token = host_of(request.app.state).config.metrics_token
    if token:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return Response(b"missing or wrong bearer token\n", status_code=401, media_type="text/plain")
    body, content_type = series.render()
    return Response(body, media_type=content_type)


ROUTES = [scrape]
