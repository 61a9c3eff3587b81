"""In-memory threat-intelligence index: URLs, URL prefixes, hosts, domains and IPs.

Matching rules (decided here, applied the same way when indexing and when looking up):

* **URL keys** drop the scheme (phishing pages answer on http and https alike), the fragment,
  a default port (80/443), a leading ``www.`` and trailing ``/`` of the path:
  ``https://www.evil.example/login/?a=1`` has key ``evil.example/login?a=1``.
* **URL prefix**: a feed URL without a query matches that URL and everything under it on a
  path-segment boundary: entry ``evil.example/kit`` matches ``evil.example/kit``,
  ``.../kit/``, ``.../kit/a/b`` and ``.../kit?x=1``, never ``.../kitchen``. A feed URL with a
  query matches only exactly (the query often carries a token; widening it to the path could
  take in a big site's redirect endpoint). Its root ``http://evil.example/`` therefore stands
  for the whole host ``evil.example`` (not its subdomains) -- except on a shared platform host
  whose users live in the path (``sites.google.com``, ``drive.google.com``, ...), where a root
  entry matches only the root.
* **Hosts and domains** match the name and its subdomains, except where that would reach other
  people: a user's site on a shared platform (``x.vercel.app``, ``x.weebly.com``) matches only
  itself, as does a platform host or its parent (``sites.google.com``, ``google.com``); a bare
  public suffix (``github.io``, ``co.uk``) is refused. URL indicators are never widened to hosts.
* **IPs** match exactly; CIDR networks match every address inside.

Storage: one ``dict[str, int]`` per table; the int indexes a small source table of
(feed, category, kind, first seen), so there is no object per indicator besides its key
string (multi-source keys hold a tuple of ints). CIDRs live in per-prefix-length dicts of
masked integers.

Lifecycle: build with ``add_feed`` then ``freeze()``; a frozen index is never mutated and can
be shared by any number of readers without locks. To refresh, build a new index (or
``copy()`` the current one -- a C-speed dict copy -- then ``remove_feed``/``add_feed``),
freeze it and swap the reference.

Sharing: ``to_bytes()`` writes a frozen index as one compact file and ``from_bytes()`` reads it
back as a frozen index with the same answers whose tables are read in place from that one
``bytes`` (:mod:`tap_core.urls.intel_file`): the service builds it once per refresh and every
instance loads it without parsing a feed. The file's byte filter holds, per string, which
tables hold it as a key and, for each host's last two labels (its anchor), which tables hold keys
under it: a URL whose anchor has none is answered by one byte read, and each other probe goes to a
table only when its filter bit is set (a probe into the file costs far more than a byte read).
An anchor with many keys under it (a shared suffix: ``co.uk``, ``vercel.app``) is marked wide, and
the keys under it are anchored on their last three labels instead, so that a miss on another
user of the suffix still ends at the filter.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from zlib import crc32

from tap_core.urls import intel_file
from tap_core.urls.feeds import FeedLabel, IndicatorKind, ParsedFeed
from tap_core.urls.normalize import comparable_host
from tap_core.urls.platforms import HostScope, host_scope, platforms

__all__ = [
    "IndicatorKind",
    "IntelAddReport",
    "IntelHit",
    "IntelIndex",
    "IntelStats",
    "url_key",
]

_DEFAULT_PORTS = {"http": "80", "https": "443", "ftp": "21"}
#: Longest path walked for prefix candidates; deeper URLs are checked up to this depth.
_MAX_PREFIX_DEPTH = 32

_Meta = int | tuple[int, ...]

# Filter bits (see IntelIndex.to_bytes): which tables hold keys under an anchor (low nibble:
# both host tables share a bit, the fourth marks a wide anchor), which tables hold the string
# itself as a key (high nibble, _KEY_IN_*).
_IN_URL_EXACT, _IN_URL_PREFIX, _IN_HOST, _WIDE = 1, 2, 4, 8
_IN_ALL = _IN_URL_EXACT | _IN_URL_PREFIX | _IN_HOST
#: Keys under a two-label anchor beyond which it is wide (anchored one label deeper): a wide
#: anchor costs a lookup under it a second byte read, and saves its table probes on a miss.
_WIDE_ANCHOR_KEYS = 16
_KEY_IN_URL_EXACT, _KEY_IN_URL_PREFIX, _KEY_IN_HOST_EXACT, _KEY_IN_HOST_TREE = 16, 32, 64, 128
#: The last character of a host that may parse as an IP in match() (which strips brackets).
_IP_LAST = frozenset("0123456789]")
# How filter strings are encoded (intel_file's key encoding), named once for the inline probes.
_UTF8, _SURROGATEPASS = "utf-8", "surrogatepass"

# The common, already normalised URL: http(s), a lower-case ASCII host without port, userinfo,
# brackets or trailing dot. _split reads it with this one match; anything else takes the general
# path. Linear: each class is scanned once; on failure the host class backs off one character at
# a time, each tried in constant time (only the host's own end can start a path).
_PLAIN_URL = re.compile(r"https?://([a-z0-9_.\-]*[a-z0-9_\-])(/[^?#]*)?(?:\?([^#]*))?(?:#|\Z)")
# The dotted quads ipaddress.IPv4Address accepts (four decimal octets, no leading zero): read as
# an int without it. Other IP forms go through ipaddress.
_PLAIN_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                         r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")


@dataclass(frozen=True, slots=True)
class IntelHit:
    """One indicator that matched: what it is, how it matched and who listed it."""

    indicator: str  # URL key, host, domain, IP or CIDR, as stored
    kind: IndicatorKind
    feed: str
    category: str
    first_seen: date | None = None


@dataclass(frozen=True, slots=True)
class IntelAddReport:
    feed: str
    added: int  # new keys
    merged: int  # keys already present (another feed, or the same one twice)
    narrowed: int  # host/domain indicators limited to the exact host (shared platforms)
    rejected: int  # unusable: bare public suffixes, unparsable URLs


@dataclass(frozen=True, slots=True)
class IntelStats:
    counts: dict[str, int]  # by indicator kind
    feeds: dict[str, int]  # number of keys each feed contributed
    sources: int  # rows of the (feed, category, kind, first seen) table
    approx_bytes: int  # sys.getsizeof of tables, keys and multi-source tuples
    frozen: bool


def _split(url: str) -> tuple[str, str, str, str] | None:
    """(host, key host, path, query) of an absolute URL, or None. ``host`` is the bare
    lowercase host (no port, no brackets) for host/IP matching; ``key host`` is the URL-key
    form (``www.`` dropped, non-default port kept).

    Runs for every lookup: a plain URL is read by one regex match (no cache: most looked-up
    URLs are distinct, and a cache miss cost more than this read).
    """
    m = _PLAIN_URL.match(url)
    return _plain_parts(m) if m is not None else _split_general(url)


def _plain_parts(m: re.Match[str]) -> tuple[str, str, str, str]:
    """_split of a plain URL from its _PLAIN_URL match (lookups read the host, group 1, first)."""
    host, path, query = m.groups("")
    keyhost = host[4:] if host.startswith("www.") and "." in host[4:] else host
    return host, keyhost, path.rstrip("/"), query


def _split_general(url: str) -> tuple[str, str, str, str] | None:
    """_split of any URL: a small hand-written splitter rather than ``urlsplit`` (inputs are
    already normalised)."""
    sep = url.find("://")
    if sep <= 0:
        return None
    scheme = url[:sep].lower()
    rest = url[sep + 3 :]
    hashpos = rest.find("#")
    if hashpos >= 0:
        rest = rest[:hashpos]
    end = len(rest)
    for ch in "/?":
        j = rest.find(ch, 0, end)
        if j >= 0:
            end = j
    authority = rest[:end]
    at = authority.rfind("@")
    if at >= 0:
        authority = authority[at + 1 :]
    port = ""
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            return None
        host = authority[: close + 1].lower()
        if authority[close + 1 : close + 2] == ":":
            port = authority[close + 2 :]
    else:
        colon = authority.rfind(":")
        if colon >= 0:
            host, port = authority[:colon], authority[colon + 1 :]
        else:
            host = authority
        ascii_host = comparable_host(host)
        if ascii_host is None:
            return None
        host = ascii_host
    if not host:
        return None
    bare = host[1:-1] if host.startswith("[") else host
    keyhost = host[4:] if host.startswith("www.") and "." in host[4:] else host
    if port and port != _DEFAULT_PORTS.get(scheme):
        if not port.isdigit():
            return None
        keyhost = f"{keyhost}:{int(port)}"
    tail = rest[end:]
    q = tail.find("?")
    if q >= 0:
        return bare, keyhost, tail[:q].rstrip("/"), tail[q + 1 :]
    return bare, keyhost, tail.rstrip("/"), ""


def url_key(url: str) -> str | None:
    """The index key of ``url`` (see the module docstring), or None when it is no URL."""
    parts = _split(url)
    if parts is None:
        return None
    _host, keyhost, path, query = parts
    return f"{keyhost}{path}?{query}" if query else keyhost + path


def _ip_key(text: str) -> tuple[int, int, int] | None:
    """(version, prefix length, masked network int) of an IP or CIDR string."""
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            bits = net.max_prefixlen - net.prefixlen
            return net.version, net.prefixlen, int(net.network_address) >> bits
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return addr.version, addr.max_prefixlen, int(addr)


class IntelIndex:
    """Indicators from any number of feeds; see the module docstring for the rules."""

    __slots__ = (
        "_counts",
        "_filter",
        "_filter_mask",
        "_frozen",
        "_held",
        "_host_exact",
        "_host_tree",
        "_nets",
        "_source_ids",
        "_sources",
        "_tree_unanchored",
        "_url_exact",
        "_url_prefix",
    )

    def __init__(self) -> None:
        self._url_exact: dict[str, _Meta] = {}
        self._url_prefix: dict[str, _Meta] = {}
        self._host_exact: dict[str, _Meta] = {}
        self._host_tree: dict[str, _Meta] = {}
        # (version, prefix length) -> {masked address int: meta}; single IPs are /32 or /128.
        self._nets: dict[tuple[int, int], dict[int, _Meta]] = {}
        self._sources: list[tuple[str, str, IndicatorKind, date | None]] = []
        self._source_ids: dict[tuple[str, str, IndicatorKind, date | None], int] = {}
        self._counts: dict[IndicatorKind, int] = dict.fromkeys(IndicatorKind, 0)
        self._frozen = False
        # Loaded from a file only: the byte filter (see to_bytes), so a URL probes only the
        # tables that can answer; None: every table is probed (a dict probe is cheap).
        self._filter: memoryview | None = None
        self._filter_mask = 0
        self._tree_unanchored = True  # a one-label host-tree key exists: always walk the tree
        self._held = 0  # bytes of the file the tables are read from (0: dicts)

    # --- building ------------------------------------------------------------------------

    @classmethod
    def from_feeds(cls, feeds: Iterable[ParsedFeed]) -> IntelIndex:
        index = cls()
        for feed in feeds:
            index.add_feed(feed)
        return index.freeze()

    def to_bytes(self) -> bytes:
        """The index as one compact file (see :mod:`tap_core.urls.intel_file`)."""
        tables: dict[str, Any] = {
            "url_exact": self._url_exact,
            "url_prefix": self._url_prefix,
            "host_exact": self._host_exact,
            "host_tree": self._host_tree,
        }
        for (version, plen), bucket in self._nets.items():
            tables[f"net:{version}/{plen}"] = bucket
        # The filter: each anchor -> the tables holding keys under it, and each key -> the
        # tables holding it (_KEY_IN_*). The anchor is a host's last two labels, or its last
        # three under a wide one (_WIDE_ANCHOR_KEYS); read back by _tables_for.
        keyed = [  # (anchor bit, key bit, table, hosts a key can match)
            (_IN_URL_EXACT, _KEY_IN_URL_EXACT, self._url_exact, _url_key_hosts),
            (_IN_URL_PREFIX, _KEY_IN_URL_PREFIX, self._url_prefix, _url_key_hosts),
            (_IN_HOST, _KEY_IN_HOST_EXACT, self._host_exact, _one),
            (_IN_HOST, _KEY_IN_HOST_TREE, self._host_tree, _one),
        ]
        under: dict[str, int] = {}
        for _bit, _key_bit, table, hosts_of in keyed:
            for key in table:
                anchor = _anchor(hosts_of(key)[0])
                under[anchor] = under.get(anchor, 0) + 1
        bits: dict[str, int] = {}
        get = bits.get
        for bit, key_bit, table, hosts_of in keyed:
            for key in table:
                bits[key] = get(key, 0) | key_bit
                for host in hosts_of(key):
                    anchor = _anchor(host)
                    if under.get(anchor, 0) > _WIDE_ANCHOR_KEYS:
                        bits[anchor] = get(anchor, 0) | _WIDE
                        anchor = _anchor3(host)  # the anchor itself for a two-label host
                    bits[anchor] = get(anchor, 0) | bit
        sources = [(feed, category, kind.value, seen) for feed, category, kind, seen in self._sources]
        options = {"tree_unanchored": any("." not in key for key in self._host_tree)}
        return intel_file.encode(
            tables, sources, {k.value: n for k, n in self._counts.items()}, options, bits
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> IntelIndex:
        """A frozen index read in place from ``to_bytes()`` output; ``IntelFileError`` (a
        ``ValueError``) when the file is corrupt or of another format version."""
        tables, filter_view, sources, counts, options = intel_file.decode(data)
        index = cls()
        try:
            index._filter = filter_view
            index._filter_mask = len(filter_view) - 1
            index._held = len(data)
            index._tree_unanchored = bool(options["tree_unanchored"])
            index._url_exact = tables.pop("url_exact")  # type: ignore[assignment]
            index._url_prefix = tables.pop("url_prefix")  # type: ignore[assignment]
            index._host_exact = tables.pop("host_exact")  # type: ignore[assignment]
            index._host_tree = tables.pop("host_tree")  # type: ignore[assignment]
            for name, table in tables.items():
                version, plen = name.removeprefix("net:").split("/")
                index._nets[(int(version), int(plen))] = table  # type: ignore[assignment]
            index._sources = [
                (sys.intern(f), sys.intern(c), IndicatorKind(k), seen) for f, c, k, seen in sources
            ]
            index._source_ids = {src: i for i, src in enumerate(index._sources)}
            index._counts = {kind: counts.get(kind.value, 0) for kind in IndicatorKind}
        except (KeyError, ValueError) as exc:
            raise intel_file.IntelFileError(
                f"intelligence file incomplete ({type(exc).__name__}: {exc})"
            ) from exc
        return index.freeze()

    def freeze(self) -> IntelIndex:
        """Make the index read-only (safe to share between readers); returns ``self``."""
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def copy(self) -> IntelIndex:
        """An unfrozen copy to refresh: dict copies only, the key strings are shared."""
        new = IntelIndex()
        new._url_exact = self._url_exact.copy()
        new._url_prefix = self._url_prefix.copy()
        new._host_exact = self._host_exact.copy()
        new._host_tree = self._host_tree.copy()
        new._nets = {k: v.copy() for k, v in self._nets.items()}
        new._sources = self._sources.copy()
        new._source_ids = self._source_ids.copy()
        new._counts = self._counts.copy()
        return new

    def _check_mutable(self) -> None:
        if self._frozen:
            raise RuntimeError("IntelIndex is frozen: copy() it to change it")

    def _source(self, feed: str, label: FeedLabel, kind: IndicatorKind) -> int:
        key = (sys.intern(feed), sys.intern(label.category), kind, label.first_seen)
        sid = self._source_ids.get(key)
        if sid is None:
            sid = self._source_ids[key] = len(self._sources)
            self._sources.append(key)
        return sid

    def _put(self, table: dict[Any, _Meta], key: Any, sid: int, kind: IndicatorKind) -> bool:
        """Insert; True when the key is new to the table."""
        old = table.get(key)
        if old is None:
            table[key] = sid
            self._counts[kind] += 1
            return True
        if isinstance(old, int):
            if old != sid:
                table[key] = (old, sid)
        elif sid not in old:
            table[key] = (*old, sid)
        return False

    def add_feed(self, feed: ParsedFeed) -> IntelAddReport:
        """Add every indicator of ``feed`` (the index must not be frozen)."""
        self._check_mutable()
        added = merged = narrowed = rejected = 0
        labels = feed.labels
        name = feed.name
        path_hosts = platforms().path_hosts
        # Cache source ids per (label, kind): a feed has few labels, many indicators.
        sids: dict[tuple[int, IndicatorKind], int] = {}

        def sid_for(label: int, kind: IndicatorKind) -> int:
            sid = sids.get((label, kind))
            if sid is None:
                sid = sids[(label, kind)] = self._source(name, labels[label], kind)
            return sid

        for url, label in feed.entries.get(IndicatorKind.URL, {}).items():
            parts = _split(url)
            if parts is None:
                rejected += 1
                continue
            bare, keyhost, path, query = parts
            if query:
                table, kind, key = self._url_exact, IndicatorKind.URL, f"{keyhost}{path}?{query}"
            elif not path and _shared_root(bare, path_hosts):
                # The root of a shared host is not one site: match it literally only.
                table, kind, key = self._url_exact, IndicatorKind.URL, keyhost
            else:
                table, kind, key = self._url_prefix, IndicatorKind.URL_PREFIX, keyhost + path
            if self._put(table, key, sid_for(label, kind), kind):
                added += 1
            else:
                merged += 1

        for kind in (IndicatorKind.HOST, IndicatorKind.DOMAIN):
            for host, label in feed.entries.get(kind, {}).items():
                scope = host_scope(host)
                if scope is HostScope.REJECT:
                    rejected += 1
                    continue
                if scope is HostScope.EXACT:
                    narrowed += 1
                    table = self._host_exact
                else:
                    table = self._host_tree
                if self._put(table, host, sid_for(label, kind), kind):
                    added += 1
                else:
                    merged += 1

        for ip, label in feed.entries.get(IndicatorKind.IP, {}).items():
            parsed = _ip_key(ip)
            if parsed is None:
                rejected += 1
                continue
            version, plen, masked = parsed
            bucket = self._nets.get((version, plen))
            if bucket is None:
                bucket = self._nets[(version, plen)] = {}
            if self._put(bucket, masked, sid_for(label, IndicatorKind.IP), IndicatorKind.IP):
                added += 1
            else:
                merged += 1
        return IntelAddReport(name, added, merged, narrowed, rejected)

    def remove_feed(self, name: str) -> int:
        """Drop everything ``name`` contributed (other feeds' claims on a key stay).
        Returns the number of keys removed. O(index size)."""
        self._check_mutable()
        gone = {sid for sid, src in enumerate(self._sources) if src[0] == name}
        if not gone:
            return 0
        removed = 0
        tables: list[dict[Any, _Meta]] = [
            self._url_exact,
            self._url_prefix,
            self._host_exact,
            self._host_tree,
            *self._nets.values(),
        ]
        for table in tables:
            for key, meta in list(table.items()):
                if isinstance(meta, int):
                    if meta in gone:
                        del table[key]
                        removed += 1
                        self._counts[self._sources[meta][2]] -= 1
                    continue
                kept = tuple(s for s in meta if s not in gone)
                if len(kept) == len(meta):
                    continue
                if not kept:
                    del table[key]
                    removed += 1
                    self._counts[self._sources[meta[0]][2]] -= 1
                else:
                    table[key] = kept[0] if len(kept) == 1 else kept
        return removed

    # --- lookups -------------------------------------------------------------------------

    def _hits(self, out: list[IntelHit], indicator: str, meta: _Meta) -> None:
        for sid in (meta,) if isinstance(meta, int) else meta:
            feed, category, kind, seen = self._sources[sid]
            out.append(IntelHit(indicator, kind, feed, category, seen))

    def match(self, url: str) -> list[IntelHit]:
        """Every indicator matching ``url`` (an absolute, normalised URL); [] when none."""
        m = _PLAIN_URL.match(url)  # _split, with the anchor read between its two halves
        if m is not None:
            host = m[1]
            bits = self._tables_for(host)
            if not bits & _IN_ALL and not host[-1].isdigit():  # the common miss, before a split
                return []
            parts = _plain_parts(m)
        else:
            general = _split_general(url)
            if general is None:
                return []
            parts = general
            bits = self._tables_for(parts[0])
        host, hostport, path, query = parts
        hits: list[IntelHit] = []
        if not bits & _IN_ALL:  # nothing under the anchor, unless an IP
            self._match_host(host, hits, bits)
            return hits
        flt, mask = self._filter, self._filter_mask
        path_key = hostport + path
        if bits & _IN_URL_EXACT:
            full = f"{path_key}?{query}" if query else path_key
            if flt is None or flt[crc32(full.encode(_UTF8, _SURROGATEPASS)) & mask] & _KEY_IN_URL_EXACT:
                meta = self._url_exact.get(full)
                if meta is not None:
                    self._hits(hits, full, meta)
        if bits & _IN_URL_PREFIX and self._url_prefix:
            get = self._url_prefix.get
            for cand in _prefix_candidates(hostport, path_key):
                if flt is None or flt[crc32(cand.encode(_UTF8, _SURROGATEPASS)) & mask] & _KEY_IN_URL_PREFIX:
                    meta = get(cand)
                    if meta is not None:
                        self._hits(hits, cand, meta)
        self._match_host(host, hits, bits)
        return hits

    def _tables_for(self, host: str) -> int:
        """The _IN_* bits of the tables that may hold a key for ``host`` (all without a filter)."""
        flt = self._filter
        if flt is None:
            return _IN_ALL
        last = host.rfind(".")
        cut = host.rfind(".", 0, last) if last > 0 else -1
        mask = self._filter_mask
        bits: int = flt[crc32(host[cut + 1 :].encode(_UTF8, _SURROGATEPASS)) & mask]
        if bits & _WIDE:
            bits = _wide_bits(flt, mask, host, cut, bits)
        return bits | _IN_HOST if self._tree_unanchored else bits

    def _match_host(self, host: str, hits: list[IntelHit], bits: int = _IN_ALL) -> None:
        if not host:
            return
        first = host[0]
        # A dotted quad ends with a digit: other names skip the (slow, raising) IP parse.
        if (first == "[" or ":" in host or (first.isdigit() and host[-1] in _IP_LAST)) and self._nets:
            self._match_ip(host.strip("[]"), hits)
        flt, mask = self._filter, self._filter_mask
        if bits & _IN_HOST and (
            flt is None or flt[crc32(host.encode(_UTF8, _SURROGATEPASS)) & mask] & _KEY_IN_HOST_EXACT
        ):
            meta = self._host_exact.get(host)
            if meta is not None:
                self._hits(hits, host, meta)
        tree = self._host_tree
        if not tree or not bits & _IN_HOST:
            return
        name = host
        while True:
            if flt is None or flt[crc32(name.encode(_UTF8, _SURROGATEPASS)) & mask] & _KEY_IN_HOST_TREE:
                meta = tree.get(name)
                if meta is not None:
                    self._hits(hits, name, meta)
            dot = name.find(".")
            if dot < 0:
                break
            name = name[dot + 1 :]

    def _ip_buckets(self, text: str) -> Iterable[tuple[int, int, _Meta]]:
        """(prefix length, address bits, meta) of every network table holding ``text`` (an IP)."""
        if _PLAIN_IPV4.fullmatch(text):
            a, b, c, d = text.split(".")
            version, bits, value = 4, 32, int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)
        else:
            try:
                addr = ipaddress.ip_address(text)
            except ValueError:
                return
            version, bits, value = addr.version, addr.max_prefixlen, int(addr)
        for (v, plen), bucket in self._nets.items():
            if v == version:
                meta = bucket.get(value >> (bits - plen))
                if meta is not None:
                    yield plen, bits, meta

    def _ip_listed(self, host: str) -> bool:
        """contains() for a bare host that may be an IP: does a network table hold it?"""
        return bool(self._nets) and _ip_like(host) and any(True for _hit in self._ip_buckets(host))

    def _match_ip(self, text: str, hits: list[IntelHit]) -> None:
        for plen, bits, meta in self._ip_buckets(text):
            addr = ipaddress.ip_address(text)  # a hit: the shown form is worth the parse
            self._hits(hits, str(addr) if plen == bits else _net_text(addr, plen), meta)

    def contains(self, url: str) -> bool:
        """Fast yes/no: does any indicator match ``url``?"""
        m = _PLAIN_URL.match(url)  # _split, with the anchor read between its two halves
        if m is not None:
            host = m[1]
            bits = self._tables_for(host)
            if not bits & _IN_ALL and not host[-1].isdigit():  # the common miss, before a split
                return False
            parts = _plain_parts(m)
        else:
            general = _split_general(url)
            if general is None:
                return False
            parts = general
            bits = self._tables_for(parts[0])
        host, hostport, path, query = parts
        if not bits & _IN_ALL:  # nothing under the anchor, unless an IP
            return self._ip_listed(host)
        # ``get(k) is not None`` rather than ``in``: for a file-backed table ``in`` is one more
        # Python call per probe (values are never None). Each probe of a file-backed table
        # reads its filter byte first (inline: a call costs more).
        flt, mask = self._filter, self._filter_mask
        path_key = hostport + path
        if bits & _IN_URL_EXACT:
            key = f"{path_key}?{query}" if query else path_key
            if (
                flt is None or flt[crc32(key.encode(_UTF8, _SURROGATEPASS)) & mask] & _KEY_IN_URL_EXACT
            ) and self._url_exact.get(key) is not None:
                return True
        if bits & _IN_URL_PREFIX and self._url_prefix:
            get = self._url_prefix.get
            # The candidates of _prefix_candidates, longest first and with no list (a yes/no
            # needs no order): the full path, each segment boundary down to the host.
            stop = len(hostport)
            end = len(path_key)
            cand = path_key
            if path.count("/") > _MAX_PREFIX_DEPTH + 1:
                # Deeper than the walk: below the full path, only its first boundaries.
                end = stop
                for _ in range(_MAX_PREFIX_DEPTH + 1):
                    end = path_key.find("/", end + 1)
            while True:
                if (
                    flt is None
                    or flt[crc32(cand.encode(_UTF8, _SURROGATEPASS)) & mask] & _KEY_IN_URL_PREFIX
                ) and get(cand) is not None:
                    return True
                if end <= stop:
                    break
                end = path_key.rfind("/", stop + 1, end)
                if end < 0:
                    end = stop
                cand = path_key[:end]
        if (
            bits & _IN_HOST
            and (flt is None or flt[crc32(host.encode(_UTF8, _SURROGATEPASS)) & mask] & _KEY_IN_HOST_EXACT)
            and self._host_exact.get(host) is not None
        ):
            return True
        get = self._host_tree.get
        name = host if bits & _IN_HOST else ""
        while name:
            if (
                flt is None or flt[crc32(name.encode(_UTF8, _SURROGATEPASS)) & mask] & _KEY_IN_HOST_TREE
            ) and get(name) is not None:
                return True
            dot = name.find(".")
            if dot < 0:
                break
            name = name[dot + 1 :]
        return self._ip_listed(host)

    def match_many(self, urls: Iterable[str]) -> dict[str, list[IntelHit]]:
        """The fast path for a message's or a batch's URLs: each distinct URL is looked up
        once, the cheap ``contains`` screens out misses, and only URLs with hits are
        returned."""
        out: dict[str, list[IntelHit]] = {}
        seen: set[str] = set()
        contains = self.contains
        for url in urls:
            if url in seen:
                continue
            seen.add(url)
            if contains(url):
                out[url] = self.match(url)
        return out

    # --- introspection -------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(self._counts.values())

    def stats(self) -> IntelStats:
        per_feed: dict[str, int] = {}
        size = sys.getsizeof(self._sources) + sys.getsizeof(self._source_ids)
        tables: list[dict[Any, _Meta]] = [
            self._url_exact,
            self._url_prefix,
            self._host_exact,
            self._host_tree,
            *self._nets.values(),
        ]
        # Tables read from a file hold no object per key: the file is what they cost.
        getsizeof = sys.getsizeof if not self._held else lambda _obj: 0
        size += self._held
        for table in tables:
            size += getsizeof(table)
            for key, meta in table.items():
                size += getsizeof(key)
                if isinstance(meta, int):
                    sid = meta
                    if meta > 256:  # small ints are shared singletons; larger ones cost
                        size += getsizeof(meta)
                else:
                    size += getsizeof(meta)
                    sid = meta[0]
                feed = self._sources[sid][0]
                per_feed[feed] = per_feed.get(feed, 0) + 1
        return IntelStats(
            counts={kind.value: n for kind, n in self._counts.items()},
            feeds=per_feed,
            sources=len(self._sources),
            approx_bytes=size,
            frozen=self._frozen,
        )


def _ip_like(host: str) -> bool:
    """A bare host contains() asks the network tables about: IPv6 (a colon) or ending and
    starting with a digit like a dotted quad; other names skip the IP parse."""
    return bool(host) and (":" in host or (host[-1].isdigit() and host[0].isdigit()))


def _anchor(host: str) -> str:
    """The last two labels of a host (all of it when it has fewer): a host-tree key of two or more
    labels, and every URL or host key, shares it with every host it matches."""
    last = host.rfind(".")
    return host[host.rfind(".", 0, last) + 1 :] if last > 0 else host


def _wide_bits(flt: memoryview, mask: int, host: str, cut: int, bits: int) -> int:
    """The filter bits for ``host`` under a wide anchor (``bits``, read at ``host[cut + 1:]``):
    those of its last three labels (see _anchor3), plus the anchor's host bit (a host-tree key
    equal to the anchor matches every host under it)."""
    if cut < 0:  # a two-label host: the anchor is its own
        return bits
    anchor3 = host[host.rfind(".", 0, cut) + 1 :]
    return flt[crc32(anchor3.encode(_UTF8, _SURROGATEPASS)) & mask] | bits & _IN_HOST


def _anchor3(host: str) -> str:
    """The last three labels of a host whose last two are a wide anchor (all of it when it has
    fewer: then its own anchor); IntelIndex._wide_bits reads the same."""
    last = host.rfind(".")
    cut = host.rfind(".", 0, last) if last > 0 else -1
    return host[host.rfind(".", 0, cut) + 1 :] if cut >= 0 else host


def _one(host: str) -> tuple[str]:
    return (host,)


def _url_key_hosts(key: str) -> tuple[str, ...]:
    """The bare hosts of the URLs a URL key matches: its host, and that host with the ``www.``
    the key dropped (a wide anchor anchors them on different last three labels)."""
    host = _key_host(key)
    return (host, f"www.{host}") if "." in host else (host,)


def _key_host(key: str) -> str:
    """The bare host of a URL key (``www.`` may be gone)."""
    end = len(key)
    for ch in "/?":
        j = key.find(ch, 0, end)
        if j >= 0:
            end = j
    hostport = key[:end]
    if hostport.startswith("["):
        return hostport[1 : hostport.find("]")]
    colon = hostport.rfind(":")
    return hostport[:colon] if colon >= 0 else hostport


def _net_text(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, plen: int) -> str:
    return str(ipaddress.ip_network(f"{addr}/{plen}", strict=False))


def _shared_root(host: str, path_hosts: frozenset[str]) -> bool:
    """True when the root URL of ``host`` is not one site's (a path-platform host or a bare
    public suffix such as ``s3.amazonaws.com``)."""
    return host in path_hosts or host_scope(host) is HostScope.REJECT


def _prefix_candidates(hostport: str, path_key: str) -> list[str]:
    """``host``, ``host/a``, ``host/a/b``... up to ``path_key``: every segment-aligned prefix."""
    cands = [hostport]
    pos = len(hostport)
    for _ in range(_MAX_PREFIX_DEPTH):
        nxt = path_key.find("/", pos + 1)
        if nxt < 0:
            break
        cands.append(path_key[:nxt])
        pos = nxt
    if len(path_key) > len(hostport):
        cands.append(path_key)
    return cands
