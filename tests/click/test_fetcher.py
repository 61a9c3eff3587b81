"""The safe fetcher: address vetting (IPv4, IPv6 and their encodings), pinning, redirects, caps."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.fetcher import SafeFetcher, numeric_host, parse_networks, refusal
from tap_core.click.fetch import FetchBlocked, FetchError, FetchLimits
from tests.click.conftest import BENIGN, Redirector, Site
from tests.click.servers import serve

LOOPBACK = parse_networks("127.0.0.0/8")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "100.64.0.1",
        "100.100.100.200",
        "0.0.0.0",  # noqa: S104 - an address under test, nothing binds to it
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "2002:7f00:1::",
        "2002:a9fe:a9fe::",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_allowance_admits_loopback_but_never_metadata() -> None:
    assert refusal(ipaddress.ip_address("127.0.0.1"), LOOPBACK) is None
    assert refusal(ipaddress.ip_address("::ffff:127.0.0.1"), LOOPBACK) is None
    everything = parse_networks("0.0.0.0/0,::/0")
    assert refusal(ipaddress.ip_address("169.254.169.254"), everything) is not None
    assert refusal(ipaddress.ip_address("fd00:ec2::254"), everything) is not None


@pytest.mark.parametrize(
    ("host", "ip"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
    ],
)
def test_numeric_host_forms(host: str, ip: str) -> None:
    assert str(numeric_host(host)) == ip


def test_numeric_host_rejects_names() -> None:
    assert numeric_host("example.com") is None and numeric_host("1.2.3.4.5") is None


def _fetch(fetcher: SafeFetcher, url: str):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        try:
            return await fetcher.fetch(url)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/x",
        "http://2130706433:{port}/x",
        "http://0177.0.0.1:{port}/x",
        "http://[::ffff:127.0.0.1]:{port}/x",
        "http://localhost:{port}/x",
        "http://169.254.169.254/latest/",
        "http://[::1]:{port}/x",
        "ftp://127.0.0.1/x",
        "file:///etc/passwd",
    ],
)
def test_fetch_refused_without_allowance(site: Site, url: str) -> None:
    before = len(site.hits)
    with pytest.raises(FetchBlocked):
        _fetch(SafeFetcher(), url.format(port=site.port))
    assert len(site.hits) == before


def test_dns_name_resolving_to_loopback_is_refused_without_allowance(site: Site) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "127.0.0.1"]  # one bad answer among good ones is enough to refuse

    with pytest.raises(FetchBlocked):
        _fetch(SafeFetcher(resolver=resolver), f"http://rebind.example:{site.port}/x")


def test_pinned_address_keeps_the_host_name(site: Site) -> None:
    calls: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    page = _fetch(
        SafeFetcher(allow_networks=LOOPBACK, resolver=resolver), f"http://pinned.example:{site.port}/pin"
    )
    assert page.status == 200 and page.address == "127.0.0.1" and calls == ["pinned.example"]
    assert page.final_url == f"http://pinned.example:{site.port}/pin"


def test_redirect_to_private_address_is_refused(site: Site) -> None:
    for path in ("/to-private", "/to-metadata"):
        with pytest.raises(FetchBlocked):
            _fetch(SafeFetcher(allow_networks=LOOPBACK), f"http://127.0.0.1:{site.port}{path}")


def test_byte_cap_and_timeout(site: Site) -> None:
    page = _fetch(
        SafeFetcher(allow_networks=LOOPBACK, limits=FetchLimits(max_bytes=50)),
        f"http://127.0.0.1:{site.port}/ok",
    )
    assert page.truncated and len(page.body) == 50
    with pytest.raises(FetchError) as info:
        _fetch(
            SafeFetcher(allow_networks=LOOPBACK, limits=FetchLimits(timeout_seconds=0.5)),
            f"http://127.0.0.1:{site.port}/slow",
        )
    assert info.value.code == "timeout"


def test_fetcher_reads_a_plain_page(site: Site) -> None:
    page = _fetch(SafeFetcher(allow_networks=LOOPBACK), f"http://127.0.0.1:{site.port}/ua")
    assert page.status == 200


# -- content codings: only the ones asked for, one layer, decoded within the byte limit -----------

ZEROS = 64 * 1024 * 1024  # decoded size of the bombs: 32 times the default 2 MiB limit


@dataclass
class CodingSite:
    port: int
    accept_encoding: list[str]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def coding_site() -> Iterator[CodingSite]:
    """Pages served with whatever Content-Encoding the test names, whatever the request asked."""
    zeros = gzip.compress(bytes(ZEROS), 9)
    page = BENIGN.encode()
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    bodies: dict[str, tuple[bytes, list[str]]] = {
        "/gzip-gzip": (gzip.compress(zeros, 9), ["gzip, gzip"]),
        "/gzip-twice": (gzip.compress(zeros, 9), ["gzip", "gzip"]),  # two header lines
        "/br": (b"\x1b\xff\xff\x0f" + bytes(64), ["br"]),  # never decoded, whatever it holds
        "/zstd": (b"(\xb5/\xfd" + bytes(64), ["zstd"]),
        "/gzip-zeros": (zeros, ["gzip"]),
        "/gzip-page": (gzip.compress(page), ["gzip"]),
        "/deflate-page": (zlib.compress(page), ["deflate"]),
        "/raw-deflate-page": (raw_deflate.compress(page) + raw_deflate.flush(), ["deflate"]),
        "/identity-page": (page, ["identity"]),
        "/bad-gzip": (b"\x1f\x8b\x08\x00" + bytes(40), ["gzip"]),
    }
    asked: list[str] = []

    async def serve_page(request: Request) -> Response:
        asked.append(request.headers.get("accept-encoding", ""))
        body, codings = bodies[request.url.path]
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        headers += [(b"content-encoding", c.encode()) for c in codings]
        response = Response(body)
        response.raw_headers = [*headers, (b"content-length", str(len(body)).encode())]
        return response

    with serve(Starlette(routes=[Route("/{p:path}", serve_page, methods=["GET", "POST"])])) as port:
        yield CodingSite(port, asked)


@pytest.mark.parametrize("path", ["/gzip-gzip", "/gzip-twice", "/br", "/zstd"])
def test_codings_not_asked_for_or_stacked_are_refused(coding_site: CodingSite, path: str) -> None:
    with pytest.raises(FetchError) as info:
        _fetch(SafeFetcher(allow_networks=LOOPBACK), coding_site.url(path))
    assert info.value.code == "encoding" and "Content-Encoding" in info.value.detail
    assert not isinstance(info.value, FetchBlocked)  # fetched, then refused: the click's on-error path
    assert coding_site.accept_encoding[-1] == "gzip, deflate"  # what the fetcher asked for


def test_one_gzip_layer_past_the_limit_is_cut_at_the_limit(coding_site: CodingSite) -> None:
    limits = FetchLimits()
    page = _fetch(SafeFetcher(allow_networks=LOOPBACK), coding_site.url("/gzip-zeros"))
    # Decoded up to the byte limit and no further: the body is the limit, not the 64 MiB.
    assert page.truncated and len(page.body) == limits.max_bytes < ZEROS
    assert page.body == bytes(limits.max_bytes)
    small = _fetch(
        SafeFetcher(allow_networks=LOOPBACK, limits=FetchLimits(max_bytes=1000)), coding_site.url("/gzip-zeros")
    )
    assert small.truncated and small.body == bytes(1000)


@pytest.mark.parametrize("path", ["/gzip-page", "/deflate-page", "/raw-deflate-page", "/identity-page"])
def test_compressed_pages_asked_for_still_read_whole(coding_site: CodingSite, path: str) -> None:
    page = _fetch(SafeFetcher(allow_networks=LOOPBACK), coding_site.url(path))
    assert page.status == 200 and not page.truncated and page.body == BENIGN.encode()


def test_corrupt_compressed_body_is_a_fetch_error(coding_site: CodingSite) -> None:
    with pytest.raises(FetchError) as info:
        _fetch(SafeFetcher(allow_networks=LOOPBACK), coding_site.url("/bad-gzip"))
    assert info.value.code == "decode"


def test_post_answered_in_a_coding_not_asked_for_keeps_its_status(coding_site: CodingSite) -> None:
    """The admin webhook's POST drops the answer's body: a refused coding does not undo the POST."""
    async def go() -> int:
        fetcher = SafeFetcher(allow_networks=LOOPBACK)
        try:
            return await fetcher.post_json(coding_site.url("/gzip-gzip"), b"{}")
        finally:
            await fetcher.aclose()

    assert asyncio.run(go()) == 200


def test_bomb_through_the_redirector_warns(redirector: Redirector, coding_site: CodingSite) -> None:
    """A click on a stacked-gzip page: refused by the fetcher, so the decision's on-error
    behaviour (warn by default) answers, with the reason in the click log."""
    # A name, not an address literal, so that the link itself looks harmless until fetched.
    resp = redirector.get(redirector.link(f"http://localhost:{coding_site.port}/gzip-gzip"))
    assert resp.status_code == 200 and "location" not in resp.headers and b"Be careful" in resp.content
    (rec,) = redirector.stores.clicks.list_clicks("contoso", datetime.now(UTC) - timedelta(hours=1), limit=10)
    assert rec.decision == "warn" and "analysis_encoding" in rec.reasons


# -- identity: a browser to every page, our marker only to our own redirector ----------------------


def _headers(fetcher: SafeFetcher, url: str, language: str | None = None) -> dict[str, str]:
    async def go() -> dict[str, str]:
        try:
            page = await fetcher.fetch(url, language=language)
            return dict(json.loads(page.body))
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def test_pages_are_fetched_as_the_person_s_browser_would(site: Site) -> None:
    # A kit that cloaks shows a scanner identity a harmless page: no fixed scanner name is sent.
    sent = _headers(SafeFetcher(allow_networks=LOOPBACK), site.url("/headers"), "de-DE,de;q=0.9,en;q=0.5")
    assert "Chrome/" in sent["user-agent"] and "tap365" not in json.dumps(sent).lower()
    assert sent["accept"].startswith("text/html") and sent["accept-language"] == "de-DE,de;q=0.9,en;q=0.5"
    # Unknown, or not a language list: a common browser's.
    for language in (None, "x" * 300, "en\r\nX-Injected: 1"):
        sent = _headers(SafeFetcher(allow_networks=LOOPBACK), site.url("/headers"), language)
        assert sent["accept-language"] == "en-US,en;q=0.9" and "x-injected" not in sent


def test_the_own_visit_marker_goes_only_to_our_own_host(site: Site) -> None:
    own = SafeFetcher(allow_networks=LOOPBACK, own_visit=("localhost", "t0ken"))
    assert _headers(own, f"http://localhost:{site.port}/headers")["x-tap365-visit"] == "t0ken"
    other = SafeFetcher(allow_networks=LOOPBACK, own_visit=("localhost", "t0ken"))
    assert "x-tap365-visit" not in _headers(other, f"http://127.0.0.1:{site.port}/headers")
