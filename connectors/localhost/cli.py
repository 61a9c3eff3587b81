"""``tap365 serve``: run function_app.py locally (HTTP, queue and timer triggers).

Wire it into the main CLI with ``connectors.localhost.cli.register(sub)``; standalone:
``python -m connectors.localhost.cli serve --port 7071``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from connectors.localhost.config import HostConfigError


def cmd_serve(args: argparse.Namespace, settings: Any = None) -> int:
    """Blocks until Ctrl-C; exit 2 when the app or its settings cannot be loaded."""
    # Imported here: uvicorn is a development dependency, and `tap365` must work without it.
    try:
        from connectors.localhost.host import LocalHostError, serve
    except ImportError as exc:
        print(f"tap365 serve: {exc}; install the development dependencies: pip install -e '.[dev]'",
              file=sys.stderr)
        return 2
    try:
        serve(Path(args.app_root), port=args.port, host=args.host,
              settings_file=Path(args.settings) if args.settings else None,
              processing_visibility=args.processing_visibility)
    except (HostConfigError, LocalHostError) as exc:
        print(f"tap365 serve: {exc}", file=sys.stderr)
        return 2
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to an ``argparse`` subparsers object (``func(args, settings)``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run function_app.py locally like `func start` (HTTP, queue and timer triggers)",
        description="Run the Functions app locally. Prints 'tap365 serve ready <base-url>' once listening; "
                    "Ctrl-C stops it. Function keys (auth levels function/admin) come from "
                    "TAP365_FUNCTION_KEYS (comma-separated).",
    )
    parser.add_argument("--port", type=int, default=None,
                        help="HTTP port (default: Host.LocalHttpPort from the settings, else 7071; 0: any)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--app-root", default=".", metavar="DIR",
                        help="folder with function_app.py and host.json (default: current folder)")
    parser.add_argument("--settings", metavar="FILE",
                        help="settings file (default: <app-root>/local.settings.json, if present)")
    parser.add_argument("--processing-visibility", type=float, default=None, metavar="SECONDS",
                        help="how long a queue message a function is running stays hidden (default: 10 "
                             "minutes, as the Functions host); what a crashed host's messages wait")
    parser.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tap365")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args, None))


if __name__ == "__main__":
    sys.exit(main())
