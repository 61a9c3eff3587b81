"""The offline Public Suffix List helpers: our PSL walk against tldextract's own answers."""

from __future__ import annotations

import pytest
import tldextract

from tap_core.parsing.domains import has_known_suffix, public_suffix, registered_domain, split_host

_PRIVATE = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)
_ICANN = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)

HOSTS = [
    "www.example.com",
    "a.b.example.co.uk",
    "example.co.uk",
    "co.uk",
    "com",
    "localhost",
    "evil.github.io",
    "github.io",
    "bucket.s3.amazonaws.com",
    "x.vercel.app",
    # wildcard and exception rules (*.kawasaki.jp, !city.kawasaki.jp)
    "city.kawasaki.jp",
    "www.city.kawasaki.jp",
    "x.y.kawasaki.jp",
    # internationalised suffixes written in punycode, as normalised URLs carry them
    "a.xn--p1ai",
    "b.c.xn--90a3ac.xn--p1ai",
    "shop.xn--55qx5d.cn",
    "x.xn--fiqs8s",
    "xn--fa-hia.de",
    "xn--zz-broken.com",
    "a.xn--",
    "xn--.com",
    # not hosts a suffix walk can read: left to tldextract
    "пример.рф",
    "EXAMPLE.COM.",
    "a..b",
    "1.2.3.4",
    "under_score.example.org",
]


@pytest.mark.parametrize("host", HOSTS)
def test_psl_answers_are_tldextracts(host: str) -> None:
    h = host.lower().rstrip(".")
    private, icann = _PRIVATE(h), _ICANN(h)
    assert split_host(host) == (private.subdomain, private.domain, private.suffix)
    assert public_suffix(host) == icann.suffix
    assert has_known_suffix(host) == bool(icann.suffix and icann.domain)
    if host != "1.2.3.4":
        want = f"{private.domain}.{private.suffix}" if private.domain and private.suffix else ""
        assert registered_domain(host) == want
        want_icann = f"{icann.domain}.{icann.suffix}" if icann.domain and icann.suffix else ""
        assert registered_domain(host, private=False) == want_icann
    else:
        assert registered_domain(host) == ""


def test_url_host_is_the_host_as_written() -> None:
    from tap_core.parsing.domains import url_host

    assert url_host("https://user:pw@Mail.Example.com:8443/a?b#c") == "mail.example.com"
    assert url_host("http://example.org?q=1") == "example.org"
    assert url_host("https://example.net#top") == "example.net"
    assert url_host("mailto:x@example.com") == ""


@pytest.mark.parametrize("host", [
    "example.com", "1.2.3.4", "[1.2.3.4]", "01.2.3.4", "1.2.3", "256.1.1.1", "::1", "[::1]", "fe80::1%eth0",
    "[2001:db8::1]", "2001:db8::g", "a:b", "x1.2.3.4", " 1.2.3.4", "1.2.3.4 ", "١.٢.٣.٤", "²", "", "[]",
    "0x7f.0.0.1", "127.1", "deadbeef", "::ffff:1.2.3.4", "localhost", "1e100.net", "[v1.x]",
])
def test_ip_literal_is_what_ipaddress_reads(host: str) -> None:
    import ipaddress

    from tap_core.parsing.domains import is_ip_literal

    try:
        ipaddress.ip_address(host.strip("[]"))
        want = True
    except ValueError:
        want = False
    assert is_ip_literal(host) is want
