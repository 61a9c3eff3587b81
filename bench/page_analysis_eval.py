"""Evaluate time-of-click page analysis on the corpus pages, through the real safe fetcher.

    .venv/bin/python bench/page_analysis_eval.py [--corpus ../shared/corpus] [--verbose]

Serves every set the page scorer learns from (``connectors.page_training.PAGE_SETS``: the
training corpus's ``train/pages-benign`` and ``train/pages-phish``, the dev sets
``pages/login-benign``, ``pages/phish-html``, ``pages/kit-museum``) on 127.0.0.1 (port 80 when it
can be bound): a legitimate page under the host it was saved from when it tells
(``origin_host``), a phishing page under a neutral host ``p<hash>.pages-eval.example`` as a kit
is; an injected resolver maps exactly these names to loopback. Runs ``ClickAnalyzer.analyze``
exactly as the redirector does (with the renderer when ``--render`` and Chromium is found).

Each set is reported in two parts, split as the page trainer splits (``page_name``: the path
under the corpus, hashed): the training part (what the scorer learned from) and the validation
part (what it never saw, and what it is judged on). Prints per part: pages, MALICIOUS %,
SUSPICIOUS %, flagged %. Targets on validation: phishing flagged >= 95 %, MALICIOUS >= 80 %;
legitimate MALICIOUS <= 1 %, SUSPICIOUS <= 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.click_service import ClickSettings, chromium_renderer
from connectors.fetcher import SafeFetcher
from connectors.page_training import (
    NEUTRAL_SUFFIX,
    PAGE_SETS,
    page_files,
    page_name,
    read_page,
    serving_host,
)
from tap_core.click.analyze import ClickAnalyzer
from tap_core.click.fetch import FetchLimits
from tap_core.detect.training import is_validation
from tap_core.model.findings import Verdict

HOST_SUFFIX = NEUTRAL_SUFFIX


def collect(corpus: Path) -> dict[str, list[tuple[Path, str]]]:
    """Pages per reported set, each with how it is served ("origin" or "neutral"): the page
    trainer's sets (``PAGE_SETS``), each in its training and its validation part."""
    pages: dict[str, list[tuple[Path, str]]] = {}
    for folder, _label, served in PAGE_SETS:
        files = page_files(corpus / folder)
        name = Path(folder).name
        pages[f"{name} (training)"] = [(p, served) for p in files if not is_validation(page_name(p, corpus))]
        pages[f"{name} (validation)"] = [(p, served) for p in files if is_validation(page_name(p, corpus))]
    return pages


def bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", 80))  # the default port: no "unusual port" finding for every page
    except OSError:
        sock.bind(("127.0.0.1", 0))
    return sock


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="../shared/corpus", type=Path)
    ap.add_argument("--verbose", action="store_true", help="one line per page")
    ap.add_argument("--json", metavar="FILE", help="write per-page results here")
    ap.add_argument("--render", action="store_true",
                    help="render script-built pages in headless Chromium, as the redirector does")
    args = ap.parse_args(argv)
    pages = collect(args.corpus)
    if not any(pages.values()):
        print(f"no pages under {args.corpus}/pages", file=sys.stderr)
        return 2
    by_host: dict[str, Path] = {}
    jobs: list[tuple[str, str, str]] = []
    hosts: set[str] = set()
    for set_name, files in pages.items():
        for path, served in files:
            n = len(by_host) + 1
            host = serving_host(page_name(path, args.corpus), read_page(path), served)
            by_host[str(n)] = path
            hosts.add(host)
            jobs.append((set_name, host, f"/{n}/index.html"))

    async def page(request: Request) -> Response:
        path = by_host.get(request.url.path.strip("/").split("/")[0])
        if path is None:
            return PlainTextResponse("not found", status_code=404)
        return HTMLResponse(path.read_bytes().decode("utf-8", "replace"))

    sock = bind()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/{p:path}", page)]),
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)

    async def resolver(host: str, _port: int) -> list[str]:
        if host in hosts:
            return ["127.0.0.1"]
        raise OSError("the evaluation resolves only its own names")

    async def run() -> list[dict[str, object]]:
        fetcher = SafeFetcher(
            allow_networks=[ipaddress.ip_network("127.0.0.0/8")],
            resolver=resolver,
            limits=FetchLimits(timeout_seconds=20),
        )
        renderer = chromium_renderer(ClickSettings(click_render=True), fetcher) if args.render else None
        if args.render and renderer is None:
            raise SystemExit("--render: no Chromium found (TAP365_CHROMIUM_PATH)")
        analyzer = ClickAnalyzer(fetcher, renderer=renderer)
        ClickAnalyzer.warm_up()
        out: list[dict[str, object]] = []
        for set_name, host, page_path in jobs:
            url = f"http://{host}" if port == 80 else f"http://{host}:{port}"
            deadline = asyncio.get_running_loop().time() + 20
            analysis = await analyzer.analyze(url + page_path, deadline=deadline)
            path = by_host[page_path.split("/")[1]]
            out.append(
                {
                    "set": set_name,
                    "page": str(path.relative_to(args.corpus)),
                    "url": url + page_path,
                    "verdict": analysis.verdict.value,
                    "score": analysis.score,
                    "reasons": analysis.reasons,
                    "fetched": analysis.fetched,
                    "error": analysis.error,
                }
            )
        if renderer is not None:
            await renderer.aclose()
        await fetcher.aclose()
        return out

    started = time.perf_counter()
    results = asyncio.run(run())
    elapsed = time.perf_counter() - started
    server.should_exit = True
    thread.join(timeout=5)
    if args.verbose:
        for r in results:
            print(f"{r['set']:<26} {r['verdict']:<10} {r['score']:>5} {r['page']}  {','.join(r['reasons'])}")  # type: ignore[arg-type]
    print(f"port {port}; {len(results)} pages in {elapsed:.1f} s")
    print(f"{'set':<27}{'pages':>6}{'malicious':>11}{'suspicious':>12}{'flagged':>9}{'not fetched':>13}")
    for set_name in pages:
        rows = [r for r in results if r["set"] == set_name]
        if not rows:
            continue
        counts = Counter(r["verdict"] for r in rows)
        n = len(rows)
        mal, sus = counts[Verdict.MALICIOUS.value], counts[Verdict.SUSPICIOUS.value]
        print(
            f"{set_name:<27}{n:>6}{mal / n:>11.1%}{sus / n:>12.1%}{(mal + sus) / n:>9.1%}"
            f"{sum(1 for r in rows if not r['fetched']):>13}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
