"""Evaluate time-of-click page analysis on the corpus pages, through the real safe fetcher.

    .venv/bin/python bench/page_analysis_eval.py [--corpus ../shared/corpus] [--verbose]

Serves ``pages/login-benign`` (legitimate login and sign-up pages), ``pages/phish-html`` (phishing
HTML attachments, ``.txt`` files holding HTML) and ``pages/kit-museum`` (phishing-kit
reconstructions) on 127.0.0.1 (port 80 when it can be bound), each page under the host it was
saved from when the page tells (see ``origin_host``; same rule for every set), else a neutral name
``p<n>.pages-eval.example``; an injected resolver maps exactly these names to loopback.
Runs ``ClickAnalyzer.analyze`` exactly as the redirector does. Prints per set:
pages, MALICIOUS %, SUSPICIOUS %, flagged (either) %. Targets: login-benign MALICIOUS <= 2 %;
phish-html and kit-museum flagged >= 90 %.

The training corpus's pages (``train/pages-benign``, legitimate sign-up pages, and
``train/pages-phish``, kit pages) are reported in two parts each, split as the message model's
training split is (``tap_core.detect.training.is_validation`` on the file name): the training
part (what anything learned may see) and the validation part (what it must never see, and what
a page model is judged on).
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
from urllib.parse import urlsplit

import uvicorn
from selectolax.lexbor import LexborHTMLParser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.fetcher import SafeFetcher
from tap_core.click.analyze import ClickAnalyzer
from tap_core.click.fetch import FetchLimits
from tap_core.detect.training import is_validation
from tap_core.model.findings import Verdict

SETS = ("login-benign", "phish-html", "kit-museum")
TRAIN_SETS = ("pages-benign", "pages-phish")
HOST_SUFFIX = ".pages-eval.example"


def _html_files(folder: Path) -> list[Path]:
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and (p.suffix in (".html", ".htm") or p.name.endswith((".html.txt", ".htm.txt")))
    ]


def collect(corpus: Path) -> dict[str, list[Path]]:
    pages: dict[str, list[Path]] = {name: _html_files(corpus / "pages" / name) for name in SETS}
    for name in TRAIN_SETS:
        files = _html_files(corpus / "train" / name)
        pages[f"{name} (training)"] = [p for p in files if not is_validation(p.name)]
        pages[f"{name} (validation)"] = [p for p in files if is_validation(p.name)]
    return pages


def origin_host(html: str) -> str:
    """Where a saved page lived, read the same way for every set: the host its password form
    posts to, else its canonical / og:url address. Saved pages keep absolute form actions, so
    serving a saved login page under a neutral name would make every real login page look like
    it posts credentials to another site. Phishing pages get the same treatment (they usually
    post to their own kit or to a relay, which stays foreign or same-site as it was)."""
    tree = LexborHTMLParser(html[:1_500_000])
    for form in tree.css("form"):
        action = (form.attributes.get("action") or "").strip()
        has_pw = any((i.attributes.get("type") or "").lower() == "password" for i in form.css("input"))
        host = urlsplit(action).hostname if action.lower().startswith(("http://", "https://")) else None
        if has_pw and host:
            return host.lower()
    for selector, attr in (('link[rel="canonical"]', "href"), ('meta[property="og:url"]', "content")):
        node = tree.css_first(selector)
        value = (node.attributes.get(attr) or "") if node else ""
        host = urlsplit(value).hostname if value.lower().startswith(("http://", "https://")) else None
        if host:
            return host.lower()
    return ""


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
    args = ap.parse_args(argv)
    pages = collect(args.corpus)
    if not any(pages.values()):
        print(f"no pages under {args.corpus}/pages", file=sys.stderr)
        return 2
    by_host: dict[str, Path] = {}
    jobs: list[tuple[str, str, str]] = []
    hosts: set[str] = set()
    for set_name, files in pages.items():
        for path in files:
            origin = origin_host(path.read_bytes().decode("utf-8", "replace"))
            n = len(by_host) + 1
            host = origin or f"p{n}{HOST_SUFFIX}"
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
        analyzer = ClickAnalyzer(fetcher)
        ClickAnalyzer.warm_up()
        out: list[dict[str, object]] = []
        for set_name, host, page_path in jobs:
            url = f"http://{host}" if port == 80 else f"http://{host}:{port}"
            analysis = await analyzer.analyze(url + page_path)
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
