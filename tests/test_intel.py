"""IntelIndex: matching rules, shared platforms, refresh lifecycle, stats."""

from __future__ import annotations

from datetime import date

import pytest

from tap_core.urls.feeds import FeedFormat, IndicatorKind, parse_feed
from tap_core.urls.intel import IntelIndex, url_key


def _index(*feeds: tuple[str, FeedFormat, bytes]) -> IntelIndex:
    return IntelIndex.from_feeds(parse_feed(data, name=name, format=fmt) for name, fmt, data in feeds)


def _urls(*lines: str, name: str = "openphish") -> tuple[str, FeedFormat, bytes]:
    return name, FeedFormat.OPENPHISH, "\n".join(lines).encode()


def _hosts(*lines: str, name: str = "hosts") -> tuple[str, FeedFormat, bytes]:
    return name, FeedFormat.HOST_LIST, "\n".join(lines).encode()


def test_url_key_drops_scheme_www_fragment_default_port_and_trailing_slash() -> None:
    assert url_key("HTTPS://WWW.Evil.Example:443/Login/?a=1#frag") == "evil.example/Login?a=1"
    assert url_key("http://evil.example:8080/") == "evil.example:8080"
    assert url_key("not a url") is None


def test_prefix_rule_matches_on_segment_boundary_only() -> None:
    index = _index(_urls("http://evil.example/kit"))
    for url in (
        "http://evil.example/kit",
        "https://evil.example/kit/",
        "https://www.evil.example/kit/a/b.php",
        "http://evil.example/kit?x=1",
        "http://evil.example/kit#top",
    ):
        hits = index.match(url)
        assert [(h.kind, h.indicator) for h in hits] == [(IndicatorKind.URL_PREFIX, "evil.example/kit")], url
    for url in ("http://evil.example/kitchen", "http://evil.example/", "http://sub.evil.example/kit"):
        assert index.match(url) == [], url


def test_feed_url_with_query_matches_exactly_only() -> None:
    index = _index(_urls("https://www.google.com/url?q=https://evil.example/"))
    assert index.match("https://www.google.com/url?q=https://evil.example/")
    assert index.match("https://www.google.com/url?q=https://news.example/") == []
    assert index.match("https://www.google.com/url") == []


def test_root_url_stands_for_that_host_not_its_subdomains() -> None:
    index = _index(_urls("https://phish-site.example/"))
    assert index.match("https://phish-site.example/any/page")
    assert index.match("https://cdn.phish-site.example/") == []


def test_shared_platform_host_never_matches_the_platform() -> None:
    index = _index(
        _urls(
            "https://sites.google.com/view/evil-payroll",
            "https://sites.google.com/",
            "https://drive.google.com/file/d/abc123/view",
            "https://evil.vercel.app/",
        ),
        _hosts("evil.github.io", "site.weebly.com", "github.io", "weebly.com", "google.com"),
    )
    # the listed site and what is under it
    assert index.match("https://sites.google.com/view/evil-payroll/home")
    assert index.match("https://drive.google.com/file/d/abc123/view?usp=sharing")
    assert index.match("https://evil.vercel.app/x")
    assert index.match("https://evil.github.io/login")
    assert index.match("https://site.weebly.com/")
    # never the platform or its other users
    for url in (
        "https://sites.google.com/view/my-company",
        "https://drive.google.com/file/d/other/view",
        "https://other.vercel.app/",
        "https://other.github.io/",
        "https://github.io/",
        "https://other.weebly.com/",
        "https://docs.google.com/document/d/1",
        "https://mail.google.com/",
    ):
        assert index.match(url) == [], url
    # a platform name in a host list only matches itself literally
    assert index.match("https://weebly.com/")
    assert index.match("https://google.com/")


def test_shared_platform_root_url_is_not_the_whole_platform() -> None:
    index = _index(_urls("https://sites.google.com/"))
    assert index.match("https://sites.google.com/")
    assert index.match("https://sites.google.com/view/anything") == []


def test_bare_public_suffix_rejected_and_reported() -> None:
    index = IntelIndex()
    report = index.add_feed(parse_feed(b"github.io\nco.uk\nevil.example\n", name="h", format="host_list"))
    assert report.rejected == 2 and report.added == 1
    assert index.match("https://x.co.uk/") == []


def test_host_and_domain_match_subdomains() -> None:
    index = _index(
        _hosts("evil.example"), ("blocklist", FeedFormat.DOMAIN_LIST, b"0.0.0.0 bad.example.org\n")
    )
    hits = index.match("https://a.b.evil.example/x")
    assert [(h.indicator, h.kind) for h in hits] == [("evil.example", IndicatorKind.HOST)]
    assert index.match("http://login.bad.example.org/")[0].kind is IndicatorKind.DOMAIN
    assert index.match("https://notevil.example/") == []
    assert index.match("https://evil.example.com/") == []


