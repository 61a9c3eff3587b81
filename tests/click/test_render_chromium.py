"""Script-built pages in real headless Chromium: the rendered DOM is analysed, every request of
the page goes through the safe fetcher (a private address is refused and never reached), the
click analysis timeout holds with a page that never finishes, a cached verdict renders nothing,
and without Chromium the static verdict stands with page_not_rendered."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from connectors.click_service import (
    ClickRequest,
    ClickService,
    ClickSettings,
    MemoryClickLog,
    MemoryRateLimiter,
    MemoryVerdictCache,
    chromium_renderer,
)
from connectors.fetcher import SafeFetcher, parse_networks
from connectors.renderer import ChromiumRenderer, find_chromium
from tap_core.click.analyze import ClickAnalysis, ClickAnalyzer
from tap_core.click.fetch import FetchLimits
from tap_core.model.findings import Finding, Verdict
from tap_core.policy import Policy
from tap_core.urls.links import LinkCodec, LinkContext, LinkKeyring, message_ref
from tests.click.servers import serve

CHROMIUM = find_chromium()
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is required in CI for the rendered-page tests (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

T = TypeVar("T")
FORM = (
    "<img src='/images/microsoft_logo.svg' alt='Microsoft'><h2>Sign in to your Microsoft account</h2>"
    "<form method='post' action='/next'><label>Email</label><input type='email' name='u'>"
    "<label>Password</label><input type='password' name='p'><button>Sign in</button></form>"
)


def _chunks(html: str) -> str:
    """The form as base64 in short pieces joined at run time: no static decoder sees it."""
    b64 = base64.b64encode(html.encode()).decode()
    return json.dumps([b64[i : i + 24] for i in range(0, len(b64), 24)])


def clone(extra_script: str = "", extra_html: str = "") -> str:
    return (
        "<!doctype html><html><head><title>Loading</title></head><body>"
        f"<script>var p = {_chunks(FORM)}; document.write(atob(p.join('')));</script>"
        f"<img src='/logo.png' alt=''>{extra_html}<script>{extra_script}</script></body></html>"
    )


@dataclass
class Canary:
    """A TCP listener on 127.0.0.2: it records every connection, whatever the protocol."""

    port: int
    connections: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.2", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    found = Canary(sock.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, peer = sock.accept()
            except OSError:
                continue
            found.connections.append(f"{peer[0]}:{peer[1]}")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield found
    stop.set()
    thread.join(timeout=5)
    sock.close()


@dataclass
class Site:
    port: int
    hits: list[str]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        return sum(1 for h in self.hits if h == path)


@pytest.fixture(scope="module")
def site(canary: Canary) -> Iterator[Site]:
    hits: list[str] = []
    private = f"127.0.0.2:{canary.port}"
    reach = (
        f"fetch('http://{private}/fetch').catch(function(){{}});"
        f"var x = new XMLHttpRequest(); x.open('GET', 'http://{private}/xhr'); x.send();"
        f"new Image().src = 'http://{private}/img';"
        f"var f = document.createElement('iframe'); f.src = 'http://{private}/frame'; document.body.appendChild(f);"
        f"try {{ new WebSocket('ws://{private}/ws'); }} catch (e) {{}}"
        f"try {{ new EventSource('http://{private}/events'); }} catch (e) {{}}"
        f"try {{ navigator.sendBeacon('http://{private}/beacon', 'x'); }} catch (e) {{}}"
    )
    pages = {
        "/clone": clone(),
        "/clone-cached": clone(),
        "/reach": clone(reach),
        "/slow": clone(extra_html="<script src='/never.js'></script>"),
        "/many": clone(extra_html="".join(f"<img src='/img{i}.png'>" for i in range(8))),
        "/zone": (
            "<html><body><div id=o></div><script>document.getElementById('o').textContent = "
            "Intl.DateTimeFormat().resolvedOptions().timeZone + '|' + navigator.language + '|' + "
            "navigator.userAgent;</script></body></html>"
        ),
        "/plain": "<html><body><h1>Cats</h1><p>" + "Cats are small mammals. " * 20 + "</p></body></html>",
    }

    async def page(request: Request) -> Response:
        path = request.url.path
        hits.append(path)
        if path == "/never.js":
            await asyncio.sleep(30)  # never finishes within any budget of these tests
            return Response("", media_type="application/javascript")
        if path.endswith(".png"):
            return Response(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, media_type="image/png")
        if path in pages:
            return HTMLResponse(pages[path])
        return Response("not found", status_code=404)

    with serve(Starlette(routes=[Route("/{p:path}", page, methods=["GET", "POST"])])) as port:
        yield Site(port, hits)


def _fetcher(timeout: float = 8.0) -> SafeFetcher:
    """Loopback 127.0.0.1 only: 127.0.0.2 (the canary) is a private address like any other."""
    return SafeFetcher(allow_networks=parse_networks("127.0.0.1/32"), limits=FetchLimits(timeout_seconds=timeout))


async def _with(
    work: Callable[[SafeFetcher, ChromiumRenderer], Awaitable[T]], *, timeout: float = 8.0, **renderer: object
) -> T:
    fetcher = _fetcher(timeout)
    chromium = ChromiumRenderer(fetcher, **renderer)  # type: ignore[arg-type]
    try:
        return await work(fetcher, chromium)
    finally:
        await chromium.aclose()
        await fetcher.aclose()


def _finding(analysis: ClickAnalysis, name: str) -> Finding:
    found = [f for f in analysis.findings if f.name == name]
    assert found, (name, analysis.reasons)
    return found[0]


def test_a_script_built_clone_is_caught_through_the_rendered_page(site: Site) -> None:
    async def run(fetcher: SafeFetcher, chromium: ChromiumRenderer) -> tuple[ClickAnalysis, ClickAnalysis]:
        static = await ClickAnalyzer(fetcher).analyze(site.url("/clone"))
        rendered = await ClickAnalyzer(fetcher, renderer=chromium).analyze(site.url("/clone"))
        return static, rendered

    before = site.count("/clone")
    static, rendered = asyncio.run(_with(run))
    assert "page_password_field" not in static.reasons  # the form exists only once the script ran
    assert _finding(static, "page_not_rendered").variant == "no_renderer"
    assert "page_password_field" in rendered.reasons
    assert _finding(rendered, "page_password_field").evidence.startswith("rendered:")
    assert "page_not_rendered" not in rendered.reasons
    # Microsoft's logo and sign-in prompt over a password form, off Microsoft's domains: a clone,
    # seen only once the script has built the page.
    assert "page_brand_clone" not in static.reasons
    assert _finding(rendered, "page_brand_clone").evidence.startswith("rendered:")
    assert rendered.verdict is Verdict.MALICIOUS
    assert rendered.score > static.score
    # The document was fetched once per analysis (the render reuses it); its image through the
    # fetcher, from the page's own server.
    assert site.count("/clone") - before == 2
    assert site.count("/logo.png") >= 1


def test_the_page_script_cannot_reach_a_private_address(site: Site, canary: Canary) -> None:
    async def run(fetcher: SafeFetcher, chromium: ChromiumRenderer) -> ClickAnalysis:
        analysis = await ClickAnalyzer(fetcher, renderer=chromium).analyze(site.url("/reach"))
        await asyncio.sleep(0.5)  # anything still on its way arrives before the browser goes
        return analysis

    analysis = asyncio.run(_with(run))
    assert canary.connections == []  # fetch, XHR, image, frame, WebSocket, EventSource, beacon
    private = _finding(analysis, "page_script_private_request")
    assert f"127.0.0.2:{canary.port}" in private.evidence and "non-public address" in private.evidence
    assert "page_password_field" in analysis.reasons  # the page was still rendered and read


def test_a_slow_page_is_decided_within_the_click_analysis_timeout(site: Site) -> None:
    """A sub-resource that never finishes: the render is abandoned at its budget and the
    analysis returns (no wall-clock assertion: pytest-timeout is the backstop) with the static
    findings and page_not_rendered (timeout)."""
    async def run(fetcher: SafeFetcher, chromium: ChromiumRenderer) -> ClickAnalysis:
        analyzer = ClickAnalyzer(fetcher, renderer=chromium, render_timeout_seconds=30)
        async with asyncio.timeout(3.0) as budget:
            return await analyzer.analyze(site.url("/slow"), deadline=budget.when())

    analysis = asyncio.run(_with(run, timeout=3.0))
    assert analysis.error == "" and analysis.fetched
    assert _finding(analysis, "page_not_rendered").variant == "timeout"
    assert "page_obfuscated_script" in analysis.reasons  # the static finding stands


def _service(fetcher: SafeFetcher, chromium: ChromiumRenderer | None, timeout: float) -> ClickService:
    settings = ClickSettings(click_analysis_timeout_seconds=timeout)
    codec = LinkCodec("https://r.example/api/r", LinkKeyring({"k1": b"k" * 32}, "k1"))
    return ClickService(
        codec,
        lambda tenant: Policy(),
        MemoryVerdictCache(ttl_seconds=600),
        None,
        ClickAnalyzer(fetcher, renderer=chromium, render_timeout_seconds=settings.click_render_timeout_seconds),
        MemoryClickLog(),
        MemoryRateLimiter(),
        settings,
    )


def _click(service: ClickService, url: str) -> ClickRequest:
    link = service.codec.wrap(url, LinkContext("contoso", "ann@contoso.example", message_ref("m1"), 1_700_000_000))
    token, _, query = link.removeprefix(service.codec.base_url + "/").partition("?")
    headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36",
               "Accept-Language": "en-GB,en;q=0.9"}
    return ClickRequest("GET", token, query, headers)


def test_the_redirector_answers_a_slow_page_within_its_timeout(site: Site) -> None:
    async def run(fetcher: SafeFetcher, chromium: ChromiumRenderer) -> tuple[int, tuple[str, ...]]:
        service = _service(fetcher, chromium, timeout=3.0)
        reply = await service.handle(_click(service, site.url("/slow")))
        record = service.click_log.records[-1]  # type: ignore[attr-defined]
        return reply.status, record.reasons

    status, reasons = asyncio.run(_with(run, timeout=3.0))
    assert status in (200, 403)  # a warning or block page: the static findings are flagged
    assert "page_not_rendered" in reasons and "page_obfuscated_script" in reasons
    assert not any(r.startswith("analysis_") for r in reasons)  # decided, not timed out


def test_a_cached_verdict_renders_and_fetches_nothing(site: Site) -> None:
    async def run(fetcher: SafeFetcher, chromium: ChromiumRenderer) -> tuple[int, int, tuple[str, ...]]:
        service = _service(fetcher, chromium, timeout=8.0)
        first = await service.handle(_click(service, site.url("/clone-cached")))
        hits = len(site.hits)
        second = await service.handle(_click(service, site.url("/clone-cached")))
        assert first.status == second.status
        records = service.click_log.records  # type: ignore[attr-defined]
        return hits, len(site.hits), records[-1].reasons

    before = site.count("/clone-cached")
    hits_after_first, hits_after_second, reasons = asyncio.run(_with(run))
    assert site.count("/clone-cached") - before == 1
    assert hits_after_second == hits_after_first  # no fetch, no render the second time
    assert "page_password_field" in reasons  # the cached verdict is the rendered one


def test_without_chromium_the_static_verdict_stands(site: Site) -> None:
    async def run(fetcher: SafeFetcher, chromium: ChromiumRenderer) -> tuple[ClickAnalysis, ClickAnalysis]:
        missing = ChromiumRenderer(fetcher, path="/nonexistent/chromium")
        absent = await ClickAnalyzer(fetcher, renderer=missing).analyze(site.url("/clone"))
        static = await ClickAnalyzer(fetcher).analyze(site.url("/clone"))
        return absent, static

    absent, static = asyncio.run(_with(run))
    not_rendered = _finding(absent, "page_not_rendered")
    assert not_rendered.variant == "unavailable" and "/nonexistent/chromium" in not_rendered.reason
    assert absent.verdict is static.verdict and absent.error == ""
    assert "page_password_field" not in absent.reasons
    # Configured but not found: the service runs without a renderer (and says so per page).
    settings = ClickSettings(chromium_path="/nonexistent/chromium")
    assert chromium_renderer(settings, _fetcher()) is None
    assert chromium_renderer(ClickSettings(click_render=False), _fetcher()) is None


def test_the_request_limit_of_a_render_is_reported(site: Site) -> None:
    async def run(fetcher: SafeFetcher, chromium: ChromiumRenderer) -> ClickAnalysis:
        return await ClickAnalyzer(fetcher, renderer=chromium).analyze(site.url("/many"))

    analysis = asyncio.run(_with(run, max_requests=3))
    limit = _finding(analysis, "page_not_rendered")
    assert limit.variant == "limit" and "more than 3 requests" in limit.evidence
    assert "page_password_field" in analysis.reasons  # what was built without the rest is read


def test_the_byte_limit_of_a_render_is_reported(site: Site) -> None:
    async def run(fetcher: SafeFetcher, chromium: ChromiumRenderer) -> ClickAnalysis:
        return await ClickAnalyzer(fetcher, renderer=chromium).analyze(site.url("/many"))

    analysis = asyncio.run(_with(run, max_bytes=200))
    limit = _finding(analysis, "page_not_rendered")
    assert limit.variant == "limit" and "more than 200 bytes" in limit.evidence


def test_the_page_sees_the_person_s_locale_and_a_desktop_browser(site: Site) -> None:
    async def run(fetcher: SafeFetcher, chromium: ChromiumRenderer) -> str:
        page = await fetcher.fetch(site.url("/zone"))
        dom = await chromium.render(page, language="de-DE,de;q=0.9", budget_seconds=20)
        assert dom.error == "", dom.detail
        return dom.html

    html = asyncio.run(_with(run))
    assert "Europe/Berlin|de-DE|" in html
    assert "Headless" not in html and "Chrome/" in html


def test_a_page_without_scripts_is_not_rendered(site: Site) -> None:
    async def run(fetcher: SafeFetcher, chromium: ChromiumRenderer) -> ClickAnalysis:
        return await ClickAnalyzer(fetcher, renderer=chromium).analyze(site.url("/plain"))

    before = len(site.hits)
    analysis = asyncio.run(_with(run))
    assert "page_not_rendered" not in analysis.reasons
    assert len(site.hits) - before == 1  # the document only: no browser asked for anything
