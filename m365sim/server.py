"""Run the simulator with uvicorn over HTTPS on 127.0.0.1, in the foreground or in a thread."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from typing import Any

import uvicorn

from .app import build_app
from .state import SimState

HOST = "127.0.0.1"


def bind(port: int) -> socket.socket:
    """Bind before serving so port 0 resolves to a real port we can announce."""
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose listening
    # socket has proto == IPPROTO_TCP; without it every response waits ~40 ms (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _uvicorn(state: SimState) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(state),
        ssl_certfile=str(state.server_cert.cert_path),
        ssl_keyfile=str(state.server_cert.key_path),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
        # Idle keep-alive clients must not hold a shutdown up.
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


def base_url(sock: socket.socket) -> str:
    return f"https://{HOST}:{sock.getsockname()[1]}"


def write_endpoint_file(state: SimState, url: str) -> None:
    info: dict[str, Any] = {"baseUrl": url, "caPath": str(state.ca_path), "pid": os.getpid()}
    (state.state_dir / "endpoint.json").write_text(json.dumps(info, indent=2), encoding="utf-8")


async def serve_forever(state: SimState, sock: socket.socket, on_ready: Any) -> None:
    """Foreground mode (``python -m m365sim``): call ``on_ready(url)`` once accepting."""
    server = _uvicorn(state)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # surfaces the start-up error
            return
        await asyncio.sleep(0.01)
    on_ready(base_url(sock))
    await task


class ThreadedServer:
    """The simulator on a background thread (in-process tests)."""

    def __init__(self, state: SimState, port: int = 0) -> None:
        self.state = state
        self._sock = bind(port)
        self._server = _uvicorn(state)
        self._thread = threading.Thread(target=self._run, name="m365sim", daemon=True)
        self.url = base_url(self._sock)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # reported to the starting thread
            self.error = exc

    def start(self, timeout: float = 15.0) -> str:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"m365sim failed to start: {self.error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError("m365sim did not start in time")
            time.sleep(0.01)
        write_endpoint_file(self.state, self.url)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()
