"""Threat-intelligence feed parsers: bytes in, ``ParsedFeed`` out.

``tap_core`` never does I/O: the caller reads a file or downloads a feed and hands the bytes
here. Parsing never raises on bad input: malformed records are counted and skipped (a few are
kept as samples in ``errors``); a feed that cannot be read at all (over the size limit, broken
gzip or JSON) comes back empty with ``fatal`` set.

Formats: plain URL lists, OpenPhish, domain lists (with ``#`` comments, hosts-file lines
``0.0.0.0 name`` and adblock ``||name^`` lines), host lists (pihole style), IP/CIDR lists,
PhishTank CSV, URLhaus CSV and STIX 2.1 bundles. Gzip input is recognised by its magic bytes.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from tap_core.parsing.timestamps import parse_iso_datetime
from tap_core.urls.normalize import host_to_ascii


class IndicatorKind(StrEnum):
    URL = "url"  # one URL (exact match)
    URL_PREFIX = "url_prefix"  # a URL and everything under its path (decided by IntelIndex)
    HOST = "host"  # a hostname as listed by a host list (pihole, PhishTank hosts)
    DOMAIN = "domain"  # a domain from a domain blocklist
    IP = "ip"  # an IPv4/IPv6 address or CIDR network


class FeedFormat(StrEnum):
    URL_LIST = "url_list"
    OPENPHISH = "openphish"
    DOMAIN_LIST = "domain_list"
    HOST_LIST = "host_list"
    IP_LIST = "ip_list"
    PHISHTANK_CSV = "phishtank_csv"
    URLHAUS_CSV = "urlhaus_csv"
    STIX2 = "stix2"


#: What a feed means when its records carry no category of their own.
DEFAULT_CATEGORY: dict[FeedFormat, str] = {
    FeedFormat.OPENPHISH: "phishing",
    FeedFormat.PHISHTANK_CSV: "phishing",
    FeedFormat.URLHAUS_CSV: "malware",
}
GENERIC_CATEGORY = "malicious"


def _default_category(fmt: FeedFormat, name: str) -> str:
    """The format's category, else a hint in the feed's name ("phishtank-hosts"), else generic."""
    if fmt in DEFAULT_CATEGORY:
        return DEFAULT_CATEGORY[fmt]
    lowered = name.lower()
    if "phish" in lowered:
        return "phishing"
    if "malware" in lowered or "urlhaus" in lowered:
        return "malware"
    return GENERIC_CATEGORY


class FeedLimits(BaseModel):
    """Explicit bounds so a broken or hostile feed cannot exhaust memory."""

    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)  # input as given (maybe gzip)
    max_decompressed_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    max_indicators: int = Field(default=5_000_000, gt=0)
    max_line_chars: int = Field(default=8192, gt=0)
    max_error_samples: int = Field(default=20, ge=0)
    #: Shortest accepted CIDR prefixes: a feed line "0.0.0.0/0" must not block the Internet.
    min_ipv4_prefix: int = Field(default=8, ge=0, le=32)
    min_ipv6_prefix: int = Field(default=24, ge=0, le=128)


class FeedLabel(NamedTuple):
    category: str
    first_seen: date | None


@dataclass(slots=True)
class ParsedFeed:
    """Indicators of one feed, deduplicated, with per-record labels kept compact.

    ``entries[kind]`` maps each indicator string to an index into ``labels`` (category and
    first-seen date); index 0 is the feed's default label. No object per indicator beyond its
    string.
    """

    name: str
    format: FeedFormat
    category: str
    entries: dict[IndicatorKind, dict[str, int]] = field(default_factory=dict)
    labels: list[FeedLabel] = field(default_factory=list)
    records: int = 0  # data lines/objects seen (comments and headers excluded)
    accepted: int = 0
    duplicates: int = 0
    malformed: int = 0
    skipped: int = 0  # well-formed but excluded (revoked, expired, unverified, too broad...)
    truncated: bool = False  # stopped at FeedLimits.max_indicators
    fatal: str | None = None
    errors: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(d) for d in self.entries.values())

    def counts(self) -> dict[str, int]:
        return {kind.value: len(d) for kind, d in self.entries.items() if d}

    def indicators(self, kind: IndicatorKind) -> Iterator[tuple[str, FeedLabel]]:
        labels = self.labels
        for value, label in self.entries.get(kind, {}).items():
            yield value, labels[label]


class _Builder:
    """Accumulates one feed's indicators and counters while a parser runs."""

    def __init__(self, feed: ParsedFeed, limits: FeedLimits) -> None:
        self.feed = feed
        self.limits = limits
        self._label_ids: dict[FeedLabel, int] = {}
        self.default = self.label(feed.category, None)
        self._total = 0

    def label(self, category: str | None, first_seen: date | None) -> int:
        key = FeedLabel(_clean_category(category) if category else self.feed.category, first_seen)
        lid = self._label_ids.get(key)
        if lid is None:
            lid = self._label_ids[key] = len(self.feed.labels)
            self.feed.labels.append(key)
        return lid

    @property
    def full(self) -> bool:
        return self.feed.truncated

    def add(self, kind: IndicatorKind, value: str, label: int | None = None) -> None:
        feed = self.feed
        bucket = feed.entries.get(kind)
        if bucket is None:
            bucket = feed.entries[kind] = {}
        if value in bucket:
            feed.duplicates += 1
            return
        if self._total >= self.limits.max_indicators:
            feed.truncated = True
            return
        bucket[value] = self.default if label is None else label
        self._total += 1
        feed.accepted += 1

    def bad(self, where: str, why: str) -> None:
        self.feed.malformed += 1
        if len(self.feed.errors) < self.limits.max_error_samples:
            self.feed.errors.append(f"{where}: {why}")


