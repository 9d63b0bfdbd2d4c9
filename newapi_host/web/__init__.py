"""The web console: server-rendered pages, plain JS and CSS of the project's own (no build step).

Register with ``Litestar(route_handlers=[..., *web.ROUTES])``. ``layout`` holds the shared frame,
``pages/`` one module per area, ``static/`` the stylesheet, ``core.js`` and one script per page.
"""

from .pages import ROUTES

__all__ = ["ROUTES"]
