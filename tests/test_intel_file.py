"""The compact intelligence file: a round trip gives the same answers as the in-memory index, and a
damaged or foreign file is refused with a clear error."""

from __future__ import annotations

import hashlib
import json
import random
import string
import struct

import pytest

from tap_core.urls.feeds import FeedFormat, parse_feed
from tap_core.urls.intel import IntelIndex
from tap_core.urls.intel_file import FORMAT_VERSION, IntelFileError
from tests import test_feeds

_HEADER = struct.Struct("<8sHHIQ32s")


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(3, 10)))


def _generated(seed: int = 5) -> tuple[IntelIndex, list[str]]:
    """A few thousand indicators of every kind (shared platforms, www, ports, unicode, CIDRs,
    keys listed by two feeds) and queries that hit and miss them in every way."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    tlds = ("com", "net", "co.uk", "io", "vercel.app", "github.io", "example")
    hosts = [f"{_word(rng)}.{rng.choice(tlds)}" for _ in range(800)]
    hosts += ["faß.example", "www.w-host.com", "github.io", "intranet", "a.b.c.d.example"]
    urls = []
    for _ in range(1500):
        path = "/".join(_word(rng) for _ in range(rng.randint(0, 3)))
        url = f"{rng.choice(('http', 'https'))}://{rng.choice(('', 'www.'))}{rng.choice(hosts)}/{path}"
        if rng.random() < 0.2:
            url += f"?id={_word(rng)}"
        if rng.random() < 0.05:
            url = url.replace("://", "://", 1).replace(".com/", ".com:8080/", 1)
        urls.append(url)
    urls += ["https://sites.google.com/", "https://sites.google.com/view/evil", "http://straße.example/login",
             "http://[2001:db8::7]:8080/kit", "http://[2001:db8::8]/", "http://www.com/x", "http://www.intra/y",
             "http://10.1.2.3:81/p", "https://www.a.b.example/?q=1"]
    ips = [f"192.0.{i}.{rng.randint(1, 254)}" for i in range(200)] + ["198.51.100.0/24", "2001:db8::/32"]
    feeds = [
        parse_feed("\n".join(urls).encode(), name="op", format=FeedFormat.OPENPHISH),
        parse_feed("\n".join(urls[::3]).encode(), name="second", format=FeedFormat.URL_LIST),
        parse_feed("\n".join(hosts).encode(), name="hosts", format=FeedFormat.HOST_LIST),
        parse_feed("".join(f"0.0.0.0 {h}\n" for h in hosts[::2]).encode(), name="dom", format=FeedFormat.DOMAIN_LIST),
        parse_feed("\n".join(ips).encode(), name="ips", format=FeedFormat.IP_LIST),
    ]
    index = IntelIndex.from_feeds(feeds)
    queries = list(urls)
    for url in urls[:400]:
        queries += [url.rstrip("/") + "/deeper/x?y=1", url + "chen", url.replace("://", "://a.", 1),
                    url.upper(), url + "#frag"]
    queries += [f"https://{_word(rng)}.{h}/" for h in hosts[:300]] + [f"https://{h}x/" for h in hosts[:100]]
    queries += [f"http://{ip.split('/')[0]}/bin" for ip in ips] + ["http://198.51.100.9:81/", "http://[2001:db8::5]/",
                                                                    "http://[2001:db9::5]/", "http://192.0.0.0/"]
    queries += ["not a url", "https://", "https://xn--fa-hia.example/x", "http://straße.example/login/a",
                "http://srv.intranet/", "http://intranet/", "http://x.c.d.example/", "http://z.a.b.c.d.example/",
                "http://[2001:db8::7]:8080/kit/x", "http://[2001:db8::7]/kit", "http://www.intra/y/z",
                "http://intra/y", "http://10.1.2.3:81/p/q", "http://10.1.2.3/p", "https://a.b.example/?q=1"]
    return index, queries


def _same_answers(old: IntelIndex, new: IntelIndex, queries: list[str]) -> int:
    hits = 0
    for q in queries:
        assert new.match(q) == old.match(q), q
        assert new.contains(q) == old.contains(q), q
        hits += bool(old.contains(q))
    assert new.match_many(queries) == old.match_many(queries)
    return hits


def test_round_trip_answers_like_the_in_memory_index_on_a_generated_set() -> None:
    old, queries = _generated()
    new = IntelIndex.from_bytes(old.to_bytes())
    hits = _same_answers(old, new, queries)
    assert 0.2 * len(queries) < hits < len(queries)  # the set exercises hits and misses
    assert any(len(old.match(q)) > 1 for q in queries)  # and keys listed by two feeds
    assert len(new) == len(old) and new.frozen
    assert new.stats().counts == old.stats().counts and new.stats().feeds == old.stats().feeds
    assert new.stats().approx_bytes < old.stats().approx_bytes


def test_round_trip_on_the_feed_fixtures() -> None:
    feeds = [
        parse_feed(data, name=name)
        for name, data in (
            ("openphish.txt", test_feeds.OPENPHISH),
            ("verified_online.csv", test_feeds.PHISHTANK),
            ("csv.txt", test_feeds.URLHAUS),
            ("domains.txt", test_feeds.DOMAINS),
            ("ips.txt", test_feeds.IPS),
        )
    ]
    old = IntelIndex.from_feeds(feeds)
    assert len(old) > 5
    new = IntelIndex.from_bytes(old.to_bytes())
    listed = [value for feed in feeds for entries in feed.entries.values() for value in entries]
    queries = [v if "://" in v else f"http://{v.split('/')[0]}" for v in listed]
    queries += [q + "/more" for q in queries] + [q.replace("://", "://sub.", 1) for q in queries]
    queries += ["http://198.51.100.7:52810/i", "http://203.0.113.9/", "https://files.example.com/x"]
    assert _same_answers(old, new, queries) > 5
    hit = next(h for q in queries for h in new.match(q) if h.first_seen is not None)
    assert hit in old.match(f"http://{hit.indicator}")  # feed, category and first seen survive


def test_an_empty_index_round_trips() -> None:
    new = IntelIndex.from_bytes(IntelIndex().freeze().to_bytes())
    assert len(new) == 0 and new.match("https://evil.example/") == [] and not new.contains("http://192.0.2.1/")


def test_a_loaded_index_refreshes_through_copy() -> None:
    old, _queries = _generated()
    new = IntelIndex.from_bytes(old.to_bytes())
    with pytest.raises(RuntimeError):
        new.add_feed(parse_feed(b"https://x.example/", name="x", format="url_list"))
    fresh = new.copy()
    assert fresh.remove_feed("ips") > 0
    fresh.add_feed(parse_feed(b"https://added.example/kit\n", name="x", format="url_list"))
    fresh.freeze()
    assert fresh.contains("https://added.example/kit/a") and not fresh.contains("http://198.51.100.9/")
    assert new.contains("http://198.51.100.9/") and not new.contains("https://added.example/kit/a")


def _reseal(data: bytes, *, version: int | None = None, payload: bytes | None = None) -> bytes:
    """``data`` with another format version or payload, and a checksum that matches it."""
    magic, ver, r1, r2, _length, _digest = _HEADER.unpack_from(data)
    body = data[_HEADER.size :] if payload is None else payload
    ver = ver if version is None else version
    return _HEADER.pack(magic, ver, r1, r2, len(body), hashlib.sha256(body).digest()) + body


def test_a_corrupt_file_is_refused() -> None:
    old, _queries = _generated()
    data = bytearray(old.to_bytes())
    data[len(data) // 2] ^= 0x40
    with pytest.raises(IntelFileError, match="checksum"):
        IntelIndex.from_bytes(bytes(data))
    with pytest.raises(IntelFileError, match="truncated"):
        IntelIndex.from_bytes(old.to_bytes()[:-100])
    with pytest.raises(IntelFileError, match="too short"):
        IntelIndex.from_bytes(b"TAPINTEL")
    with pytest.raises(IntelFileError, match="magic"):
        IntelIndex.from_bytes(b"GARBAGE!" + old.to_bytes()[8:])
    # A well-sealed file whose directory is nonsense (a writer bug or a forgery) is refused too.
    with pytest.raises(IntelFileError, match="directory"):
        IntelIndex.from_bytes(_reseal(old.to_bytes(), payload=struct.pack("<I", 4) + b"[1] "))


def test_another_format_version_is_refused() -> None:
    data = IntelIndex().freeze().to_bytes()
    with pytest.raises(IntelFileError, match=f"format {FORMAT_VERSION + 1} is not supported"):
        IntelIndex.from_bytes(_reseal(data, version=FORMAT_VERSION + 1))
    assert isinstance(IntelFileError("x"), ValueError)  # callers that catch bad input catch it


def test_a_sealed_file_with_a_full_slot_table_is_refused_not_looped_on() -> None:
    # A lookup walks slots until an empty one: a table without one (only a writer bug or a
    # forgery can seal it) must be refused at load, or a miss would never return.
    old, _queries = _generated()
    data = old.to_bytes()
    payload = bytearray(data[_HEADER.size :])
    (head_len,) = struct.unpack_from("<I", payload)
    directory = json.loads(bytes(payload[4 : 4 + head_len]))
    sections = directory["tables"]["url_prefix"]
    at = 4 + head_len + sections["slots"]
    payload[at : at + 4 * sections["size"]] = struct.pack("<I", 1) * sections["size"]
    with pytest.raises(IntelFileError, match="slot table"):
        IntelIndex.from_bytes(_reseal(data, payload=bytes(payload)))


@pytest.mark.parametrize("forged", [[0, 3], [0, 0], [1 << 40, 8]])
def test_a_sealed_file_with_a_malformed_filter_is_refused(forged: list[int]) -> None:
    # A filter of no power-of-two size, or outside the file, would misread every lookup: refused at load.
    old, _queries = _generated()
    data = old.to_bytes()
    payload = bytearray(data[_HEADER.size :])
    (head_len,) = struct.unpack_from("<I", payload)
    directory = json.loads(bytes(payload[4 : 4 + head_len]))
    directory["filter"] = forged
    head = json.dumps(directory, separators=(",", ":")).encode()
    head += b" " * (head_len - len(head))
    assert len(head) == head_len  # the same directory length keeps every offset in place
    payload[4 : 4 + head_len] = head
    with pytest.raises(IntelFileError, match="filter section malformed"):
        IntelIndex.from_bytes(_reseal(data, payload=bytes(payload)))