# --- value cleaning --------------------------------------------------------------------------

# Lenient on purpose: real phishing hosts carry labels DNS purists reject ("a-.start.page").
_HOST_RE = re.compile(r"(?=.{1,253}$)(?:[a-z0-9_-]{1,63}\.)+[a-z0-9-]{2,63}")
# Sinkhole addresses that start hosts-file lines (data, not a socket binding).
_SINKHOLES = frozenset({"0.0.0.0", "127.0.0.1", "127.0.1.1", "::", "::1", "0", "255.255.255.255"})  # noqa: S104
_NOT_HOSTS = frozenset(
    {"localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback"}
)
_URL_SCHEMES = frozenset({"http", "https", "ftp"})
_CATEGORY_RE = re.compile(r"[^a-z0-9]+")


def _clean_category(category: str) -> str:
    # Categories become finding names (intel_<category>): keep them symbol-safe.
    return _CATEGORY_RE.sub("_", category.lower()).strip("_") or GENERIC_CATEGORY


def clean_host(raw: str) -> str | None:
    """A lowercase ASCII hostname, or None when ``raw`` is not one."""
    host = raw.strip().lower().rstrip(".")
    if host.startswith("*."):
        host = host[2:]
    if not host.isascii():
        ascii_host = host_to_ascii(host)
        if ascii_host is None:
            return None
        host = ascii_host
    if _HOST_RE.fullmatch(host) is None:
        return None
    return host


def clean_ip(raw: str, limits: FeedLimits) -> tuple[str | None, str]:
    """(canonical address or network, problem); problem is "" when accepted, "broad" when the
    network is wider than the limits allow, "bad" when ``raw`` is no IP at all."""
    text = raw.strip().strip("[]")
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            floor = limits.min_ipv4_prefix if net.version == 4 else limits.min_ipv6_prefix
            if net.prefixlen < floor:
                return None, "broad"
            if net.prefixlen == net.max_prefixlen:
                return str(net.network_address), ""
            return str(net), ""
        return str(ipaddress.ip_address(text)), ""
    except ValueError:
        return None, "bad"


