"""The web console: server-rendered pages, plain JS and CSS of the project's own (no build step).

Register with ``Litestar(route_handlers=[..., *web.ROUTES])``.
"""

from .pages import ROUTES

__all__ = ["ROUTES"]
