"""Differential: the file-backed index (byte filter in front of the compact tables) and the
in-memory dicts give identical answers on hits and near-misses, and a URL read by the plain-URL
fast path answers as the same URL read by the general splitter."""

from __future__ import annotations

import random
import string

import pytest

from tap_core.urls import intel_file
from tap_core.urls.feeds import FeedFormat, parse_feed
from tap_core.urls.intel import IntelIndex, url_key

_TLDS = ("com", "net", "co.uk", "io", "vercel.app", "github.io", "example", "xn--p1ai")


def _word(rng: random.Random, lo: int = 3, hi: int = 9) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits + "-_", k=rng.randint(lo, hi))).strip("-") or "w"


def _feeds(rng: random.Random) -> tuple[list[str], list[str], list[str], list[str]]:
    hosts = [f"{_word(rng)}.{rng.choice(_TLDS)}" for _ in range(600)]
    hosts += [f"{_word(rng)}.{h}" for h in hosts[:50]] + ["intranet", "www.w-host.com", "faß.example"]
    urls = []
    for _ in range(1200):
        path = "/".join(_word(rng) for _ in range(rng.randint(0, 4)))
        url = f"{rng.choice(('http', 'https'))}://{rng.choice(('', 'www.'))}{rng.choice(hosts)}/{path}"
        if rng.random() < 0.25:
            url += f"?id={_word(rng)}&next=/{_word(rng)}?x"
        urls.append(url)
    urls += ["http://plain.example/caf\u00e9/menu", "http://lone.example/\udcff/x", "http://x.example:8080/p"]
    # a listed domain with many URL keys on its subdomains (its anchor is wide)
    urls += [f"http://s{i}.wide.example/p{i}" for i in range(40)] + ["http://www.wwwide.example/k"] * 2
    urls += ["http://github.io/evil-kit", "https://www.vercel.app/kit?id=1"]  # on a wide anchor itself
    # prefixes around the depth limit of the prefix walk (32 segment boundaries)
    urls += ["http://deep.example/" + "/".join(f"s{i}" for i in range(depth)) for depth in (31, 32, 33, 34, 40)]
    domains = [f"{_word(rng)}.{rng.choice(_TLDS)}" for _ in range(300)]
    ips = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
           for _ in range(150)]
    ips += ["198.51.100.0/24", "10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]
    return urls, hosts, domains, ips


def _near_misses(rng: random.Random, urls: list[str], hosts: list[str], ips: list[str]) -> list[str]:
    out: list[str] = []
    for url in urls[:500]:
        cut = rng.randrange(len(url) // 2, len(url))
        out += [
            url,
            url[:cut] + rng.choice("aZ0/.?#-") + url[cut + 1 :],  # one character changed
            url[:cut],  # truncated
            url.rstrip("/") + "/deeper/page?s=1",
            url + "chen",  # never a prefix on a segment boundary
            url.replace("://", "://sub.", 1),
            url.replace("://www.", "://", 1) if "://www." in url else url.replace("://", "://www.", 1),
            url.replace("/", "./", 3).replace("./", "/", 2),  # a trailing dot on the host
            url.replace("://", "://user@", 1),
            url + "#frag",
        ]
    for host in hosts[:300]:
        out += [f"https://{host}/", f"https://{_word(rng)}.{host}/a", f"https://{host}x/", f"http://{host}:81/",
                f"https://{host[1:]}/", f"https://{host}./", f"HTTPS://{host.upper()}/P"]
    for ip in ips:
        bare = ip.split("/")[0]
        head, _sep, last = bare.rpartition(".")
        out += [f"http://{bare}/bin", f"http://{head}.{(int(last) + 1) % 256}/" if head else f"http://[{bare}]/"]
        if head:
            out += [f"http://{head}.0{last}/", f"http://{head}.{last}./", f"http://{bare}:8080/x"]
    out += ["http://10.255.255.255/", "http://256.1.1.1/", "http://1.2.3/", "http://[2001:db8::9]/", "http://[::1]/",
            "http://intranet/", "http://srv.intranet/x", "https://", "not a url", "http:///path", "http://./",
            "http://lone.example/\udcff/x/y", "http://plain.example/caf\u00e9/menu/today"]
    out += ["http://new.wide.example/x", "http://a.b.wide.example/", "http://wide.example/", "http://s1.wide.example/",
            "http://www.wwwide.example/k", "http://wwwide.example/k/l", "http://www.www.wwwide.example/k",
            "http://www.github.io/evil-kit/x", "http://github.io/evil-kit", "http://x.github.io/evil-kit",
            "https://vercel.app/kit?id=1", "https://www.vercel.app/kit?id=1", "https://a.vercel.app/kit?id=1"]
    out += ["http://deep.example/" + "/".join(f"s{i}" for i in range(depth)) + tail
            for depth in range(29, 45) for tail in ("", "/x", "?q=1")]
    return out


def _generated(seed: int) -> tuple[IntelIndex, list[str]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    urls, hosts, domains, ips = _feeds(rng)
    feeds = [
        parse_feed("\n".join(urls).encode("utf-8", "surrogatepass"), name="op", format=FeedFormat.OPENPHISH),
        parse_feed("\n".join(urls[::4]).encode("utf-8", "surrogatepass"), name="urls", format=FeedFormat.URL_LIST),
        # a third of the hosts URLs live on: the others' URLs match only through their URL keys
        parse_feed("\n".join([*hosts[::3], "wide.example"]).encode(), name="hosts", format=FeedFormat.HOST_LIST),
        parse_feed("".join(f"0.0.0.0 {d}\n" for d in domains).encode(), name="dom", format=FeedFormat.DOMAIN_LIST),
        parse_feed("\n".join(ips).encode(), name="ips", format=FeedFormat.IP_LIST),
    ]
    return IntelIndex.from_feeds(feeds), _near_misses(rng, urls, hosts, ips)


def _assert_same(memory: IntelIndex, loaded: IntelIndex, queries: list[str]) -> int:
    hits = 0
    for q in queries:
        expected = memory.match(q)
        assert loaded.match(q) == expected, q
        assert loaded.contains(q) is memory.contains(q) is bool(expected), q
        hits += bool(expected)
    return hits


@pytest.mark.parametrize("seed", [1, 2])
def test_file_backed_and_in_memory_indexes_agree_on_hits_and_near_misses(seed: int) -> None:
    memory, queries = _generated(seed)
    loaded = IntelIndex.from_bytes(memory.to_bytes())
    hits = _assert_same(memory, loaded, queries)
    assert 0.2 * len(queries) < hits < 0.8 * len(queries)  # both sides of every boundary are asked


def test_a_saturated_filter_changes_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # A filter far too small for its strings passes nearly every probe on to the tables: the
    # answers must not depend on how well the filter screens.
    memory, queries = _generated(3)
    monkeypatch.setattr(intel_file, "FILTER_SLOTS_PER_KEY", 0)
    small = memory.to_bytes()
    monkeypatch.undo()
    assert len(small) < len(memory.to_bytes()) - 8 * len(memory)
    _assert_same(memory, IntelIndex.from_bytes(small), queries)


def test_the_plain_url_fast_path_answers_as_the_general_splitter() -> None:
    # An upper-case scheme is never read by the fast path; it means the same URL.
    memory, queries = _generated(4)
    loaded = IntelIndex.from_bytes(memory.to_bytes())
    plain = [q for q in queries if q.startswith(("http://", "https://"))]
    assert len(plain) > 1000
    for q in plain:
        general = q.replace("http", "HTTP", 1)
        assert url_key(general) == url_key(q), q
        assert memory.match(general) == memory.match(q), q
        assert loaded.match(general) == loaded.match(q), q
        assert loaded.contains(general) is loaded.contains(q), q