def test_unicode_indicators_are_read_as_urls_are_normalised() -> None:
    # IDNA 2003 (Python's "idna" codec) would index "faß.example" as "fass.example", another
    # domain, and the phishing host itself would never match.
    index = _index(_hosts("faß.example"), ("urls", FeedFormat.URL_LIST, b"http://stra\xc3\x9fe.example/login\n"))
    assert index.match("https://faß.example/x")[0].kind is IndicatorKind.HOST
    assert index.match("https://xn--fa-hia.example/x")
    assert index.match("https://fass.example/x") == []
    assert index.match("http://straße.example/login")
    assert index.match("http://strasse.example/login") == []


def test_www_host_indicator_matches_www_urls() -> None:
    # URL keys drop "www." but host indicators must still see the real host.
    index = _index(_hosts("www.phish-host.com"))
    assert index.match("http://www.phish-host.com/login")[0].indicator == "www.phish-host.com"
    assert index.contains("https://www.phish-host.com/")
    assert index.match("http://phish-host.com/") == []


def test_ip_exact_and_cidr_v4_v6() -> None:
    index = _index(("ips", FeedFormat.IP_LIST, b"192.0.2.1\n198.51.100.0/24\n2001:db8::/32\n"))
    assert index.match("http://192.0.2.1/bin")[0].indicator == "192.0.2.1"
    assert index.match("http://198.51.100.77:8080/x")[0].indicator == "198.51.100.0/24"
    assert index.match("http://[2001:db8::1]/")[0].indicator == "2001:db8::/32"
    assert index.match("http://192.0.2.2/") == []
    assert index.match("http://[2001:db9::1]/") == []
    assert index.contains("http://198.51.100.1/") and not index.contains("http://198.52.100.1/")


def test_hit_carries_feed_category_and_first_seen() -> None:
    csv = (
        b"phish_id,url,phish_detail_url,submission_time,verified,verification_time,online,target\n"
        b"1,http://pt.example/login,http://pt/1,2024-05-01T06:15:18+00:00,yes,,yes,Other\n"
    )
    index = _index(("phishtank", FeedFormat.PHISHTANK_CSV, csv), _urls("http://pt.example/login", name="op"))
    hits = {h.feed: h for h in index.match("http://pt.example/login")}
    assert set(hits) == {"phishtank", "op"}
    assert hits["phishtank"].category == "phishing"
    assert hits["phishtank"].first_seen == date(2024, 5, 1)
    assert hits["op"].first_seen is None


def test_frozen_index_refuses_changes_copy_refreshes() -> None:
    index = _index(_urls("https://old.example/kit", name="feed-a"), _hosts("stay.example", name="feed-b"))
    assert index.frozen
    with pytest.raises(RuntimeError):
        index.add_feed(parse_feed(b"https://x.example/", name="x", format="url_list"))
    fresh = index.copy()
    assert fresh.remove_feed("feed-a") == 1
    fresh.add_feed(parse_feed(b"https://new.example/kit\n", name="feed-a", format="openphish"))
    fresh.freeze()
    # the old snapshot is untouched; the new one has the refreshed feed
    assert index.contains("https://old.example/kit") and not index.contains("https://new.example/kit")
    assert fresh.contains("https://new.example/kit") and not fresh.contains("https://old.example/kit")
    assert fresh.contains("https://stay.example/")


def test_remove_feed_keeps_other_feeds_claims() -> None:
    index = IntelIndex()
    index.add_feed(parse_feed(b"https://both.example/x\n", name="a", format="url_list"))
    index.add_feed(parse_feed(b"https://both.example/x\n", name="b", format="url_list"))
    assert {h.feed for h in index.match("https://both.example/x")} == {"a", "b"}
    index.remove_feed("a")
    assert [h.feed for h in index.match("https://both.example/x")] == ["b"]


def test_match_many_dedupes_and_returns_only_hits() -> None:
    index = _index(_urls("https://evil.example/kit"))
    urls = ["https://evil.example/kit/a", "https://good.example/", "https://evil.example/kit/a"]
    result = index.match_many(urls)
    assert list(result) == ["https://evil.example/kit/a"]


def test_stats_counts_by_kind_and_bytes() -> None:
    index = _index(
        _urls("https://a.example/x", "https://b.example/?q=1"),
        _hosts("h.example"),
        ("ips", FeedFormat.IP_LIST, b"192.0.2.1\n"),
    )
    stats = index.stats()
    assert stats.counts["url_prefix"] == 1 and stats.counts["url"] == 1
    assert stats.counts["host"] == 1 and stats.counts["ip"] == 1
    assert stats.feeds == {"openphish": 2, "hosts": 1, "ips": 1}
    assert stats.approx_bytes > 0 and stats.frozen
    assert len(index) == 4
