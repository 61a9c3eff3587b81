"""Scale benchmark of the threat-intelligence index: 1,000,000 synthetic indicators.

Generates feeds as bytes (deterministic seed): URLs (OpenPhish-style list), hosts (pihole
list), domains (hosts-file lines) and IPs/CIDRs. Measures parse time, load time (add_feed +
freeze), memory, and lookups per second over a mix of hits (exact URL, URL prefix, subdomain
of a listed host/domain, IP in a listed network) and misses. Peers, run in the same process on
the same query mix:

* naive: ``any(url.startswith(p) for p in prefixes)`` over a 10,000-entry list (what a small
  hand-rolled blocklist does);
* plain set: ``url in set_of_exact_urls`` over the same 500,000 feed URLs (fast, but matches
  only byte-identical URLs: no prefix, host, domain or IP semantics).

Memory is measured twice: tracemalloc (bytes still allocated after parsing and loading, with
the parsed feeds dropped -- everything the index keeps) and IntelIndex.stats().approx_bytes
(sys.getsizeof sums of tables and keys).

The compact file: the same index is then written as the compact file the refresh timer stores
(``IntelIndex.to_bytes``), and a fresh process (what a new instance is) imports the module,
reads the file in one go and loads it (``IntelIndex.from_bytes``), timed and memory-traced
there; then match()/contains() of the loaded index, with the in-memory index and the baseline
(``tap_core/urls/intel.py`` and ``intel_file.py`` as of ``--baseline``, read with git into a
temporary module: the code before the lookup work of issue 17) on the same queries, in
alternating rounds, best round each.

Two query mixes, both of distinct URLs (no lookup is repeated to profit from a cache):

* stress (``--hit-share 0.6``, the figure of issue 17): 60 % built to hit -- feed URLs, pages
  under a listed prefix, subdomains of listed domains and hosts, IPs in listed networks -- and
  40 % fresh random URLs, a fifth of them on shared platforms (vercel.app, github.io, ...) and
  some under co.uk, whose suffixes carry many indicators;
* realistic (``--real-hit-share 0.01``): the same kinds, 1 % hits. A redirector's clicks and a
  purge's re-checks are nearly all misses.

    .venv/bin/python bench/intel_scale.py [--indicators 1000000] [--queries 200000] [--seed 7]
        [--baseline c89f12b]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import random
import string
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_core.urls.feeds import FeedFormat, ParsedFeed, parse_feed
from tap_core.urls.intel import IntelIndex

_TLDS = ("com", "net", "org", "info", "xyz", "top", "io", "co.uk", "de", "ru", "shop", "online")
_PLATFORMS = ("vercel.app", "netlify.app", "pages.dev", "blogspot.com", "weebly.com", "github.io")
_WORDS = ("login", "secure", "account", "verify", "update", "wp-admin", "office", "auth", "files", "docs")


def _name(rng: random.Random, lo: int = 6, hi: int = 14) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(lo, hi)))


def _host(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"{_name(rng)}.{rng.choice(_PLATFORMS)}"
    sub = f"{_name(rng, 3, 8)}." if rng.random() < 0.3 else ""
    return f"{sub}{_name(rng)}-{rng.choice(_WORDS)}.{rng.choice(_TLDS)}"


def _url(rng: random.Random) -> str:
    depth = rng.randint(0, 4)
    path = "/".join(rng.choice(_WORDS) if rng.random() < 0.4 else _name(rng, 3, 10) for _ in range(depth))
    url = f"{rng.choice(('http', 'https'))}://{_host(rng)}/{path}"
    if rng.random() < 0.25:
        url += f"?id={_name(rng, 8, 16)}"
    return url


def generate(total: int, seed: int) -> dict[str, tuple[FeedFormat, bytes, list[str]]]:
    """Feed name -> (format, bytes, the indicator strings written)."""
    rng = random.Random(seed)
    n_url, n_host, n_domain = total * 50 // 100, total * 30 // 100, total * 15 // 100
    n_ip = total - n_url - n_host - n_domain
    urls = [_url(rng) for _ in range(n_url)]
    hosts = [_host(rng) for _ in range(n_host)]
    domains = [f"{_name(rng)}.{rng.choice(_TLDS)}" for _ in range(n_domain)]
    ips: list[str] = []
    for i in range(n_ip):
        a, b, c, d = (rng.randint(1, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
        ips.append(f"{a}.{b}.{c}.0/24" if i % 10 == 0 else f"{a}.{b}.{c}.{d}")
    header = "# synthetic feed for bench/intel_scale.py\n"
    return {
        "synthetic-openphish.txt": (FeedFormat.OPENPHISH, ("\n".join(urls) + "\n").encode(), urls),
        "synthetic-pihole-hosts.txt": (FeedFormat.HOST_LIST, (header + "\n".join(hosts)).encode(), hosts),
        "synthetic-domains.txt": (
            FeedFormat.DOMAIN_LIST,
            (header + "".join(f"0.0.0.0 {d}\n" for d in domains)).encode(),
            domains,
        ),
        "synthetic-ips.txt": (FeedFormat.IP_LIST, (header + "\n".join(ips)).encode(), ips),
    }


#: The stress mix's share of hits, kept from the first version of this bench (comparable figures).
_STRESS_HITS = 0.60
#: The commit before the lookup work of issue 17 (the "before" of the before/after).
_BASELINE = "c89f12b"


def queries(
    feeds: dict[str, tuple[FeedFormat, bytes, list[str]]], n: int, seed: int, hit_share: float = _STRESS_HITS
) -> tuple[list[str], int]:
    """A shuffled query mix and the number of queries built to hit (the kinds of hits in fixed
    proportions; ``hit_share`` of the queries)."""
    rng = random.Random(seed + 1)
    urls = feeds["synthetic-openphish.txt"][2]
    hosts = feeds["synthetic-pihole-hosts.txt"][2]
    domains = feeds["synthetic-domains.txt"][2]
    ips = feeds["synthetic-ips.txt"][2]
    out: list[str] = []
    hits = 0
    for _ in range(n):
        r = rng.random()
        r = r * (_STRESS_HITS / hit_share) if r < hit_share else 1.0  # the kind of hit, or a miss
        if r < 0.25:
            out.append(rng.choice(urls))
        elif r < 0.40:
            base = rng.choice(urls)
            while "?" in base:  # feed URLs with a query match exactly only: pick a prefix entry
                base = rng.choice(urls)
            out.append(f"{base.rstrip('/')}/deeper/page.html?session={_name(rng)}")
        elif r < 0.50:
            out.append(f"https://www.{rng.choice(domains)}/path/{_name(rng)}")
        elif r < 0.55:
            out.append(f"http://{rng.choice(hosts)}/x")
        elif r < 0.60:
            ip = rng.choice(ips).split("/", 1)[0]
            if ip.endswith(".0"):
                ip = ip[:-2] + f".{rng.randint(1, 254)}"
            out.append(f"http://{ip}/bin.sh")
        else:
            out.append(_url(rng))  # fresh random URL: a miss (collisions are negligible)
            continue
        hits += 1
    rng.shuffle(out)
    return out, hits


def _rate(fn, items: list[str]) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    found = 0
    start = time.perf_counter()
    for item in items:
        if fn(item):
            found += 1
    elapsed = time.perf_counter() - start
    return len(items) / elapsed, found


def build(feeds: dict[str, tuple[FeedFormat, bytes, list[str]]]) -> tuple[IntelIndex, float, float]:
    parse_s = load_s = 0.0
    index = IntelIndex()
    for name, (fmt, data, _items) in feeds.items():
        t0 = time.perf_counter()
        parsed: ParsedFeed = parse_feed(data, name=name, format=fmt)
        t1 = time.perf_counter()
        index.add_feed(parsed)
        t2 = time.perf_counter()
        parse_s += t1 - t0
        load_s += t2 - t1
        del parsed
    index.freeze()
    return index, parse_s, load_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--hit-share", type=float, default=_STRESS_HITS, help="hits in the stress mix")
    parser.add_argument("--real-hit-share", type=float, default=0.01, help="hits in the realistic mix")
    parser.add_argument("--baseline", default=_BASELINE, help="git revision of the 'before' lookups")
    args = parser.parse_args()

    feeds = generate(args.indicators, args.seed)
    feed_bytes = sum(len(data) for _fmt, data, _items in feeds.values())
    print(f"generated {args.indicators:,} indicators in {len(feeds)} feeds, {feed_bytes / 1e6:.1f} MB")

    gc.collect()
    index, parse_s, load_s = build(feeds)
    stats = index.stats()
    n = len(index)
    print(
        f"parse: {parse_s:.2f} s   load (add_feed+freeze): {load_s:.2f} s   total: {parse_s + load_s:.2f} s"
    )
    print(f"indexed keys: {n:,}  by kind: {stats.counts}")
    print(
        f"memory (sys.getsizeof sums, IntelIndex.stats): {stats.approx_bytes / 1e6:.1f} MB = "
        f"{stats.approx_bytes / n:.0f} bytes/indicator"
    )

    # Memory, second measure: everything still allocated after a traced parse+load.
    del index
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    traced_index, _p, _l = build(feeds)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    retained = after - before
    print(
        f"memory (tracemalloc, retained by the index): {retained / 1e6:.1f} MB = "
        f"{retained / len(traced_index):.0f} bytes/indicator"
    )
    index = traced_index

    qs, expected_hits = queries(feeds, args.queries, args.seed, args.hit_share)
    match_rate, found = _rate(index.match, qs)
    contains_rate, found_c = _rate(index.contains, qs)
    many_start = time.perf_counter()
    batch = index.match_many(qs)
    many_rate = len(qs) / (time.perf_counter() - many_start)
    print(
        f"queries (stress mix): {len(qs):,}, {len(set(qs)):,} distinct ({expected_hits:,} built to hit)  "
        f"match() found {found:,}, "
        f"contains() found {found_c:,}, match_many() found {len(batch):,} distinct"
    )
    print(
        f"lookups/s: match() {match_rate:,.0f}   contains() {contains_rate:,.0f}   "
        f"match_many() {many_rate:,.0f}"
    )

    # Peers on the same queries.
    url_items = feeds["synthetic-openphish.txt"][2]
    prefixes = url_items[:10_000]
    sample = qs[:2_000]

    def naive(url: str) -> bool:
        return any(url.startswith(p) for p in prefixes)

    naive_rate, _ = _rate(naive, sample)
    exact = set(url_items)
    set_rate, set_found = _rate(exact.__contains__, qs)
    print(
        f"peer naive startswith over 10k prefixes: {naive_rate:,.0f} lookups/s "
        f"-> IntelIndex.match is {match_rate / naive_rate:,.0f}x faster (over 100x more indicators)"
    )
    print(
        f"peer plain set of {len(exact):,} exact URLs: {set_rate:,.0f} lookups/s, found {set_found:,} "
        f"-> ratio IntelIndex.contains/set = {contains_rate / set_rate:.2f} "
        f"(the set finds only byte-identical URLs)"
    )
    real_qs, real_hits = queries(feeds, args.queries, args.seed + 100, args.real_hit_share)
    print(f"queries (realistic mix): {len(real_qs):,}, {len(set(real_qs)):,} distinct "
          f"({real_hits:,} built to hit)")
    loaded = compact(index, {"stress": qs, "realistic": real_qs}, args.baseline)
    breakdown(loaded, {"stress": qs, "realistic": real_qs})


_FRESH = """
import json, sys, time, tracemalloc
t0 = time.perf_counter()
from tap_core.urls.intel import IntelIndex
t1 = time.perf_counter()
tracemalloc.start()
with open(sys.argv[1], "rb") as fh:
    data = fh.read()
