"""Redirector throughput: redirects per second and p99 latency for a link with a cached verdict,
next to a bare uvicorn app that only answers 302, in one run, on loopback.

    .venv/bin/python bench/redirector_bench.py [--seconds 10] [--connections 32]

Both apps are bare ASGI callables (the redirector's is the thin route function_app.py has) in
the same kind of single-process uvicorn server (its own process each, one
at a time) and are loaded by ``wrk`` (Debian package) when installed, else by a bounded asyncio
load generator. The redirector does all it does per click: verify the signed link, rate limit,
policy and exclusions, scanner classification, intelligence lookup, cached verdict, click log
(in-memory stores here: the Azure Table round trips are a deployment cost, not the code's).
Prints both rates, both p99s and the ratio (aim: at least 70 %).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEY = b"b" * 32
DEST = "https://www.example.com/news/2026/11/article?id=42&utm_source=mail"


def _codec(port: int) -> Any:
    from tap_core.urls.links import LinkCodec, LinkKeyring

    return LinkCodec(f"http://127.0.0.1:{port}/api/r", LinkKeyring({"k1": KEY}, "k1"))


def _link(port: int) -> str:
    from tap_core.urls.links import LinkContext, message_ref

    return _codec(port).wrap(
        DEST, LinkContext("bench-tenant", "ann@bench.example", message_ref("m1"), 1_700_000_000)
    )


def _redirector_app(port: int) -> Any:
    from connectors.click_service import (
        CachedVerdict,
        ClickRequest,
        ClickService,
        ClickSettings,
        MemoryClickLog,
        MemoryRateLimiter,
        MemoryVerdictCache,
    )
    from tap_core.click.analyze import ClickAnalyzer
    from tap_core.policy import Policy
    from tap_core.urls.intel import IntelIndex
    from tap_core.urls.normalize import normalize_url

    cache = MemoryVerdictCache(ttl_seconds=86400)
    norm = normalize_url(DEST)
    assert norm is not None
    cache.put(norm.url, CachedVerdict(0.0, (), None, time.time()))
    policy = Policy()
    log = MemoryClickLog()
    settings = ClickSettings(click_rate_limit=10**9)  # measure the path, not the limiter's refusals
    service = ClickService(
        _codec(port),
        lambda _t: policy,
        cache,
        IntelIndex(),
        ClickAnalyzer(None),
        log,
        MemoryRateLimiter(),
        settings,
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The thin route function_app.py has, as a bare ASGI callable (no framework overhead)."""
        if scope["type"] != "http":
            return
        if len(log.records) > 5_000:
            log.records.clear()  # bounded memory over a long run
        path = scope["path"]
        token = path[len("/api/r/") :] if path.startswith("/api/r/") else ""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client") or ("", 0)
        reply = await service.handle(
            ClickRequest(scope["method"], token, scope["query_string"].decode("latin-1"), headers, client[0])
        )
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})

    return app


async def _bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Only a 302, as small as an ASGI app gets."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 302,
            "headers": [(b"location", DEST.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _serve(kind: str, port: int) -> None:
    import uvicorn

    app = _redirector_app(port) if kind == "redirector" else _bare_app
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False, lifespan="off")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): capacity per CPU-second is far less
    sensitive to other load on the machine than requests per wall-clock second."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    _wrk.requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[attr-defined, union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert m is not None
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return rate, p99


async def _python_load(url: str, seconds: int, connections: int) -> tuple[float, float]:
    import httpx

    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, limits=httpx.Limits(max_connections=connections)
    ) as client:

        async def worker() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await client.get(url)
                assert r.status_code == 302
                latencies.append((time.perf_counter() - t) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.quantiles(latencies, n=100)[98]


class _Server:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = _free_port()
        self.proc = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(kind, self.port), daemon=True
        )

    def __enter__(self) -> _Server:
        self.proc.start()
        _wait(self.port)
        import httpx

        # The same request line for both: the bare app gets the very link, and ignores it.
        self.url = _link(self.port)
        first = httpx.get(self.url, follow_redirects=False, trust_env=False)
        assert first.status_code == 302 and first.headers["location"] == DEST, (
            first.status_code,
            first.text[:200],
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join(timeout=10)


def run(server: _Server, seconds: int, connections: int, use_wrk: bool) -> tuple[float, float, float]:
    """(requests per second, p99 ms, requests per CPU-second of the server)."""
    assert server.proc.pid is not None
    cpu = _cpu_seconds(server.proc.pid)
    if use_wrk:
        rate, p99 = _wrk(server.url, seconds, connections)
        count = float(_wrk.requests)  # type: ignore[attr-defined]
    else:
        rate, p99 = asyncio.run(_python_load(server.url, seconds, connections))
        count = rate * seconds
    used = _cpu_seconds(server.proc.pid) - cpu
    return rate, p99, count / used if used > 0 else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=3, help="length of one round per app")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--python-load", action="store_true", help="use the asyncio generator even if wrk exists")
    args = ap.parse_args(argv)
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    print(
        f"load generator: {'wrk' if use_wrk else 'python asyncio'}; {args.seconds} s each, "
        f"{args.connections} connections; cpus {os.cpu_count()}"
    )
    # Both servers up at once; short rounds alternate between them so that load from anything
    # else on the machine falls on both alike; the medians of the rounds are compared.
    bare_runs: list[tuple[float, float, float]] = []
    red_runs: list[tuple[float, float, float]] = []
    with _Server("bare") as bare, _Server("redirector") as red:
        run(bare, 1, args.connections, use_wrk)  # warm-up
        run(red, 1, args.connections, use_wrk)
        for i in range(args.rounds):
            if i % 2:  # alternate who goes first, so a trend in the background load favours neither
                red_runs.append(run(red, args.seconds, args.connections, use_wrk))
                bare_runs.append(run(bare, args.seconds, args.connections, use_wrk))
            else:
                bare_runs.append(run(bare, args.seconds, args.connections, use_wrk))
                red_runs.append(run(red, args.seconds, args.connections, use_wrk))
    b_rate, b_p99 = statistics.median(r[0] for r in bare_runs), statistics.median(r[1] for r in bare_runs)
    r_rate, r_p99 = statistics.median(r[0] for r in red_runs), statistics.median(r[1] for r in red_runs)
    b_cpu, r_cpu = statistics.median(r[2] for r in bare_runs), statistics.median(r[2] for r in red_runs)
    print(f"{'app':<30}{'req/s':>9}{'p99 ms':>9}{'req/CPU-s':>11}   (medians of {args.rounds} rounds)")
    print(f"{'bare uvicorn 302':<30}{b_rate:>9.0f}{b_p99:>9.2f}{b_cpu:>11.0f}")
    print(f"{'redirector (cached verdict)':<30}{r_rate:>9.0f}{r_p99:>9.2f}{r_cpu:>11.0f}")
    print(
        "rounds req/s (bare/redirector): "
        + ", ".join(f"{b[0]:.0f}/{r[0]:.0f}" for b, r in zip(bare_runs, red_runs, strict=True))
    )
    paired = statistics.median(r[0] / b[0] for b, r in zip(bare_runs, red_runs, strict=True))
    print(
        f"ratio redirector / bare: {r_rate / b_rate:.1%} wall-clock rate (medians), {paired:.1%} "
        f"(median of paired rounds), {r_cpu / b_cpu:.1%} per CPU-second (aim >= 70 %)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