def clean_url(raw: str, limits: FeedLimits) -> str | None:
    """``raw`` as an absolute http(s)/ftp URL string, or None. Scheme-less ``host/path`` lines
    get ``http://`` (feeds list them that way); the URL is otherwise kept as written."""
    url = raw.strip()
    if not url or len(url) > limits.max_line_chars or any(c.isspace() for c in url):
        return None
    sep = url.find("://")
    if sep < 0:
        head = url.split("/", 1)[0]
        if "." not in head or not head[0].isalnum():
            return None
        url = "http://" + url
        sep = 4
    scheme = url[:sep].lower()
    if scheme not in _URL_SCHEMES:
        return None
    rest = url[sep + 3 :]
    end = len(rest)
    for ch in "/?#":
        j = rest.find(ch)
        if 0 <= j < end:
            end = j
    authority = rest[:end].rsplit("@", 1)[-1]
    if authority.startswith("["):
        host = authority[1 : authority.find("]")] if "]" in authority else ""
    else:
        host = authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority
    if not host or ("." not in host and ":" not in host):
        return None
    return url


def _parse_date(raw: str) -> date | None:
    text = raw.strip()[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# --- input handling --------------------------------------------------------------------------

_GZIP_MAGIC = b"\x1f\x8b"


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress (possibly multi-member) gzip, refusing output over ``limit`` bytes."""
    out = bytearray()
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += d.decompress(data, limit + 1 - len(out))
        if len(out) > limit:
            raise ValueError(f"decompressed size over the limit of {limit} bytes")
        if d.unconsumed_tail:
            raise ValueError(f"decompressed size over the limit of {limit} bytes")
        if not d.eof:
            raise ValueError("truncated gzip stream")
        data = d.unused_data.lstrip(b"\x00")
    return bytes(out)


def _text(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) for non-empty lines."""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line:
            yield number, line


def _is_comment(line: str) -> bool:
    return line[0] in "#!;"


# --- parsers ---------------------------------------------------------------------------------


def _parse_url_list(text: str, b: _Builder) -> None:
    limits = b.limits
    for number, line in _lines(text):
        if line[0] == "#":
            continue
        b.feed.records += 1
        if b.full:
            break
        url = clean_url(line, limits)
        if url is None:
            b.bad(f"line {number}", "not an http(s) URL")
            continue
        b.add(IndicatorKind.URL, url)


def _name_records(text: str, b: _Builder, kind: IndicatorKind) -> None:
    """Domain/host lists: plain names, hosts-file lines, adblock ``||name^`` lines."""
    limits = b.limits
    for number, line in _lines(text):
        if _is_comment(line):
            continue
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        b.feed.records += 1
        if b.full:
            break
        if line.startswith("||"):
            line = line[2:].split("^", 1)[0]
        tokens = line.split()
        if len(tokens) > 1 and tokens[0] in _SINKHOLES:
            names = tokens[1:]  # hosts-file line: "0.0.0.0 evil.example other.example"
        elif len(tokens) == 1:
            names = tokens
        else:
            b.bad(f"line {number}", "expected one name or a hosts-file line")
            continue
        for name in names:
            if name in _SINKHOLES or name.lower() in _NOT_HOSTS:
                b.feed.skipped += 1
                continue
            if "://" in name:
                # A URL inside a host list stays a URL: never widen it to its host.
                url = clean_url(name, limits)
                if url is None:
                    b.bad(f"line {number}", "unreadable URL")
                else:
                    b.add(IndicatorKind.URL, url)
                continue
            ip, problem = clean_ip(name, limits)
            if ip is not None:
                b.add(IndicatorKind.IP, ip)
                continue
            if problem == "broad":
                b.feed.skipped += 1
                continue
            host = clean_host(name)
            if host is None:
                b.bad(f"line {number}", f"not a hostname: {name[:80]!r}")
                continue
            b.add(kind, host)


def _parse_domain_list(text: str, b: _Builder) -> None:
    _name_records(text, b, IndicatorKind.DOMAIN)


def _parse_host_list(text: str, b: _Builder) -> None:
    _name_records(text, b, IndicatorKind.HOST)


_IP_SPLIT = re.compile(r"[\s,;]+")


def _parse_ip_list(text: str, b: _Builder) -> None:
    for number, line in _lines(text):
        if _is_comment(line):
            continue
        b.feed.records += 1
        if b.full:
            break
        token = _IP_SPLIT.split(line, maxsplit=1)[0]  # "1.2.3.0/24 ; SBL123" -> first field
        ip, problem = clean_ip(token, b.limits)
        if ip is not None:
            b.add(IndicatorKind.IP, ip)
        elif problem == "broad":
            b.feed.skipped += 1
        else:
            b.bad(f"line {number}", f"not an IP address or network: {token[:80]!r}")


_PHISHTANK_COLUMNS = (
    "phish_id",
    "url",
    "phish_detail_url",
    "submission_time",
    "verified",
    "verification_time",
    "online",
    "target",
)


def _csv_rows(lines: Iterable[str], b: _Builder) -> Iterator[tuple[int, list[str]]]:
    """CSV records with their line numbers; a record the csv module refuses (a bare CR in an
    unquoted field, a field over its size limit) is a malformed record, not the end of the feed."""
    reader = csv.reader(lines)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            b.feed.records += 1
            b.bad(f"record {reader.line_num}", f"not CSV ({exc})")
            continue
        yield reader.line_num, row


def _parse_phishtank_csv(text: str, b: _Builder) -> None:
    columns = {name: i for i, name in enumerate(_PHISHTANK_COLUMNS)}
    first = True
    for line_num, row in _csv_rows(io.StringIO(text, newline=""), b):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if first:
            first = False
            header = [c.strip().lower() for c in row]
            if "url" in header:
                columns = {name: i for i, name in enumerate(header)}
                continue
        b.feed.records += 1
        if b.full:
            break
        where = f"record {line_num}"
        try:
            raw_url = row[columns["url"]]
        except (IndexError, KeyError):
            b.bad(where, f"expected {len(columns)} columns, got {len(row)}")
            continue
        verified = _column(row, columns, "verified").lower()
        online = _column(row, columns, "online").lower()
        if verified == "no" or online == "no":
            b.feed.skipped += 1
            continue
        url = clean_url(raw_url, b.limits)
        if url is None:
            b.bad(where, "not an http(s) URL")
            continue
        seen = _parse_date(_column(row, columns, "submission_time"))
        b.add(IndicatorKind.URL, url, b.label(None, seen) if seen else None)


def _column(row: list[str], columns: dict[str, int], name: str) -> str:
    i = columns.get(name)
    return row[i] if i is not None and i < len(row) else ""


_URLHAUS_COLUMNS = (
    "id",
    "dateadded",
    "url",
    "url_status",
    "last_online",
    "threat",
    "tags",
    "urlhaus_link",
    "reporter",
)
_URLHAUS_THREATS = {"malware_download": "malware"}


def _parse_urlhaus_csv(text: str, b: _Builder) -> None:
    columns = {name: i for i, name in enumerate(_URLHAUS_COLUMNS)}
    data_lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            # The column header is itself a comment: "# id,dateadded,url,...".
            head = stripped.lstrip("#").strip()
            if head.startswith("id,") and ",url," in head:
                columns = {name.strip(): i for i, name in enumerate(head.split(","))}
            continue
        data_lines.append(line)
    if "url" not in columns:
        b.feed.fatal = "URLhaus header has no url column"
        return
    for number, row in _csv_rows(data_lines, b):
        b.feed.records += 1
        if b.full:
            break
        if len(row) < len(columns):
            b.bad(f"record {number}", f"expected {len(columns)} columns, got {len(row)}")
            continue
        url = clean_url(row[columns["url"]], b.limits)
        if url is None:
            b.bad(f"record {number}", "not an http(s) URL")
            continue
        threat = _column(row, columns, "threat").strip().lower()
        category = _URLHAUS_THREATS.get(threat, threat) or None
        seen = _parse_date(_column(row, columns, "dateadded"))
        label = b.label(category, seen) if (category or seen) else None
        b.add(IndicatorKind.URL, url, label)


# STIX 2.1 patterning: only simple equality comparisons joined by OR are taken; anything
# that narrows (AND, FOLLOWEDBY, qualifiers) cannot be reduced to one indicator and is skipped.
_STIX_COMPARISON = re.compile(
    # The object type from where its run starts (not rescanned from each letter of a long run).
    r"(?<![a-z0-9-])([a-z0-9-]++):value\s*(=|!=|LIKE|MATCHES|IN|>=|<=|>|<)\s*'((?:[^'\\]|\\.)*)'",
    re.IGNORECASE,
)
_STIX_NARROWING = re.compile(r"\b(AND|FOLLOWEDBY|WITHIN|REPEATS|START|STOP|NOT)\b")
_STIX_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")
_STIX_KINDS = {
    "url": IndicatorKind.URL,
    "domain-name": IndicatorKind.DOMAIN,
    "ipv4-addr": IndicatorKind.IP,
    "ipv6-addr": IndicatorKind.IP,
}
_STIX_CATEGORY_WORDS = (
    ("phish", "phishing"),
    ("malware", "malware"),
    ("ransom", "malware"),
    ("trojan", "malware"),
    ("botnet", "malware"),
    ("command-and-control", "c2"),
    ("c2", "c2"),
)


def _stix_category(obj: dict[str, Any]) -> str | None:
    words: list[str] = []
    for key in ("indicator_types", "labels"):
        value = obj.get(key)
        if isinstance(value, list):
            words.extend(str(v).lower() for v in value)
    if "benign" in words:
        return "benign"
    text = " ".join(words) + " " + str(obj.get("name", "")).lower()
    for needle, category in _STIX_CATEGORY_WORDS:
        if needle in text:
            return category
    return None


def _parse_stix2(text: str, b: _Builder, now: datetime) -> None:
    try:
        bundle = json.loads(text)
    except ValueError as exc:
        b.feed.fatal = f"not JSON: {exc}"
        return
    objects = bundle.get("objects") if isinstance(bundle, dict) else None
    if not isinstance(objects, list):
        b.feed.fatal = "no STIX bundle objects"
        return
    for number, obj in enumerate(objects):
        if not isinstance(obj, dict) or obj.get("type") != "indicator":
            continue
        b.feed.records += 1
        if b.full:
            break
        where = f"object {number} ({str(obj.get('id', '?'))[:60]})"
        pattern = obj.get("pattern")
        if not isinstance(pattern, str):
            b.bad(where, "indicator without a pattern")
            continue
        if obj.get("pattern_type", "stix") != "stix":
            b.feed.skipped += 1
            continue
        until = parse_iso_datetime(obj.get("valid_until"))
        category = _stix_category(obj)
        if obj.get("revoked") is True or (until is not None and until <= now) or category == "benign":
            b.feed.skipped += 1
            continue
        if _STIX_NARROWING.search(_STIX_QUOTED.sub("''", pattern)):
            b.feed.skipped += 1
            continue
        comparisons = _STIX_COMPARISON.findall(pattern)
        if not comparisons:
            b.bad(where, "no supported comparison in pattern")
            continue
        since = parse_iso_datetime(obj.get("valid_from")) or parse_iso_datetime(obj.get("created"))
        label = b.label(category, since.date() if since else None)
        for obj_type, op, raw_value in comparisons:
            kind = _STIX_KINDS.get(obj_type.lower())
            if kind is None or op != "=":
                b.feed.skipped += 1
                continue
            value = re.sub(r"\\(.)", r"\1", raw_value)
            if kind is IndicatorKind.URL:
                cleaned = clean_url(value, b.limits)
            elif kind is IndicatorKind.IP:
                cleaned = clean_ip(value, b.limits)[0]
            else:
                cleaned = clean_host(value)
            if cleaned is None:
                b.bad(where, f"unreadable {obj_type} value {value[:80]!r}")
                continue
            b.add(kind, cleaned, label)


# --- format detection and entry point --------------------------------------------------------

_URLHAUS_ROW = re.compile(r'^"\d+","\d{4}-\d\d-\d\d')


def detect_format(name: str, data: bytes) -> FeedFormat:
    """Guess a feed's format from its name and first bytes (gzip is looked through)."""
    head = data[:65536]
    if head[:2] == _GZIP_MAGIC:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[: 1 << 20], 65536)
        except zlib.error:
            head = b""
    text = _text(head)
    lowered_name = name.lower()
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        return FeedFormat.STIX2
    if "urlhaus" in text[:2000].lower() or "urlhaus" in lowered_name:
        return FeedFormat.URLHAUS_CSV
    sample: list[str] = []
    for _number, line in _lines(text):
        if not _is_comment(line):
            sample.append(line)
        if len(sample) >= 200:
            break
    if sample and sample[0].lower().startswith("phish_id,"):
        return FeedFormat.PHISHTANK_CSV
    if sample and _URLHAUS_ROW.match(sample[0]):
        return FeedFormat.URLHAUS_CSV
    urls = sum(1 for line in sample if "://" in line)
    ips = sum(1 for line in sample if clean_ip(_IP_SPLIT.split(line, 1)[0], _LOOSE)[1] != "bad")
    if urls * 2 > len(sample):
        return FeedFormat.OPENPHISH if "openphish" in lowered_name else FeedFormat.URL_LIST
    if sample and ips * 2 > len(sample) and not any(line.split()[0] in _SINKHOLES for line in sample):
        return FeedFormat.IP_LIST
    if any(hint in lowered_name for hint in ("host", "pihole", "phishtank")):
        return FeedFormat.HOST_LIST
    return FeedFormat.DOMAIN_LIST


