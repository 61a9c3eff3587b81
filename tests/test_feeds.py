"""Feed parsers: every real format from small hand-written snippets; bad input never raises."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime

import pytest

from tap_core.urls.feeds import (
    FeedFormat,
    FeedLimits,
    IndicatorKind,
    ParsedFeed,
    detect_format,
    parse_feed,
)

OPENPHISH = b"""https://evil-login.example.com/office365/auth.php
http://www.kit.example.net/
https://evil-login.example.com/office365/auth.php
"""

PHISHTANK = b"""phish_id,url,phish_detail_url,submission_time,verified,verification_time,online,target
9000001,http://phish.example.org/login/www.bank.example/x.htm,http://www.phishtank.com/phish_detail.php?phish_id=9000001,2024-05-01T06:15:18+00:00,yes,2024-05-01T06:30:41+00:00,yes,Other
9000002,"https://phish.example.org/a,b/signin.php?x=1",http://www.phishtank.com/phish_detail.php?phish_id=9000002,2024-05-02T03:47:32+00:00,yes,2024-05-02T06:39:51+00:00,yes,PayPal
9000003,https://notyet.example.org/,http://www.phishtank.com/phish_detail.php?phish_id=9000003,2024-05-03T03:47:32+00:00,no,,yes,Other
9000004,not a url,http://www.phishtank.com/phish_detail.php?phish_id=9000004,2024-05-03T03:47:32+00:00,yes,,yes,Other
"""

URLHAUS = b"""################################################################
# abuse.ch URLhaus Database Dump (CSV - recent URLs only)      #
# Last updated: 2024-06-01 12:00:00 (UTC)                      #
################################################################
#
# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter
"3000001","2024-06-01 11:59:06","http://198.51.100.7:52810/i","online","2024-06-01 11:59:06","malware_download","32-bit,elf,mips","https://urlhaus.abuse.ch/url/3000001/","reporter1"
"3000002","2024-05-30 08:00:00","https://files.example.com/inv, 2024.zip","offline","","malware_download","zip","https://urlhaus.abuse.ch/url/3000002/","reporter2"
"3000003","2024-05-30 08:00:00","broken"
"""

DOMAINS = b"""# My blocklist
! adblock-style comment
evil.example.com
0.0.0.0 tracker.example.net other.example.org   # two names on one hosts-file line
127.0.0.1 localhost
||ads.example.io^
*.wild.example.com
EXAMPLE-UPPER.com.
bad name with spaces
exa$mple.com
"""

IPS = b"""# drop list
192.0.2.1
198.51.100.0/24 ; SBL000001
2001:db8::/32
0.0.0.0/0
not-an-ip
10.1.2.3, extra
"""


def _stix(*objects: dict) -> bytes:
    return json.dumps({"type": "bundle", "id": "bundle--1", "objects": list(objects)}).encode()


def _indicator(pattern: str, **extra: object) -> dict:
    base = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--" + str(abs(hash(pattern)))[:8],
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-02T00:00:00Z",
    }
    base.update(extra)
    return base


def _values(feed: ParsedFeed, kind: IndicatorKind) -> set[str]:
    return set(feed.entries.get(kind, {}))


def test_openphish_lines_deduplicated_with_phishing_category() -> None:
    feed = parse_feed(OPENPHISH, name="openphish.txt")
    assert feed.format is FeedFormat.OPENPHISH
    assert feed.category == "phishing"
    assert _values(feed, IndicatorKind.URL) == {
        "https://evil-login.example.com/office365/auth.php",
        "http://www.kit.example.net/",
    }
    assert feed.duplicates == 1 and feed.accepted == 2 and feed.malformed == 0


def test_phishtank_csv_quoted_fields_unverified_skipped_malformed_counted() -> None:
    feed = parse_feed(PHISHTANK, name="verified_online.csv")
    assert feed.format is FeedFormat.PHISHTANK_CSV
    urls = dict(feed.indicators(IndicatorKind.URL))
    assert set(urls) == {
        "http://phish.example.org/login/www.bank.example/x.htm",
        "https://phish.example.org/a,b/signin.php?x=1",
    }
    assert urls["http://phish.example.org/login/www.bank.example/x.htm"].first_seen == date(2024, 5, 1)
    assert feed.skipped == 1  # verified = no
    assert feed.malformed == 1 and "record" in feed.errors[0]


def test_csv_record_the_csv_module_refuses_is_malformed_not_fatal() -> None:
    # A bare carriage return inside an unquoted field made csv raise and the whole load fail.
    data = (
        b"phish_id,url,phish_detail_url,submission_time,verified,verification_time,online,target\n"
        b'1,http://bad\rone.example/,x,2024-05-01T00:00:00+00:00,yes,2024-05-01,yes,Other\n'
        b'2,http://phish.example.org/ok,x,2024-05-01T00:00:00+00:00,yes,2024-05-01,yes,Other\n'
    )
    feed = parse_feed(data, name="verified_online.csv")
    assert feed.fatal is None
    assert [u for u, _ in feed.indicators(IndicatorKind.URL)] == ["http://phish.example.org/ok"]
    assert feed.malformed >= 1


def test_urlhaus_quoted_csv_with_comment_header() -> None:
    feed = parse_feed(URLHAUS, name="csv.txt")
    assert feed.format is FeedFormat.URLHAUS_CSV
    urls = dict(feed.indicators(IndicatorKind.URL))
    assert set(urls) == {"http://198.51.100.7:52810/i"}
    label = urls["http://198.51.100.7:52810/i"]
    assert label.category == "malware" and label.first_seen == date(2024, 6, 1)
    # a URL with a space inside quotes is not a URL; the short row has too few columns
    assert feed.malformed == 2
    assert feed.records == 3


def test_domain_list_hosts_file_adblock_and_comments() -> None:
    feed = parse_feed(DOMAINS, name="blocklist.txt", format=FeedFormat.DOMAIN_LIST)
    assert _values(feed, IndicatorKind.DOMAIN) == {
        "evil.example.com",
        "tracker.example.net",
        "other.example.org",
        "ads.example.io",
        "wild.example.com",
        "example-upper.com",
    }
    assert feed.skipped == 1  # localhost
    assert feed.malformed == 2  # "bad name with spaces", "exa$mple.com"


def test_host_list_keeps_urls_as_urls_never_widened() -> None:
    data = b"# pihole\nweb-login.weebly.com\nhttp://hosted.example.com/kit/\n"
    feed = parse_feed(data, name="phishtank-pihole.txt")
    assert feed.format is FeedFormat.HOST_LIST
    assert feed.category == "phishing"  # hinted by the feed name
    assert _values(feed, IndicatorKind.HOST) == {"web-login.weebly.com"}
    assert _values(feed, IndicatorKind.URL) == {"http://hosted.example.com/kit/"}


def test_ip_list_cidr_and_too_broad_network() -> None:
    feed = parse_feed(IPS, name="drop.txt")
    assert feed.format is FeedFormat.IP_LIST
    assert _values(feed, IndicatorKind.IP) == {"192.0.2.1", "198.51.100.0/24", "2001:db8::/32", "10.1.2.3"}
    assert feed.skipped == 1  # 0.0.0.0/0 is over FeedLimits.min_ipv4_prefix
    assert feed.malformed == 1


def test_stix_or_patterns_revoked_expired_and_and_patterns() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    bundle = _stix(
        _indicator(
            "[url:value = 'http://stix.example.com/a'] OR [domain-name:value = 'bad.example.org']",
            indicator_types=["malicious-activity"],
            labels=["phishing"],
        ),
        _indicator("[ipv4-addr:value = '203.0.113.9' OR ipv6-addr:value = '2001:db8::9']"),
        _indicator("[domain-name:value = 'revoked.example']", revoked=True),
        _indicator("[domain-name:value = 'expired.example']", valid_until="2024-03-01T00:00:00Z"),
        _indicator("[url:value = 'http://a.example/' AND url:value = 'http://b.example/']"),
        _indicator("[domain-name:value = 'it\\'s.example']"),
        {"type": "malware", "id": "malware--1", "name": "x"},
        {"type": "indicator", "id": "indicator--nopattern"},
    )
    feed = parse_feed(bundle, name="taxii.json", now=now)
    assert feed.format is FeedFormat.STIX2
    urls = dict(feed.indicators(IndicatorKind.URL))
    assert set(urls) == {"http://stix.example.com/a"}
    assert urls["http://stix.example.com/a"].category == "phishing"
    assert urls["http://stix.example.com/a"].first_seen == date(2024, 1, 2)
    assert _values(feed, IndicatorKind.DOMAIN) == {"bad.example.org"}
    assert _values(feed, IndicatorKind.IP) == {"203.0.113.9", "2001:db8::9"}
    assert feed.skipped == 3  # revoked, expired, AND
    assert feed.malformed == 2  # unreadable domain value, indicator without pattern


def test_stix_not_json_is_fatal_not_raised() -> None:
    feed = parse_feed(b"{not json", name="x.json", format=FeedFormat.STIX2)
    assert feed.fatal and len(feed) == 0


def test_gzip_input_recognised_by_magic_bytes() -> None:
    plain = parse_feed(OPENPHISH, name="feed.txt")
    packed = parse_feed(gzip.compress(OPENPHISH), name="feed.txt.gz")
    assert packed.fatal is None
    assert packed.entries == plain.entries
    assert detect_format("feed.gz", gzip.compress(PHISHTANK)) is FeedFormat.PHISHTANK_CSV


def test_broken_gzip_and_decompression_bomb_are_fatal() -> None:
    assert parse_feed(gzip.compress(OPENPHISH)[:20], name="x.gz").fatal
    bomb = gzip.compress(b"a" * 100_000)
    feed = parse_feed(bomb, name="x.gz", limits=FeedLimits(max_decompressed_bytes=10_000))
    assert feed.fatal and "limit" in feed.fatal and len(feed) == 0


def test_size_and_indicator_limits() -> None:
    assert parse_feed(OPENPHISH, name="f", limits=FeedLimits(max_bytes=10)).fatal
    many = "\n".join(f"https://host{i}.example.com/" for i in range(50)).encode()
    feed = parse_feed(many, name="f", format=FeedFormat.URL_LIST, limits=FeedLimits(max_indicators=10))
    assert len(feed) == 10 and feed.truncated


def test_malformed_lines_counted_with_samples_never_raise() -> None:
    data = b"https://ok.example.com/\n\x00\xff garbage\njavascript:alert(1)\nftp://files.example.com/x\n"
    feed = parse_feed(data, name="urls.txt", format=FeedFormat.URL_LIST)
    assert _values(feed, IndicatorKind.URL) == {"https://ok.example.com/", "ftp://files.example.com/x"}
    assert feed.malformed == 2
    assert all(e.startswith("line ") for e in feed.errors)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("openphish.txt", OPENPHISH, FeedFormat.OPENPHISH),
        ("urls.txt", OPENPHISH, FeedFormat.URL_LIST),
        ("feed.csv", PHISHTANK, FeedFormat.PHISHTANK_CSV),
        ("csv.txt", URLHAUS, FeedFormat.URLHAUS_CSV),
        ("list.txt", DOMAINS, FeedFormat.DOMAIN_LIST),
        ("pihole-hosts.txt", b"a.example.com\nb.example.com\n", FeedFormat.HOST_LIST),
        ("drop.txt", IPS, FeedFormat.IP_LIST),
        ("bundle.json", _stix(), FeedFormat.STIX2),
    ],
)
def test_detect_format(name: str, data: bytes, expected: FeedFormat) -> None:
    assert detect_format(name, data) is expected
