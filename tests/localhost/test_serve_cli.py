"""``tap365 serve`` as a process: prints the ready line, serves, stops on Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_serve_prints_ready_line_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(textwrap.dedent("""
        import os
        import azure.functions as func
        app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

        @app.route(route="hello/{name}")
        def hello(req):
            return func.HttpResponse(f"hello {req.route_params['name']} {os.environ['GREETING_SUFFIX']}")
    """))
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": "x"}}}))
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"GREETING_SUFFIX": "!"}}))
    env = {k: v for k, v in os.environ.items() if k != "GREETING_SUFFIX"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "connectors.localhost.cli", "serve", "--port", "0", "--app-root", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("tap365 serve ready http://127.0.0.1:"), line
        base_url = line.rsplit(" ", 1)[1]
        with httpx.Client(trust_env=False, timeout=30) as client:
            assert client.get(f"{base_url}/x/hello/ann").text == "hello ann !"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_reports_a_missing_app_and_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "connectors.localhost.cli", "serve", "--port", "0", "--app-root", str(tmp_path)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, timeout=60,
    )
    assert result.returncode == 2
    assert "no function_app.py" in result.stderr


def test_register_adds_serve_with_defaults() -> None:
    import argparse

    from connectors.localhost.cli import cmd_serve, register

    parser = argparse.ArgumentParser(prog="tap365")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["serve"])
    assert (args.port, args.app_root, args.settings, args.host) == (None, ".", None, "127.0.0.1")
    assert args.func is cmd_serve
    args = parser.parse_args(["serve", "--port", "7072", "--app-root", "app", "--settings", "s.json"])
    assert (args.port, args.app_root, args.settings) == (7072, "app", "s.json")