_LOOSE = FeedLimits(min_ipv4_prefix=0, min_ipv6_prefix=0)

_PARSERS: dict[FeedFormat, Callable[[str, _Builder], None]] = {
    FeedFormat.URL_LIST: _parse_url_list,
    FeedFormat.OPENPHISH: _parse_url_list,
    FeedFormat.DOMAIN_LIST: _parse_domain_list,
    FeedFormat.HOST_LIST: _parse_host_list,
    FeedFormat.IP_LIST: _parse_ip_list,
    FeedFormat.PHISHTANK_CSV: _parse_phishtank_csv,
    FeedFormat.URLHAUS_CSV: _parse_urlhaus_csv,
}


def parse_feed(
    data: bytes,
    *,
    name: str,
    format: FeedFormat | str | None = None,
    category: str | None = None,
    limits: FeedLimits | None = None,
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse one feed. ``format`` None means ``detect_format``; ``category`` overrides the
    format's default (records that carry their own, like STIX labels, keep theirs); ``now``
    decides STIX ``valid_until`` expiry (default: the current time)."""
    limits = limits or FeedLimits()
    fmt = FeedFormat(format) if format is not None else detect_format(name, data)
    feed = ParsedFeed(
        name=name,
        format=fmt,
        category=_clean_category(category or _default_category(fmt, name)),
    )
    builder = _Builder(feed, limits)
    if len(data) > limits.max_bytes:
        feed.fatal = f"feed is {len(data)} bytes, over the limit of {limits.max_bytes}"
        return feed
    if data[:2] == _GZIP_MAGIC:
        try:
            data = _gunzip(data, limits.max_decompressed_bytes)
        except (ValueError, zlib.error) as exc:
            feed.fatal = f"gzip: {exc}"
            return feed
    elif len(data) > limits.max_decompressed_bytes:
        feed.fatal = f"feed is over the limit of {limits.max_decompressed_bytes} bytes"
        return feed
    text = _text(data)
    if fmt is FeedFormat.STIX2:
        _parse_stix2(text, builder, now or datetime.now(UTC))
    else:
        _PARSERS[fmt](text, builder)
    return feed
