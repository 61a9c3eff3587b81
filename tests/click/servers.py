"""Loopback servers for the click tests: uvicorn in a thread on an OS-chosen port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.click_service import ClickRequest, ClickService


@contextmanager
def serve(app: object) -> Iterator[int]:
    """Run ``app`` on 127.0.0.1 in a thread; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))  # type: ignore[arg-type]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def redirector_app(service: ClickService) -> Starlette:
    """The route function_app.py will have: GET /api/r/{*token}, raw query handed over."""

    async def route(request: Request) -> Response:
        reply = await service.handle(
            ClickRequest(
                method=request.method,
                path_token=request.path_params["token"],
                raw_query=request.scope.get("query_string", b"").decode("latin-1"),
                headers=dict(request.headers),
                client_ip=request.client.host if request.client else "",
            )
        )
        return Response(reply.body, status_code=reply.status, headers=reply.headers)

    return Starlette(routes=[Route("/api/r/{token:path}", route, methods=["GET", "HEAD", "POST"])])
