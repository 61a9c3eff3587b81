"""Unwrapping of link wrappers (other gateways' click-time links and named open redirects).

A wrapped link hides its real destination: intelligence must look at the destination, and
the rewriter must not wrap a wrapper. Each wrapper here is a documented, real format that can
be decoded offline (Microsoft Safe Links, Proofpoint URL Defense v1/v2/v3, Trend Micro,
Barracuda, Google /url and AMP, Bing /ck/a, Facebook l.php, LinkedIn redirects) or one that
cannot (Mimecast, LinkedIn short codes): those are reported as *opaque*, the URL kept as is.
Generic ``?url=`` parameters of arbitrary sites are deliberately NOT followed here (the
heuristics look at nested redirect parameters); only the named services are.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from tap_core.parsing.domains import host_matches_domain, split_host
from tap_core.urls.normalize import NormalizedUrl, normalize_url

#: Name of our own click-time links (decoded through the caller's hook).
OWN_WRAPPER = "tap365"

OwnLinkDecoder = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class UnwrapResult:
    """The real destination of a URL and how we got there.

    ``url`` is the normalised innermost URL we could decode (the input, normalised, when it
    is not wrapped). ``wrappers`` names the wrappers removed, outermost first; ``chain`` holds
    the URL before each removal (so ``chain[0]`` is the outermost wrapped form). ``opaque``
    names a wrapper recognised around ``url`` that cannot be decoded offline (``mimecast``,
    ``linkedin``...): the destination is then unknown and ``url`` is that wrapper link.
    """

    url: str
    wrappers: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()
    opaque: str | None = None

    @property
    def wrapped(self) -> bool:
        return bool(self.wrappers) or self.opaque is not None


class _Opaque:
    """Marker: a known wrapper whose destination cannot be recovered offline."""


_OPAQUE = _Opaque()
_Step = str | _Opaque | None

_SCHEME_PREFIX_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_V3_RE = re.compile(r"/v3/__(?P<url>.+?)__;(?P<enc>[A-Za-z0-9_\-=]*)!")
_V3_TOKEN_RE = re.compile(r"\*(\*.)?")
_V3_SINGLE_SLASH_RE = re.compile(r"^([a-z0-9+.\-]+:/)([^/].+)", re.IGNORECASE)
# Run-length alphabet of Proofpoint v3: "**A" stands for 2 bytes, "**B" for 3, ... "**_" 65.
_V3_RUN_LENGTH = {
    c: i + 2
    for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
_MIMECAST_HOST_RE = re.compile(r"(?:protect(?:-[a-z]+)?\d*\.mimecast\.com|.*\.mimecastprotect\.com)")
_SAFELINKS_SUFFIXES = (
    ".safelinks.protection.outlook.com",
    ".safelinks.protection.office365.us",
)
_SAFELINKS_HOSTS = frozenset(h.lstrip(".") for h in _SAFELINKS_SUFFIXES)
_FACEBOOK_HOSTS = frozenset({"l.facebook.com", "lm.facebook.com", "l.messenger.com", "l.instagram.com"})
# Registrable domains (last two labels) of every wrapper host _step knows, Google aside.
WRAPPER_DOMAINS = frozenset({
    "outlook.com", "office365.us", "office.net", "proofpoint.com", "urldefense.com",
    "mimecast.com", "mimecastprotect.com", "trendmicro.com", "trendmicro.eu", "cudasvc.com",
    "facebook.com", "messenger.com", "instagram.com", "lnkd.in", "linkedin.com", "bing.com",
})


def unwrap(
    url: str,
    *,
    own_hosts: Sequence[str] = (),
    own_link_decoder: OwnLinkDecoder | None = None,
    max_depth: int = 5,
) -> UnwrapResult:
    """Remove known wrappers from ``url`` (nested ones too, up to ``max_depth`` levels).

    Our own rewritten links are decoded by ``own_link_decoder`` (it returns the original URL
    or None): it is asked about links on ``own_hosts``, or about every link when
    ``own_hosts`` is empty. A link on ``own_hosts`` that it cannot decode is opaque "tap365".
    Never raises; an input that is no URL comes back unchanged.
    """
    current = normalize_url(url)
    if current is None:
        return UnwrapResult(url=url)
    return unwrap_normalized(current, own_hosts=own_hosts, own_link_decoder=own_link_decoder,
                             max_depth=max_depth)


def unwrap_normalized(
    current: NormalizedUrl,
    *,
    own_hosts: Sequence[str] = (),
    own_link_decoder: OwnLinkDecoder | None = None,
    max_depth: int = 5,
) -> UnwrapResult:
    """:func:`unwrap` for an already normalised URL (the extractors have one: parsing its
    ``url`` again would cost as much as the first normalisation)."""
    if not own_hosts and own_link_decoder is None and max_depth > 0:
        # The usual case, no own links to decode: most URLs are not wrapped, answer at once.
        try:
            first = _step(current, (), None)
        except Exception:  # a hostile parameter must not stop the pipeline
            first = None
        if first is None:
            return UnwrapResult(url=current.url)
    own = tuple(h.lower().rstrip(".") for h in own_hosts)
    wrappers: list[str] = []
    chain: list[str] = []
    opaque: str | None = None
    for _ in range(max(0, max_depth)):
        try:
            found = _step(current, own, own_link_decoder)
        except Exception:  # a hostile parameter must not stop the pipeline
            found = None
        if found is None:
            break
        name, inner = found
        nxt = None if isinstance(inner, _Opaque) else _inner_url(inner)
        if nxt is None or nxt.url == current.url:
            opaque = name
            break
        wrappers.append(name)
        chain.append(current.url)
        current = nxt
    return UnwrapResult(url=current.url, wrappers=tuple(wrappers), chain=tuple(chain), opaque=opaque)


def may_be_wrapper_host(host: str) -> bool:
    """False when no named wrapper lives on ``host`` (our own links aside): almost no link is
    wrapped, and one set lookup on the last two labels rules out every wrapper :func:`_step`
    knows (Google is matched by name: it has many country domains)."""
    last_dot = host.rfind(".")
    two_labels = host[host.rfind(".", 0, last_dot) + 1 :] if last_dot > 0 else host
    return two_labels in WRAPPER_DOMAINS or "google" in host


def _inner_url(value: str | None) -> NormalizedUrl | None:
    """The decoded destination, only when it is an absolute URL (not a search term)."""
    if not value:
        return None
    value = value.strip()
    if not _SCHEME_PREFIX_RE.match(value):
        return None
    n = normalize_url(value)
    return n if n is not None and n.host else None


def _step(
    n: NormalizedUrl, own: tuple[str, ...], own_decoder: OwnLinkDecoder | None
) -> tuple[str, _Step] | None:
    """(wrapper name, inner URL or _OPAQUE) when ``n`` is a known wrapper, else None."""
    host = n.host
    if own_decoder is not None or own:
        on_own_host = any(host_matches_domain(host, h) for h in own)
        if own_decoder is not None and (on_own_host or not own):
            decoded = own_decoder(n.url)
            if decoded:
                return OWN_WRAPPER, decoded
        if on_own_host:
            return OWN_WRAPPER, _OPAQUE
    if not n.is_web:
        return None
    if not may_be_wrapper_host(host):
        return None
    path = n.path
    query = n.query or ""
    if host.endswith(_SAFELINKS_SUFFIXES) or host in _SAFELINKS_HOSTS or (
        host == "statics.teams.cdn.office.net" and path.startswith("/evergreen-assets/safelinks/")
    ):
        return "safelinks", _param(query, "url") or _OPAQUE
    if host in ("urldefense.proofpoint.com", "urldefense.com"):
        return _proofpoint(n)
    if _MIMECAST_HOST_RE.fullmatch(host) and path.startswith("/s/"):
        return "mimecast", _OPAQUE
    if (host.endswith(".trendmicro.com") or host.endswith(".trendmicro.eu")) and path.startswith(
        "/wis/clicktime/"
    ):
        return "trendmicro", _param(query, "url") or _OPAQUE
    if host == "linkprotect.cudasvc.com" and path == "/url":
        return "barracuda", _param(query, "a") or _OPAQUE
    if host in _FACEBOOK_HOSTS and path in ("/", "/l.php"):
        return "facebook", _param(query, "u") or _OPAQUE
    if host == "lnkd.in":
        return "linkedin", _OPAQUE
    if host_matches_domain(host, "linkedin.com"):
        if path == "/slink":
            return "linkedin", _OPAQUE
        if path in ("/redir/redirect", "/safety/go"):
            return "linkedin", _param(query, "url") or _OPAQUE
        return None
    if host_matches_domain(host, "bing.com") and path == "/ck/a":
        return "bing", _bing(query)
    if "google" in host:
        return _google(n)
    return None


def _param(query: str, name: str) -> str | None:
    """First value of ``name`` in a query string, percent-decoded (``+`` kept: not a form)."""
    if not query:
        return None
    # Links copied out of HTML source often keep "&amp;" between parameters.
    if "&amp;" in query:
        query = query.replace("&amp;", "&")
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        if eq and key == name:
            return unquote(value)
    return None


def _proofpoint(n: NormalizedUrl) -> tuple[str, _Step] | None:
    path = n.path
    if path.startswith("/v1/"):
        u = _param(n.query or "", "u")
        return "proofpoint_v1", html.unescape(u) if u else _OPAQUE
    if path.startswith("/v2/"):
        u = _raw_param(n.query or "", "u")
        if not u:
            return "proofpoint_v2", _OPAQUE
        return "proofpoint_v2", html.unescape(unquote(u.translate(_V2_TRANS)))
    if path.startswith("/v3/"):
        return "proofpoint_v3", _proofpoint_v3(n.url) or _OPAQUE
    return None


_V2_TRANS = str.maketrans("-_", "%/")


def _raw_param(query: str, name: str) -> str | None:
    if "&amp;" in query:
        query = query.replace("&amp;", "&")
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        if eq and key == name:
            return value
    return None


def _proofpoint_v3(url: str) -> str | None:
    """Proofpoint's published v3 algorithm.

    The original URL sits between ``__`` markers with some characters replaced: each ``*``
    takes the next character of the base64url block after ``__;``, and ``**X`` takes a run
    of the next N characters, N given by X in the run-length alphabet.
    """
    # Matched at the first marker only: a later one can only find a subset of the same ends, and
    # a search retried ".+?" from every "/v3/__" of a hostile URL (quadratic).
    first = url.find("/v3/__")
    m = _V3_RE.match(url, first) if first >= 0 else None
    if m is None:
        return None
    inner = m.group("url")
    single = _V3_SINGLE_SLASH_RE.match(inner)
    if single:
        inner = single.group(1) + "/" + single.group(2)
    inner = unquote(inner)
    enc = m.group("enc")
    try:
        replacement = base64.urlsafe_b64decode(enc + "=" * (-len(enc) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    pos = 0

    def substitute(tok: re.Match[str]) -> str:
        nonlocal pos
        run = tok.group(1)
        length = 1 if run is None else _V3_RUN_LENGTH.get(run[-1], 0)
        if length == 0 or pos + length > len(replacement):
            raise ValueError("Proofpoint v3: replacement bytes exhausted")
        chunk = replacement[pos : pos + length]
        pos += length
        return chunk

    try:
        return _V3_TOKEN_RE.sub(substitute, inner)
    except ValueError:
        return None


def _bing(query: str) -> _Step:
    u = _param(query, "u")
    if not u:
        return _OPAQUE
    if u.startswith("a1"):
        body = u[2:]
        try:
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
        except (binascii.Error, ValueError):
            return _OPAQUE
    return u


def _google(n: NormalizedUrl) -> tuple[str, _Step] | None:
    if split_host(n.host)[1] != "google":
        return None
    if n.path == "/url":
        target = _param(n.query or "", "q") or _param(n.query or "", "url")
        # /url?q=<search words> is not a redirect: only an absolute URL makes it one.
        return ("google", target) if _inner_url(target) is not None else None
    if n.path.startswith("/amp/"):
        rest = n.path[len("/amp/") :]
        target = "https://" + rest[2:] if rest.startswith("s/") else "http://" + rest
        if n.query:
            target += "?" + n.query
        return "google_amp", target
    return None
