"""The safe fetcher: address vetting (IPv4, IPv6 and their encodings), pinning, redirects, caps."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from connectors.fetcher import SafeFetcher, numeric_host, parse_networks, refusal
from tap_core.click.fetch import FetchBlocked, FetchError, FetchLimits
from tests.click.conftest import Site

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


def test_fetcher_sends_an_honest_user_agent_and_no_cookies(site: Site) -> None:
    page = _fetch(SafeFetcher(allow_networks=LOOPBACK), f"http://127.0.0.1:{site.port}/ua")
    assert page.status == 200
