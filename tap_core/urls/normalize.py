"""URL normalisation: one canonical ASCII form per destination, plus a Unicode display form.

The rules follow what a browser does with the link (WHATWG URL parsing for http/https/ftp:
backslashes as slashes, any number of slashes after the scheme, numeric IPv4 forms, UTS #46
host mapping, dot-segment removal) and add the RFC 3986 canonicalisations that make two
spellings of one URL compare equal (upper-case percent hex, unreserved characters decoded,
default port removed, empty path -> "/"). Defanged forms (``hxxp``, ``[.]``...) are re-armed
and reported. Nothing here raises on bad input: what is not a URL gives ``None``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from tap_core.parsing.domains import label_to_ascii, label_to_unicode, uts46_map

#: Schemes a browser navigates to over the network; the rewriter wraps these.
WEB_SCHEMES = frozenset({"http", "https"})
#: Schemes parsed as scheme://authority/path.
HIERARCHICAL_SCHEMES = frozenset({"http", "https", "ftp", "file", "smb"})
#: Schemes recognised and kept as-is after the colon (analysis needs to see them; the
#: rewriter skips mailto/tel/cid, javascript/data are suspicious in a link by themselves).
OPAQUE_SCHEMES = frozenset({"mailto", "tel", "cid", "data", "javascript"})
SUPPORTED_SCHEMES = HIERARCHICAL_SCHEMES | OPAQUE_SCHEMES

_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}
# Schemes where a backslash in a reference is a slash (WHATWG "special", plus UNC-like smb).
_SPECIAL = HIERARCHICAL_SCHEMES

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# Defanged scheme spellings: hxxp, hXXps, h**p, fxp; with optional [:] / [://] separators.
_DEFANG_SCHEME_RE = re.compile(
    r"^(?:h(?:xx|\*\*|\[xx\]|tt)p(s?)|(fxp|ftp))(?:\[:\]|\(:\)|\[://\]|:)", re.IGNORECASE
)
_DEFANG_DOT_RE = re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)", re.IGNORECASE)
_DEFANG_COLON_RE = re.compile(r"\[:\]|\(:\)")
# WHATWG strips leading/trailing C0 controls and spaces, and removes tab/newline anywhere.
_TAB_NL_RE = re.compile(r"[\t\n\r]")
_C0_SPACE = "".join(chr(c) for c in range(0x21))

_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters a browser percent-encodes in each component (WHATWG percent-encode sets).
_PATH_ENC_RE = re.compile(r"[^\x21-\x7e]|[\"<>`{}]")
_QUERY_ENC_RE = re.compile(r"[^\x21-\x7e]|[\"<>']")
_FRAGMENT_ENC_RE = re.compile(r"[^\x21-\x7e]|[\"<>`]")
_USERINFO_ENC_RE = re.compile(r"[^\x21-\x7e]|[\"<>`{}@]")
_ASCII_LABEL_RE = re.compile(r"[a-z0-9_\-]+")
# Forbidden host code points (WHATWG) after percent-decoding: these make the URL invalid.
_FORBIDDEN_HOST_RE = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
_PORT_RE = re.compile(r"[0-9]*")
_HEX_RE = re.compile(r"[0-9a-fA-F]*")
_OCTAL_RE = re.compile(r"[0-7]+")
_AUTHORITY_END_RE = re.compile(r"[/\\?#]")


@dataclass(frozen=True, slots=True)
class NormalizedUrl:
    """A parsed, canonical URL.

    ``url`` is ASCII (punycode host) and is what intelligence lookups and the rewriter use;
    ``display_url`` has the host in Unicode, for people. ``host`` is lower-case ASCII without
    a trailing dot (IPv6 without brackets; "" for opaque schemes other than mailto, where it
    is the address's domain). ``port`` is set only when it is not the scheme's default.
    ``query``/``fragment`` are None when absent. ``userinfo`` keeps what stood before the
    ``@`` (heuristics flag ``https://bank.com@evil.example``). ``defanged`` tells that the
    input was a neutered form (``hxxp``, ``[.]``) that we re-armed.
    """

    url: str
    display_url: str
    scheme: str
    host: str
    display_host: str
    port: int | None
    path: str
    query: str | None
    fragment: str | None
    userinfo: str | None
    defanged: bool = False

    @property
    def is_web(self) -> bool:
        """http/https: a link a browser fetches, the kind the rewriter wraps."""
        return self.scheme in WEB_SCHEMES

    @property
    def is_opaque(self) -> bool:
        """mailto/tel/cid/data/javascript: no network authority to check or rewrite."""
        return self.scheme in OPAQUE_SCHEMES


def normalize_url(raw: str, base: str | None = None) -> NormalizedUrl | None:
    """Normalise ``raw`` (resolved against ``base`` when relative); None if it is no URL.

    Without a base, a scheme-less input is read as ``http://`` + input when its first part
    is host-like (``www.example.com/x``, ``//example.com``); deciding whether a bare token
    in prose is really a domain is the extractor's job (public suffix, file names).
    """
    if (not raw and base is None) or len(raw) > 1_000_000:
        return None
    try:
        return _normalize_cached(raw, base)
    except Exception:  # never raise on hostile input; a failed parse is "not a URL"
        return None


# The common case, already canonical but for letter case:
# [http(s)|ftp://]host[:port][/path][?query][#fragment], where
# - the host is letters, digits, "-", "_" and non-ASCII characters (no escapes, no defanged
#   dots), handed to host_forms as the general parser would;
# - a port follows a scheme only ("host:80" alone may read as a scheme);
# - there is nothing to decode, encode, re-arm or resolve: no "%", no braces, no quotes but
#   "'" in the path, no dot segments ("/." is checked apart), brackets only where they spell
#   no defanged "[.]" or "(:)" (checked apart).
# Such a URL takes the fast path below; the result is the one the general parser gives
# (tests/test_url_normalize.py compares them).
_SAFE = r"[!$&()*+,\-./0-9:;=@A-Z\[\]^_a-z|~]"
# Letters, digits, "-", "_" and any non-ASCII character: the general parser ends a host only
# at ASCII delimiters and hands the rest to host_forms, as this path does.
_HOST_CHAR = r"[A-Za-z0-9_\-\x80-\U0010ffff]"
_FAST_URL_RE = re.compile(
    rf"(?:(?P<scheme>[hH][tT][tT][pP][sS]?|[fF][tT][pP])://)?"
    rf"(?P<host>{_HOST_CHAR}+(?:\.{_HOST_CHAR}+)*)(?(scheme)(?::(?P<port>[0-9]{{1,5}}))?)"
    rf"(?P<path>/(?:{_SAFE}|')*)?(?:\?(?P<query>(?:{_SAFE}|\?)+))?"
    rf"(?:#(?P<fragment>(?:{_SAFE}|\?)+))?"
)


def _spells_defanged(text: str) -> bool:
    """A defanged dot or colon ("[.]", "(dot)", "[:]"...) that _undefang would re-arm."""
    return bool(_DEFANG_DOT_RE.search(text) or _DEFANG_COLON_RE.search(text))


def _fast(m: re.Match[str]) -> NormalizedUrl | None:
    parsed = host_forms(m["host"])
    if parsed is None:
        return None
    host, display_host = parsed
    scheme = m["scheme"].lower() if m["scheme"] else "http"  # scheme-less: read as http://
    port: int | None = None
    port_text = ""
    if m["port"]:
        port = int(m["port"])
        if port > 65535:
            return None
        if port == _DEFAULT_PORTS[scheme]:
            port = None
        else:
            port_text = f":{port}"
    path = m["path"] or "/"
    query, fragment = m["query"], m["fragment"]
    tail = path
    if query:
        tail += "?" + query
    if fragment:
        tail += "#" + fragment
    url = f"{scheme}://{host}{port_text}{tail}"
    display = url if display_host == host else f"{scheme}://{display_host}{port_text}{tail}"
    return NormalizedUrl(url, display, scheme, host, display_host, port, path, query, fragment,
                         None, False)


@lru_cache(maxsize=16384)
def _normalize_cached(raw: str, base: str | None) -> NormalizedUrl | None:
    if base is None and "/." not in raw:
        fast = _FAST_URL_RE.fullmatch(raw)
        if fast is not None and not (("[" in raw or "(" in raw) and _spells_defanged(raw)):
            return _fast(fast)
    s = raw.strip(_C0_SPACE)
    if "\t" in s or "\n" in s or "\r" in s:
        s = _TAB_NL_RE.sub("", s)
    if not s:
        # An empty reference is the base document itself.
        return normalize_url(base) if base is not None else None
    s, defanged = _undefang(s)
    m = _SCHEME_RE.match(s)
    scheme = m.group(1).lower() if m else None
    if scheme is not None and scheme not in SUPPORTED_SCHEMES:
        # "example.com:8080/x" and "localhost:80" look like a scheme to a parser: a dotted
        # "scheme" followed by a digit is a host and port.
        rest = s[m.end() :] if m else ""
        if "." in scheme and rest[:1].isdigit():
            scheme = None
        else:
            return None
    if scheme is None:
        if base is not None:
            b = normalize_url(base)
            if b is None or b.scheme not in HIERARCHICAL_SCHEMES:
                return None
            s = _resolve(s, b)
        elif s[:2] in ("//", "\\\\", "/\\", "\\/"):
            s = "http:" + s
        elif s[0] in "/\\?#.":
            return None  # a relative reference with nothing to resolve it against
        else:
            s = "http://" + s
        m = _SCHEME_RE.match(s)
        if m is None:
            return None
        scheme = m.group(1).lower()
    rest = s[m.end() :] if m else ""
    if scheme in OPAQUE_SCHEMES:
        return _opaque(scheme, rest, defanged)
    return _hierarchical(scheme, rest, defanged)


def clear_caches() -> None:
    """Drop the memoised results (benchmarks measure cold runs)."""
    _normalize_cached.cache_clear()
    host_forms.cache_clear()


def _undefang(s: str) -> tuple[str, bool]:
    changed = False
    low = s[:6].lower()
    # "http:"/"https:" as written (nearly every URL) is not a defanged scheme: skip the regex.
    m = None if low[:5] == "http:" or low == "https:" else _DEFANG_SCHEME_RE.match(s)
    if m and m.group(0).lower() not in ("http:", "https:", "ftp:"):
        scheme = ("https" if m.group(1) else "http") if m.group(2) is None else "ftp"
        sep = "://" if "//" in m.group(0) else ":"
        s = scheme + sep + s[m.end() :]
        changed = True
    if "[" in s or "(" in s or "{" in s:
        s2 = _DEFANG_DOT_RE.sub(".", s)
        s2 = _DEFANG_COLON_RE.sub(":", s2)
        if s2 != s:
            s, changed = s2, True
    return s, changed


def _resolve(ref: str, b: NormalizedUrl) -> str:
    """RFC 3986 reference resolution against a normalised base (dots removed later)."""
    origin = f"{b.scheme}://" + (f"{b.userinfo}@" if b.userinfo else "") + _host_port(b)
    special = b.scheme in _SPECIAL
    if special:
        # backslashes are slashes in the path part only (not in the query or fragment)
        cut = min((i for i in (ref.find("?"), ref.find("#")) if i >= 0), default=len(ref))
        ref = ref[:cut].replace("\\", "/") + ref[cut:]
    if ref.startswith("//"):
        return f"{b.scheme}:{ref}"
    if ref.startswith("/"):
        return origin + ref
    base_q = f"?{b.query}" if b.query is not None else ""
    if ref.startswith("?"):
        return origin + b.path + ref
    if ref.startswith("#") or not ref:
        return origin + b.path + base_q + ref
    directory = b.path[: b.path.rfind("/") + 1] or "/"
    return origin + directory + ref


def _host_port(u: NormalizedUrl) -> str:
    host = f"[{u.host}]" if ":" in u.host else u.host
    return host + (f":{u.port}" if u.port is not None else "")


def _opaque(scheme: str, rest: str, defanged: bool) -> NormalizedUrl | None:
    if not rest:
        return None
    host = display_host = ""
    query = None
    url = display = f"{scheme}:{rest}"
    if scheme == "mailto":
        addr, _, q = rest.partition("?")
        query = q or None
        local, at, domain = addr.rpartition("@")
        if at and local and domain and "," not in domain:
            h = _parse_host(_pct_decode_all(domain))
            if h is not None:
                # one address: canonical form has the ASCII domain, like a web host
                host, display_host = h
                suffix = f"?{query}" if query else ""
                url = f"mailto:{local}@{host}{suffix}"
                display = f"mailto:{local}@{display_host}{suffix}"
    return NormalizedUrl(
        url=url,
        display_url=display,
        scheme=scheme,
        host=host,
        display_host=display_host,
        port=None,
        path=rest,
        query=query,
        fragment=None,
        userinfo=None,
        defanged=defanged,
    )


def _hierarchical(scheme: str, rest: str, defanged: bool) -> NormalizedUrl | None:
    # Browsers skip any run of slashes (and backslashes) after "http:"; smb and file take
    # backslashes too, as UNC paths do.
    i = 0
    n = len(rest)
    while i < n and rest[i] in "/\\":
        i += 1
    rest = rest[i:]
    if scheme == "file" and i != 2:
        authority, tail = "", "/" + rest  # file:///C:/x has an empty host
    else:
        m = _AUTHORITY_END_RE.search(rest)
        end = m.start() if m else len(rest)
        authority, tail = rest[:end], rest[end:]
    userinfo: str | None = None
    at = authority.rfind("@")
    if at >= 0:
        user, colon, password = authority[:at].partition(":")
        # Browsers drop an empty password and an empty userinfo ("http://a:@x", "http://:@x").
        raw_userinfo = f"{user}:{password}" if colon and password else user
        userinfo = _USERINFO_ENC_RE.sub(_pct_encode_match, raw_userinfo) or None
        authority = authority[at + 1 :]
    hostport = authority
    port: int | None = None
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return None
        host_text, port_text = hostport[: close + 1], hostport[close + 1 :]
        if port_text and not port_text.startswith(":"):
            return None
        port_text = port_text[1:]
    else:
        host_text, _, port_text = hostport.partition(":")
    if port_text:
        if not _PORT_RE.fullmatch(port_text) or int(port_text) > 65535:
            return None
        port = int(port_text)
        if _DEFAULT_PORTS.get(scheme) == port:
            port = None
    # Percent-escapes are decoded in domains (an evasion trick), never inside IPv6 brackets.
    parsed = _parse_host(host_text if host_text.startswith("[") else _pct_decode_all(host_text))
    if parsed is None:
        return None
    host, display_host = parsed
    if not host and scheme != "file":
        return None

    path, query, fragment = _split_tail(tail)
    path = _normalize_path(path)
    if not path and scheme in _DEFAULT_PORTS:
        path = "/"
    query = _normalize_component(query, _QUERY_ENC_RE) if query else None
    fragment = _normalize_component(fragment, _FRAGMENT_ENC_RE) if fragment else None

    head = f"{scheme}://{userinfo}@" if userinfo else f"{scheme}://"
    tail = path
    if port is not None:
        tail = f":{port}{path}"
    if query:
        tail += "?" + query
    if fragment:
        tail += "#" + fragment
    url = head + (f"[{host}]" if ":" in host else host) + tail
    if display_host != host:
        display = head + (f"[{display_host}]" if ":" in display_host else display_host) + tail
    else:
        display = url
    # Positional: a frozen dataclass built from keywords costs half as much again, per URL.
    return NormalizedUrl(url, display, scheme, host, display_host, port, path, query, fragment,
                         userinfo, defanged)


def _split_tail(tail: str) -> tuple[str, str | None, str | None]:
    fragment: str | None = None
    query: str | None = None
    h = tail.find("#")
    if h >= 0:
        tail, fragment = tail[:h], tail[h + 1 :]
    q = tail.find("?")
    if q >= 0:
        tail, query = tail[:q], tail[q + 1 :]
    return tail.replace("\\", "/"), query, fragment


_SINGLE_DOT = frozenset({".", "%2e"})
_DOUBLE_DOT = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})


def _normalize_path(path: str) -> str:
    if not path:
        return ""
    if "." in path or "%2" in path:
        path = _remove_dot_segments(path)
    return _normalize_component(path, _PATH_ENC_RE)


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        low = seg.lower()
        if low in _SINGLE_DOT:
            if i == last:
                out.append("")
        elif low in _DOUBLE_DOT:
            if out:
                out.pop()
            if i == last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)


def _normalize_component(value: str, encode_re: re.Pattern[str]) -> str:
    if "%" in value:
        value = _PCT_RE.sub(_pct_canonical, value)
    return encode_re.sub(_pct_encode_match, value)


def _pct_canonical(m: re.Match[str]) -> str:
    ch = chr(int(m.group(1), 16))
    return ch if ch in _UNRESERVED else "%" + m.group(1).upper()


def _pct_encode_match(m: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8", "surrogatepass"))


def _pct_decode_all(s: str) -> str:
    """Percent-decode a host as UTF-8; undecodable bytes give a forbidden NUL."""
    if "%" not in s:
        return s
    try:
        return unquote(s, errors="strict")
    except UnicodeDecodeError:
        return "\0"


def host_to_ascii(host: str) -> str | None:
    """``host`` as URL normalisation writes it (UTS #46 non-transitional, punycode, IPv4 forms),
    or None when a browser would refuse it. Every host that is compared with a normalised URL's
    host (feed indicators, exclusions, link texts) goes through this one conversion: Python's
    "idna" codec is IDNA 2003 and maps "straße.de" to "strasse.de", another domain."""
    parsed = host_forms(host)
    return parsed[0] if parsed is not None else None


def comparable_host(host: str) -> str | None:
    """``host`` (no brackets, no port) lower-cased without its trailing dot, a non-ASCII one in
    its ASCII form (:func:`host_to_ascii`); None when a browser would refuse it."""
    host = host.lower().rstrip(".")
    return host if host.isascii() else host_to_ascii(host)


def _parse_host(text: str) -> tuple[str, str] | None:
    """(ascii_host, display_host) or None for an invalid host."""
    if not text:
        return "", ""
    if text.startswith("["):
        if not text.endswith("]"):
            return None
        if "%" in text:
            return None  # zone ids and escapes are not valid in a URL's IPv6 host
        try:
            ip6 = ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            return None
        return ip6.compressed, ip6.compressed
    return host_forms(text)


# A host that is already canonical (lower-case LDH labels, no punycode, not numeric): the
# common case, returned as is without the UTS #46 / IPv4 / per-label checks below.
_PLAIN_HOST_RE = re.compile(r"(?!.*xn--)[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*")


@lru_cache(maxsize=32768)
def host_forms(text: str) -> tuple[str, str] | None:
    """(ASCII host, display host) of a host as written, or None when a browser refuses it:
    UTS #46 mapping, punycode, WHATWG IPv4 forms, label checks."""
    if text.isascii():
        mapped = text.lower().rstrip(".")
        last = mapped[mapped.rfind(".") + 1 :]
        if (
            _PLAIN_HOST_RE.fullmatch(mapped)
            and not last.isdigit()
            and not last.startswith("0x")
            and mapped.count(".") < 127
            and len(mapped) <= 253 * 2
        ):
            return mapped, mapped
    try:
        # UTS #46 maps ASCII to lower case only: skip the table walk for plain hosts.
        mapped = text.lower() if text.isascii() else uts46_map(text)
    except Exception:  # a code point UTS #46 disallows (U+FFFD, non-characters): browsers fail
        return None
    mapped = mapped.rstrip(".")
    if not mapped or _FORBIDDEN_HOST_RE.search(mapped):
        return None
    labels = mapped.split(".")
    if len(labels) > 127 or any(not lab for lab in labels):
        return None
    ipv4 = _parse_ipv4(labels)
    if ipv4 is False:
        return None
    if isinstance(ipv4, str):
        return ipv4, ipv4
    ascii_labels: list[str] = []
    display_labels: list[str] = []
    for label in labels:
        if label.isascii():
            if not _ASCII_LABEL_RE.fullmatch(label):
                return None
            ascii_labels.append(label)
            display_labels.append(label_to_unicode(label))
        elif label.startswith("xn--"):
            return None  # an A-label prefix on a non-ASCII label: no valid encoding
        else:
            ascii_labels.append(label_to_ascii(label))
            display_labels.append(label)
    host = ".".join(ascii_labels)
    if len(host) > 253 * 2:  # far beyond DNS limits: garbage, not a host
        return None
    return host, ".".join(display_labels)


def _parse_ipv4(labels: list[str]) -> str | bool | None:
    """WHATWG IPv4 parser: dotted string, False for an invalid number, None if no IPv4."""
    last = labels[-1]
    if not (last.isdigit() and last.isascii()) and not (
        last[:2] in ("0x", "0X") and _HEX_RE.fullmatch(last[2:])
    ):
        return None
    if len(labels) > 4:
        return False
    numbers: list[int] = []
    for part in labels:
        # Each part is checked against its digit set before int(): int() also takes a sign,
        # "_" separators and non-ASCII digits, none of which a browser reads ("0-31" is no
        # octal number, and a negative one made IPv4Address raise).
        if part[:2] in ("0x", "0X"):
            if not _HEX_RE.fullmatch(part[2:]):
                return False
            numbers.append(int(part[2:], 16) if part[2:] else 0)
        elif len(part) > 1 and part[0] == "0":
            if not _OCTAL_RE.fullmatch(part[1:]):
                return False
            numbers.append(int(part[1:], 8))
        elif part.isdigit() and part.isascii():
            numbers.append(int(part))
        else:
            return False
    if any(x > 255 for x in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return False
    value = numbers[-1]
    for i, x in enumerate(numbers[:-1]):
        value += x * 256 ** (3 - i)
    return str(ipaddress.IPv4Address(value))
