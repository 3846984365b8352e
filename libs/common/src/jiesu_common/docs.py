"""``/docs`` (Swagger UI) and ``/redoc`` with their assets served by the service itself.

A government intranet has no internet: the pages load nothing from a CDN. The assets come
pinned from the ``fastapi-offline`` wheel; the Swagger UI start-up script is our own file,
as the pages' Content-Security-Policy allows no inline script.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
VENDOR = Path(fastapi_offline.__file__).parent / "static"
OWN = Path(__file__).parent / "docs_static"
# The documentation pages run Swagger UI and ReDoc from this origin only; ReDoc styles
# itself inline and renders with a worker made from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets; the app must be built without its own."""
    title = escape(app.title)
    openapi = escape(app.openapi_url or "/openapi.json")
    app.mount(f"{ASSETS_PATH}/vendor", StaticFiles(directory=VENDOR), name="docs-vendor")
    app.mount(f"{ASSETS_PATH}/own", StaticFiles(directory=OWN), name="docs-own")
    headers = {"Content-Security-Policy": DOCS_CSP}

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(
            f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title} — API</title>
<link rel="icon" href="{ASSETS_PATH}/vendor/favicon.png">
<link rel="stylesheet" href="{ASSETS_PATH}/vendor/swagger-ui.css"></head>
<body><div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{ASSETS_PATH}/vendor/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PATH}/own/swagger-init.js"></script></body></html>""",
            headers=headers,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(
            f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title} — API</title>
<link rel="icon" href="{ASSETS_PATH}/vendor/favicon.png"></head>
<body><redoc spec-url="{openapi}"></redoc>
<script src="{ASSETS_PATH}/vendor/redoc.standalone.js"></script></body></html>""",
            headers=headers,
        )