index = IntelIndex.from_bytes(data)
del data
index.contains("https://warm.example/")
t2 = time.perf_counter()
held = tracemalloc.get_traced_memory()[0]
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "held": held, "n": len(index)}))
"""


def baseline_module(rev: str) -> ModuleType | None:
    """``tap_core.urls.intel`` as of ``rev`` (with its ``intel_file``), read with git into a
    temporary module, for a before/after in one run; None (said why) when that cannot be done."""
    root = Path(__file__).resolve().parent.parent
    sources: dict[str, str] = {}
    for name in ("intel_file", "intel"):
        try:
            done = subprocess.run(["git", "-C", str(root), "show", f"{rev}:tap_core/urls/{name}.py"],
                                  capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"baseline {rev}: cannot read tap_core/urls/{name}.py with git ({exc}): no before/after")
            return None
        sources[name] = done.stdout
    own_import = "from tap_core.urls import intel_file\n"
    if sources["intel"].count(own_import) != 1:
        print(f"baseline {rev}: its intel.py does not import intel_file as expected: no before/after")
        return None
    sources["intel"] = sources["intel"].replace(own_import, "import _baseline_intel_file as intel_file\n")
    folder = Path(tempfile.mkdtemp(prefix="intel-baseline-"))
    module: ModuleType | None = None
    for name in ("intel_file", "intel"):
        path = folder / f"_baseline_{name}.py"
        path.write_text(sources[name])
        spec = importlib.util.spec_from_file_location(f"_baseline_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    return module


def _as_baseline(index: IntelIndex, baseline: ModuleType) -> Any:
    """The baseline's frozen index over the same tables (its layout is this one's)."""
    old = baseline.IntelIndex()
    for name in ("_url_exact", "_url_prefix", "_host_exact", "_host_tree", "_nets", "_sources",
                 "_source_ids", "_counts"):
        setattr(old, name, getattr(index, name))
    return old.freeze()


def compact(index: IntelIndex, mixes: dict[str, list[str]], rev: str) -> IntelIndex:
    """The compact file: build it, load it in a fresh process, look up the same queries."""
    t0 = time.perf_counter()
    data = index.to_bytes()
    build_s = time.perf_counter() - t0
    n = len(index)
    print(f"compact file (the refresh builds it once: parse + index above, then write): "
          f"written in {build_s:.2f} s, {len(data) / 1e6:.1f} MB = {len(data) / n:.1f} bytes/indicator")
    with tempfile.NamedTemporaryFile(suffix=".tapintel") as fh:
        fh.write(data)
        fh.flush()
        root = str(Path(__file__).resolve().parent.parent)
        out = subprocess.run([sys.executable, "-c", _FRESH, fh.name], capture_output=True, text=True,
                             cwd=root, check=True)
    fresh = json.loads(out.stdout)
    print(
        f"fresh process: import {fresh['import_s']:.2f} s + read and load {fresh['load_s']:.2f} s "
        f"= ready in {fresh['import_s'] + fresh['load_s']:.2f} s; held {fresh['held'] / 1e6:.1f} MB = "
        f"{fresh['held'] / fresh['n']:.1f} bytes/indicator (tracemalloc)"
    )
    loaded = IntelIndex.from_bytes(data)
    del data
    indexes: dict[str, Any] = {"compact": loaded, "in-memory": index}
    baseline = baseline_module(rev)
    if baseline is not None:
        old_data = _as_baseline(index, baseline).to_bytes()
        indexes[f"compact before ({rev})"] = baseline.IntelIndex.from_bytes(old_data)
        print(f"baseline compact file ({rev}): {len(old_data) / 1e6:.1f} MB = "
              f"{len(old_data) / n:.1f} bytes/indicator")
        del old_data
    # Alternate the indexes in rounds on the same queries and keep each one's best round: on a
    # shared machine a burst of someone else's work then moves all, not one.
    best: dict[tuple[str, str, str], float] = {}
    found: dict[tuple[str, str, str], int] = {}
    for _round in range(3):
        for label, ix in indexes.items():
            for mix, qs in mixes.items():
                for name in ("match", "contains"):
                    rate, hits = _rate(getattr(ix, name), qs)
                    best[(label, mix, name)] = max(rate, best.get((label, mix, name), 0.0))
                    found[(label, mix, name)] = hits
    for (label, mix, name), hits in found.items():
        if hits != found[("in-memory", mix, name)]:
            print(f"!! {label} {name}() found {hits:,} on the {mix} mix, the in-memory index "
                  f"{found[('in-memory', mix, name)]:,}")
    print(f"{'lookups/s, best of 3 rounds':36s}"
          + "".join(f"{mix + ' match()':>20s}{mix + ' contains()':>24s}" for mix in mixes))
    for label in indexes:
        print(f"  {label:34s}" + "".join(
            f"{best[(label, mix, 'match')]:20,.0f}{best[(label, mix, 'contains')]:24,.0f}" for mix in mixes))
    for label in indexes:
        if label != "compact":
            print(f"  {'compact / ' + label:34s}" + "".join(
                f"{best[('compact', mix, 'match')] / best[(label, mix, 'match')]:19.2f}x"
                f"{best[('compact', mix, 'contains')] / best[(label, mix, 'contains')]:23.2f}x"
                for mix in mixes))
    print(f"  (found, stress mix: match() {found[('compact', 'stress', 'match')]:,}, contains() "
          f"{found[('compact', 'stress', 'contains')]:,}; realistic mix: "
          f"{found[('compact', 'realistic', 'contains')]:,})")
    return loaded


def _ns(fn, items: list[Any]) -> float:  # type: ignore[no-untyped-def]
    """Nanoseconds per call of ``fn`` over ``items``, best of 3."""
    best = float("inf")
    for _round in range(3):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return best * 1e9 / max(1, len(items))


def breakdown(loaded: IntelIndex, mixes: dict[str, list[str]]) -> None:
    """Where a lookup of the compact index spends its time: the cost of each step alone (over
    the stress mix, best of 3) and how many table probes (a Python call into the file) a
    lookup makes. The filter reads are one byte each, inline."""
    from zlib import crc32

    from tap_core.urls import intel

    qs = mixes["stress"]
    parts = [p for p in map(intel._split, qs) if p is not None]
    hosts = [p[0] for p in parts]
    keys = [hit.indicator for q in qs[:20_000] for hit in loaded.match(q) if hit.kind.value == "url_prefix"]
    flt, mask = loaded._filter, loaded._filter_mask
    assert flt is not None
    prefix = loaded._url_prefix

    def anchor(host: str) -> int:
        last = host.rfind(".")
        cut = host.rfind(".", 0, last) if last > 0 else -1
        return flt[crc32(host[cut + 1 :].encode("utf-8", "surrogatepass")) & mask]

    def filter_read(key: str) -> int:
        return flt[crc32(key.encode("utf-8", "surrogatepass")) & mask] & 32

    def no_op(_url: str) -> bool:
        return False

    sample = qs[:50_000]
    steps = {
        "call and loop (a no-op function)": _ns(no_op, sample),
        "URL split (_split)": _ns(intel._split, sample),
        "anchor read, in a function": _ns(anchor, hosts[:50_000]),
        "one filter read, in a function": _ns(filter_read, keys),
        "table probe, a key present": _ns(prefix.get, keys),
        "table probe, a key absent": _ns(prefix.get, [k + "/zz" for k in keys]),
        "prefix candidates list (match; lambda)": _ns(
            lambda p: intel._prefix_candidates(p[1], p[1] + p[2]), parts[:50_000]),
        "IntelHit built (match, per hit; lambda)": _ns(
            lambda k: intel.IntelHit(k, intel.IndicatorKind.URL_PREFIX, "feed", "phishing", None), keys),
    }
    print("per-call cost of each step alone, ns (stress mix; the lookups above add the interpreter's "
          "glue between them):")
    for label, ns in steps.items():
        print(f"  {label:42s}{ns:8.0f}")
    counted = {"n": 0}
    tables = [loaded._url_exact, loaded._url_prefix, loaded._host_exact, loaded._host_tree,
              *loaded._nets.values()]
    originals = [table.get for table in tables]

    def counting(get):  # type: ignore[no-untyped-def]
        def probe(key: Any, default: Any = None) -> Any:
            counted["n"] += 1
            return get(key, default)
        return probe

    try:
        for table, get in zip(tables, originals, strict=True):
            table.get = counting(get)
        for mix, mix_qs in mixes.items():
            for name in ("contains", "match"):
                counted["n"] = 0
                for q in mix_qs:
                    getattr(loaded, name)(q)
                print(f"  table probes per {name}() call, {mix} mix: {counted['n'] / len(mix_qs):.2f}")
    finally:
        for table, get in zip(tables, originals, strict=True):
            table.get = get


if __name__ == "__main__":
    main()
