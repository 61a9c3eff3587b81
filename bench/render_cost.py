"""What rendering costs at click time: static vs rendered analysis of a few pages, on loopback.

    .venv/bin/python bench/render_cost.py [--runs 5] [--chromium PATH]

Serves a few pages from a local server (a plain article, a script-built sign-in clone, a
single-page app shell, an HTML smuggling page), then times ``ClickAnalyzer.analyze`` per page
without a renderer (static: fetch and the page rules) and with ``ChromiumRenderer`` (the same,
plus the render through the safe fetcher and the rules on the rendered DOM). The browser's start
is timed once on its own (the service pays it once per process). Prints the median and the
slowest run of each, in milliseconds. Figures only: tests never assert times.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from connectors.fetcher import SafeFetcher, parse_networks
from connectors.renderer import ChromiumRenderer, find_chromium
from tap_core.click.analyze import ClickAnalyzer
from tap_core.click.fetch import FetchLimits
from tests.click.servers import serve

_FORM = (
    "<h2>Sign in to your Microsoft account</h2><form method=post><input type=email name=u>"
    "<input type=password name=p><button>Sign in</button></form>"
)
_B64 = base64.b64encode(_FORM.encode()).decode()
PAGES = {
    "/article": "<html><head><title>News</title></head><body><h1>News</h1>"
    + "<p>Cats are small carnivorous mammals. </p>" * 200 + "<img src='/a.png'></body></html>",
    "/clone": "<html><body><script>var p=" + repr([_B64[i:i + 24] for i in range(0, len(_B64), 24)])
    + ";document.write(atob(p.join('')));</script><img src='/logo.png'></body></html>",
    "/spa": "<html><body><div id=app></div><script src='/app.js'></script></body></html>",
    "/smuggle": "<html><body><p>Your document is ready.</p><script>var b=new Blob(['MZ'],"
    "{type:'application/octet-stream'});var a=document.createElement('a');a.href=URL.createObjectURL(b);"
    "a.download='invoice.exe';document.body.appendChild(a);</script></body></html>",
}
APP_JS = (
    "document.getElementById('app').innerHTML = '<h1>Portal</h1><form><input type=password></form>'"
    + ";" + ";".join(f"var v{i} = {i}" for i in range(2000))
)


async def _page(request: Request) -> Response:
    path = request.url.path
    if path == "/app.js":
        return Response(APP_JS, media_type="application/javascript")
    if path.endswith(".png"):
        return Response(b"\x89PNG\r\n\x1a\n" + b"\0" * 2048, media_type="image/png")
    return HTMLResponse(PAGES.get(path, "not found"), status_code=200 if path in PAGES else 404)


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.1f} ms  max {max(samples) * 1000:7.1f} ms"


async def run(port: int, runs: int, chromium: str) -> None:
    limits = FetchLimits(timeout_seconds=8)
    fetcher = SafeFetcher(allow_networks=parse_networks("127.0.0.1/32"), limits=limits)
    renderer = ChromiumRenderer(fetcher, path=chromium)
    static = ClickAnalyzer(fetcher)
    rendered = ClickAnalyzer(fetcher, renderer=renderer, render_timeout_seconds=8)
    ClickAnalyzer.warm_up()
    try:
        started = time.perf_counter()
        first = await rendered.analyze(f"http://127.0.0.1:{port}/clone")
        print(f"browser start + first render: {(time.perf_counter() - started) * 1000:.0f} ms "
              f"({first.verdict.value})")
        for path in PAGES:
            url = f"http://127.0.0.1:{port}{path}"
            times: dict[str, list[float]] = {"static": [], "rendered": []}
            reasons: dict[str, list[str]] = {}
            for _ in range(runs):
                for name, analyzer in (("static", static), ("rendered", rendered)):
                    t = time.perf_counter()
                    analysis = await analyzer.analyze(url)
                    times[name].append(time.perf_counter() - t)
                    reasons[name] = analysis.reasons
            added = sorted(set(reasons["rendered"]) - set(reasons["static"]))
            print(f"{path:10s} static   {_ms(times['static'])}  {', '.join(reasons['static'])}")
            print(f"{'':10s} rendered {_ms(times['rendered'])}  added: {', '.join(added) or '-'}")
    finally:
        await renderer.aclose()
        await fetcher.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default="", help="Chromium executable (default: looked up on PATH)")
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("no Chromium found (apt-get install chromium, or --chromium PATH)", file=sys.stderr)
        return 2
    app = Starlette(routes=[Route("/{p:path}", _page)])
    with serve(app) as port:
        asyncio.run(run(port, args.runs, chromium))
    return 0


if __name__ == "__main__":
    sys.exit(main())
