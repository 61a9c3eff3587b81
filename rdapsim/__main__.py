"""``python -m rdapsim --port PORT [--host 127.0.0.1] [--default old|not_found]``.

Prints exactly one line on stdout, ``rdapsim ready <base-url>``, once it accepts requests.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys

import uvicorn

from .app import DEFAULTS, build_app


def bind(host: str, port: int) -> socket.socket:
    """Bind before serving so port 0 resolves to a real port we can announce."""
    # proto must say TCP: asyncio sets TCP_NODELAY only on sockets accepted from a listening
    # socket with proto == IPPROTO_TCP; without it small answers wait ~40 ms (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(256)
    return sock


async def serve(default: str, sock: socket.socket) -> None:
    config = uvicorn.Config(
        build_app(default),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        # A slow answer still sleeping must not hold a shutdown up.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # surfaces the start-up error
            return
        await asyncio.sleep(0.01)
    host, port = sock.getsockname()[:2]
    print(f"rdapsim ready http://{host}:{port}", flush=True)
    await task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rdapsim", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8053, help="TCP port (0 = any free)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    parser.add_argument("--default", choices=DEFAULTS, default="old",
                        help="unconfigured domains: old (a stable age from the name) or not_found (404)")
    args = parser.parse_args(argv)
    sock = bind(args.host, args.port)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # uvicorn re-raises the signal after its graceful shutdown; as KeyboardInterrupt the process
    # exits normally instead.
    signal.signal(signal.SIGTERM, stop)
    try:
        asyncio.run(serve(args.default, sock))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
