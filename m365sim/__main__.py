"""``python -m m365sim --port PORT [--state DIR] [--seed FILE] [--config KEY=VALUE ...]``.

Prints exactly one line on stdout, ``m365sim ready <base-url>``, once it accepts requests;
diagnostics (CA path, state folder) go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from .directory import default_seed, load_seed_file
from .server import bind, serve_forever, write_endpoint_file
from .state import SimState


def _parse_config(items: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--config expects KEY=VALUE, got {item!r}")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m m365sim", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8443, help="TCP port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--state", type=Path, help="folder for the CA, certificates and keys")
    parser.add_argument("--seed", type=Path, help="JSON or YAML seed (default: the bundled seed)")
    parser.add_argument("--config", action="append", default=[], help="config switch KEY=VALUE")
    parser.add_argument(
        "--persist",
        action="store_true",
        help="keep mailboxes, subscriptions and grants in the state folder across restarts",
    )
    args = parser.parse_args(argv)
    if args.persist and not args.state:
        parser.error("--persist needs --state")

    seed = load_seed_file(args.seed) if args.seed else default_seed()
    if args.config:
        seed.setdefault("config", {}).update(_parse_config(args.config))
    if args.state:
        state_dir = args.state.resolve()
    else:
        state_dir = Path(tempfile.mkdtemp(prefix="m365sim-"))
        atexit.register(shutil.rmtree, state_dir, True)
    state = SimState(seed, state_dir, persist=args.persist)
    sock = bind(args.port)
    print(f"m365sim ca {state.ca_path}", file=sys.stderr, flush=True)
    print(f"m365sim state {state_dir}", file=sys.stderr, flush=True)

    def ready(url: str) -> None:
        write_endpoint_file(state, url)
        print(f"m365sim ready {url}", flush=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # uvicorn re-raises the signal after its graceful shutdown; turning SIGTERM into
    # KeyboardInterrupt lets the process exit normally (and clean its temporary state).
    signal.signal(signal.SIGTERM, stop)
    try:
        asyncio.run(serve_forever(state, sock, ready))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
