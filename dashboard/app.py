"""The dashboard's web application (Starlette): the page, its static files, a WebSocket, one action.

Routes:
    ``GET /``              the page (``static/index.html``)
    ``GET /static/...``    the page's script, style and the vendored chart library
    ``GET /api/state``     JSON: the twin's description, connection state, browsers connected
    ``WS  /ws``            the live stream: ``hello``, ``history``, then ``frame`` / ``event`` / ``twin``
    ``POST /api/control``  ``{"mode": "local" | "remote"}``; operator mode only (403 otherwise)

Every request passes :class:`AuthMiddleware` (HTTP Basic when credentials are set; the WebSocket
also accepts the session cookie the page got). WebSockets from another origin are refused, and the
Content-Security-Policy lets the page load and connect to nothing but this server.
"""

from __future__ import annotations

import asyncio
import json
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect
from twingym.dashboard.feed import TwinFeed
from twingym.dashboard.hub import Hub
from twingym.dashboard.security import DashboardSecurity

STATIC = Path(__file__).parent / "static"
COOKIE = "twingym_dashboard"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class AuthMiddleware:
    """ASGI middleware: refuse requests without the right credentials; add the security headers."""

    def __init__(self, app: Any, security: DashboardSecurity) -> None:
        self.app = app
        self.security = security

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        ok = self.security.accepts(headers.get("authorization"))
        if scope["type"] == "websocket":
            cookie = SimpleCookie(headers.get("cookie", ""))
            token = cookie[COOKIE].value if COOKIE in cookie else None
            ok = ok or self.security.accepts_token(token)
            if not ok or not _same_origin(headers):
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if not ok:
            response = Response("login required\n", status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="twingym dashboard"', **HEADERS})
            await response(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _same_origin(headers: dict[str, str]) -> bool:
    """A WebSocket handshake must come from this page (Origin host == Host), or from a non-browser."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return origin.split("://", 1)[-1].rstrip("/") == headers.get("host", "")


async def _closed(ws: WebSocket) -> None:
    """Return when the page closes its WebSocket (it sends nothing else that matters)."""
    try:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass
    except (WebSocketDisconnect, RuntimeError, OSError):
        return


def create_app(feed: TwinFeed, hub: Hub, security: DashboardSecurity) -> Any:
    """The ASGI application serving ``feed`` through ``hub`` under ``security``."""

    async def index(request: Request) -> Response:
        response = FileResponse(STATIC / "index.html", media_type="text/html")
        if security.authenticated:
            response.set_cookie(COOKIE, security.session_token, httponly=True, samesite="strict",
                                secure=security.tls)
        return response

    async def state(request: Request) -> Response:
        return JSONResponse({"twin": feed.description, "connected": feed.connected, "error": feed.last_error,
                             "browsers": len(hub.clients), "frames": feed.frames,
                             "operator": security.operator, "rate": feed.config.rate})

    async def control(request: Request) -> Response:
        if not security.operator:
            return JSONResponse({"error": "read-only dashboard: operator mode is off"}, status_code=403)
        if request.headers.get("x-twingym-operator") != "1":
            return JSONResponse({"error": "missing X-Twingym-Operator header"}, status_code=403)
        try:
            body = json.loads(await request.body() or b"{}")
            await feed.set_mode(str(body.get("mode")))
        except (ValueError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except ConnectionError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse({"mode": body["mode"]})

    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        box = hub.add()
        closed = asyncio.create_task(_closed(ws))     # notices a closed page even when nothing is sent
        try:
            for text in feed.hello(security.operator):
                await ws.send_text(text)
            while not closed.done():
                take = asyncio.create_task(box.take())
                await asyncio.wait({take, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not take.done():
                    take.cancel()
                    break
                for text in take.result():
                    await ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            closed.cancel()
            hub.remove(box)

    routes = [Route("/", index), Route("/api/state", state), Route("/api/control", control, methods=["POST"]),
              WebSocketRoute("/ws", stream), Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes)
    return AuthMiddleware(app, security)
