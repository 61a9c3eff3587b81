"""SSRF-safe fetcher for click-time analysis (implements ``tap_core.click.fetch.Fetcher``).

Every hop: http(s) only; the host is resolved once, every address it resolves to must be public
(not private, loopback, link-local, reserved, multicast, CGNAT, cloud metadata; IPv6 forms that
embed an IPv4 address are judged by that address); the connection goes to the vetted IP while
the Host header and TLS SNI/certificate check keep the name, so a second DNS answer can never
steer the request elsewhere (no rebinding). Pages: GET only, no cookies, no forms, capped hops,
bytes and time; a compressed body only in the one layer of gzip or deflate asked for, decoded
here within the byte cap (anything else is refused: that is how a few KB become gigabytes).
``post_json`` is the one other verb, for the admin webhook: one hop (a redirect is not
followed), the same vetting and pinning. ``allow_networks`` (``TAP365_SCAN_ALLOW_NETWORKS``)
admits chosen networks, e.g. loopback for tests; metadata addresses stay refused whatever it says.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from tap_core.click.fetch import FetchBlocked, FetchedPage, FetchError, FetchLimits

#: What a page fetch says it is: a current desktop browser, never a fixed scanner identity (a kit
#: that cloaks shows a scanner a harmless page). Our own visits are marked only towards our own
#: redirector (``own_visit``), never towards the page.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/143.0.0.0 Safari/537.36"
)
#: The service's own name, for what it sends to its own admin's endpoints (the webhook).
SERVICE_USER_AGENT = "tap365/0.1 (+https://github.com/tap365/tap365)"
#: Header that marks a visit of ours to our own redirector, and which the click log reads.
OWN_VISIT_HEADER = "X-TAP365-Visit"
#: Accept-Language when the person's is not known, and the longest one taken from a click.
DEFAULT_ACCEPT_LANGUAGE = "en-US,en;q=0.9"
_MAX_ACCEPT_LANGUAGE = 200
_ACCEPT_LANGUAGE_RE = re.compile(r"[A-Za-z0-9*,;=.\- ]+")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Not covered (or not reliably) by ipaddress's is_global across Python versions.
_ALWAYS_REFUSED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
        "2001:db8::/32",
        "100::/64",
    )
)
#: Cloud instance-metadata endpoints: refused even inside an allowed network.
METADATA: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.169.254/32",
        "169.254.170.2/32",
        "100.100.100.200/32",
        "fd00:ec2::254/128",
        "192.0.0.192/32",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_V4_COMPAT = ipaddress.ip_network("::/96")


def parse_networks(value: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (``TAP365_SCAN_ALLOW_NETWORKS``); raises ValueError on a bad one."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in value.split(",") if v.strip())


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, Teredo, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address; the server half is public by construction
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _V4_COMPAT and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: IPAddress, allow: Iterable[Network] = ()) -> str | None:
    """Why ``ip`` must not be fetched from, or None when it may."""
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "scoped IPv6 address"
        inner = embedded_ipv4(ip)
        if inner is not None:
            candidates = [inner]  # the IPv4 address is where the packets go: judge that
    for addr in candidates:
        if any(addr in net for net in METADATA if net.version == addr.version):
            return f"cloud metadata address {addr}"
    allowed = list(allow)
    for addr in candidates:
        if any(addr.version == net.version and addr in net for net in allowed):
            continue
        if any(addr.version == net.version and addr in net for net in _ALWAYS_REFUSED):
            return f"non-public address {addr}"
        if not addr.is_global or addr.is_multicast or addr.is_reserved:
            return f"non-public address {addr}"
    return None


_NUMERIC_PART = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.I)


def numeric_host(host: str) -> IPAddress | None:
    """An IPv4 address written the way inet_aton reads it (decimal, octal, hex, short forms)."""
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        return None
    try:
        values = [
            int(p, 16)
            if p.lower().startswith("0x")
            else int(p, 8)
            if len(p) > 1 and p.startswith("0")
            else int(p)
            for p in parts
        ]
    except ValueError:
        return None
    last_bits = 8 * (5 - len(values))
    if any(v > 255 for v in values[:-1]) or values[-1] >= 1 << last_bits:
        return None
    number = 0
    for v in values[:-1]:
        number = number << 8 | v
    number = number << last_bits | values[-1]
    return ipaddress.IPv4Address(number)


#: What a page fetch asks for, as a browser navigating to a page does.
_GET_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "Upgrade-Insecure-Requests": "1",
}


def accept_language(value: str | None) -> str:
    """The person's Accept-Language (from their click) when it is a plausible one, else ours."""
    value = (value or "").strip()
    if value and len(value) <= _MAX_ACCEPT_LANGUAGE and _ACCEPT_LANGUAGE_RE.fullmatch(value):
        return value
    return DEFAULT_ACCEPT_LANGUAGE
#: The content codings every request asks for, and the only ones a response may use (one layer):
#: we decode them ourselves, bounded (httpx would decode any coding, stacked, a chunk at a time).
ACCEPT_ENCODING = "gzip, deflate"
_GZIP_CODINGS = frozenset({"gzip", "x-gzip"})
#: Decoded bytes produced per decompress call: the work one step can do is bounded by this,
#: whatever the compression ratio of the input.
_DECODE_STEP = 64 * 1024


class _Decoder:
    """One gzip or deflate layer, decoded incrementally with a bound on each step's output."""

    def __init__(self, coding: str) -> None:
        self._obj: zlib._Decompress | None = None
        if coding in _GZIP_CODINGS:
            self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._head = b""  # deflate: the first bytes, until they show whether a zlib header is there

    def feed(self, data: bytes, room: int) -> Iterable[bytes]:
        """Decoded pieces of ``data``, at most ``room`` bytes in all (input past that point is
        never decoded). Trailing bytes after the end of the compressed stream are ignored."""
        if self._obj is None:
            # "deflate" means zlib-wrapped, but some servers send raw deflate: the two header
            # bytes of a zlib stream (method 8, checksum) tell which.
            self._head += data
            if len(self._head) < 2:
                return
            cmf, flg = self._head[0], self._head[1]
            wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            data, self._head = self._head, b""
        while room > 0 and not self._obj.eof:
            step = min(_DECODE_STEP, room)
            try:
                out = self._obj.decompress(data, step)
            except zlib.error as exc:
                raise FetchError("decode", f"bad compressed body: {exc}") from exc
            data = self._obj.unconsumed_tail
            room -= len(out)
            if out:
                yield out
            if not data and len(out) < step:
                return  # input used up and nothing pending (a full step may leave output pending)


def _decoder(headers: httpx.Headers) -> _Decoder | None:
    """The decoder for the response's Content-Encoding (None for none); raises FetchError for a
    coding not asked for or more than one layer (a stack is how a small body becomes gigabytes)."""
    codings = [
        c.strip().lower()
        for value in headers.get_list("content-encoding")
        for c in value.split(",")
        if c.strip() and c.strip().lower() != "identity"
    ]
    if not codings:
        return None
    shown = ", ".join(codings)[:80]
    if len(codings) > 1:
        raise FetchError("encoding", f"Content-Encoding {shown!r}: more than one layer")
    if codings[0] not in _GZIP_CODINGS and codings[0] != "deflate":
        raise FetchError("encoding", f"Content-Encoding {shown!r} was not asked for ({ACCEPT_ENCODING})")
    return _Decoder(codings[0])


def _pinned(url: str, scheme: str, host: str, port: int, addr: IPAddress) -> tuple[str, str]:
    """The URL with the vetted address in place of the name, and the Host header keeping the name."""
    parts = urlsplit(url)
    ip_text = f"[{addr}]" if addr.version == 6 else str(addr)
    default = 443 if scheme == "https" else 80
    pinned = urlunsplit(
        (scheme, ip_text if port == default else f"{ip_text}:{port}", parts.path or "/", parts.query, "")
    )
    host_header = host if port == default else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if port == default else f"[{host}]:{port}"
    return pinned, host_header


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class SafeFetcher:
    """``fetch(url)``: one GET through vetted, pinned addresses. Safe to share between tasks."""

    def __init__(
        self,
        *,
        allow_networks: Iterable[Network] = (),
        limits: FetchLimits | None = None,
        resolver: Resolver | None = None,
        user_agent: str = BROWSER_USER_AGENT,
        ssl_context: ssl.SSLContext | None = None,
        own_visit: tuple[str, str] | None = None,
    ) -> None:
        """``own_visit``: (our redirector's host, token): requests to that host carry
        ``X-TAP365-Visit: token`` so the click log can tell our visits from people's; no other
        host ever sees it."""
        self.allow = tuple(allow_networks)
        self.limits = limits or FetchLimits()
        self._resolve = resolver or system_resolver
        self.user_agent = user_agent
        self._own_host, self._own_token = (own_visit[0].lower(), own_visit[1]) if own_visit else ("", "")
        # No keep-alive: a pooled connection is keyed by IP, and must never be reused for
        # another host name (SNI and certificate check belong to one name).
        self._client = httpx.AsyncClient(
            verify=ssl_context or ssl.create_default_context(),
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            timeout=self.limits.timeout_seconds,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def vet(self, url: str) -> tuple[str, str, int, IPAddress]:
        """(scheme, host, port, vetted address) for ``url``; raises FetchBlocked."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise FetchBlocked("bad_url", str(exc)) from exc
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchBlocked("scheme", f"{scheme or 'no'} scheme")
        host = (parts.hostname or "").rstrip(".")
        if not host or parts.username is not None or "\\" in parts.netloc:
            raise FetchBlocked("bad_url", "no usable host")
        port = port or (443 if scheme == "https" else 80)
        literal: IPAddress | None
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = numeric_host(host)
        addresses: list[IPAddress]
        if literal is not None:
            addresses = [literal]
        else:
            try:
                resolved = await self._resolve(host, port)
            except (OSError, UnicodeError) as exc:
                raise FetchError("dns", f"{host}: {exc}") from exc
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolved]
            if not addresses:
                raise FetchError("dns", f"{host}: no address")
        for addr in addresses:  # all must pass: an attacker's DNS can order the answers
            reason = refusal(addr, self.allow)
            if reason:
                raise FetchBlocked("address", f"{host}: {reason}")
        return scheme, host, port, addresses[0]

    async def fetch(
        self, url: str, *, stop_before: Callable[[str], bool] | None = None, language: str | None = None
    ) -> FetchedPage:
        """``language``: the Accept-Language of the person who clicked, when known."""
        try:
            async with asyncio.timeout(self.limits.timeout_seconds):
                return await self._fetch(url, stop_before, accept_language(language))
        except TimeoutError as exc:
            raise FetchError("timeout", f"over {self.limits.timeout_seconds:g} s") from exc

    async def post_json(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> int:
        """POST ``body`` (JSON) to ``url``, vetted and pinned like a fetch; returns the status.

        One hop: a redirect is returned as its status, never followed (a POST must not be steered
        to another host). The response body is read up to the byte cap and dropped. Raises
        :class:`FetchBlocked` or :class:`FetchError` (``timeout`` over the time limit)."""
        try:
            async with asyncio.timeout(self.limits.timeout_seconds):
                response, _addr = await self._send(
                    "POST", url,
                    {"User-Agent": SERVICE_USER_AGENT, **(headers or {}), "Content-Type": "application/json"},
                    body)
                try:
                    try:
                        await self._read(response)
                    except FetchError as exc:
                        if exc.code not in ("encoding", "decode"):
                            raise
                        # The body is dropped anyway: a coding we refuse to decode does not
                        # undo a POST the receiver has answered.
                    return response.status_code
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            raise FetchError("timeout", f"over {self.limits.timeout_seconds:g} s") from exc

    async def _send(self, method: str, url: str, headers: Mapping[str, str],
                    content: bytes | None = None) -> tuple[httpx.Response, IPAddress]:
        """One request to ``url``'s vetted address (pinned: no second DNS answer can steer it),
        streamed, with no cookie kept from it."""
        scheme, host, port, addr = await self.vet(url)
        pinned, host_header = _pinned(url, scheme, host, port, addr)
        own = {OWN_VISIT_HEADER: self._own_token} if self._own_token and host == self._own_host else {}
        request = httpx.Request(
            method,
            pinned,
            content=content,
            headers={"User-Agent": self.user_agent, **headers, "Accept-Encoding": ACCEPT_ENCODING,
                     "Host": host_header, **own},
            extensions={"sni_hostname": host} if scheme == "https" else {},
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise FetchError("connect", f"{host}: {type(exc).__name__}") from exc
        self._client.cookies.clear()  # never carry cookies between hops or requests
        return response, addr

    async def _fetch(
        self, url: str, stop_before: Callable[[str], bool] | None, language: str
    ) -> FetchedPage:
        hops: list[str] = []
        current = url
        headers = {**_GET_HEADERS, "Accept-Language": language}
        while True:
            hops.append(current)
            response, addr = await self._send("GET", current, headers)
            try:
                location = response.headers.get("location")
                if response.status_code in (301, 302, 303, 307, 308) and location:
                    if len(hops) > self.limits.max_redirects:
                        raise FetchError("redirects", f"more than {self.limits.max_redirects} redirects")
                    nxt = urljoin(current, location.strip())
                    if stop_before is not None and stop_before(nxt):
                        return self._page(url, current, response, b"", False, hops, nxt, addr)
                    current = nxt
                    continue
                body, truncated = await self._read(response)
                return self._page(url, current, response, body, truncated, hops, "", addr)
            finally:
                await response.aclose()

    async def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        """The body, decoded, at most ``max_bytes`` of it (``True`` when the limit cut it short).

        Raw bytes are read and decoded here, a bounded step at a time, so that neither the
        decoded size nor the work per network chunk depends on the compression ratio; the raw
        bytes read are capped by the same limit."""
        cap = self.limits.max_bytes
        decoder = _decoder(response.headers)
        chunks: list[bytes] = []
        size = raw = 0
        try:
            async for chunk in response.aiter_raw():
                raw += len(chunk)
                pieces = [chunk] if decoder is None else decoder.feed(chunk, cap + 1 - size)
                for piece in pieces:
                    chunks.append(piece)
                    size += len(piece)
                if size > cap or raw > cap:
                    return b"".join(chunks)[:cap], True
        except httpx.HTTPError as exc:
            raise FetchError("read", type(exc).__name__) from exc
        return b"".join(chunks), False

    @staticmethod
    def _page(
        url: str,
        final: str,
        response: httpx.Response,
        body: bytes,
        truncated: bool,
        hops: list[str],
        stopped: str,
        addr: IPAddress,
    ) -> FetchedPage:
        headers = {k.lower(): v for k, v in response.headers.items()}
        return FetchedPage(
            url=url,
            final_url=final,
            status=response.status_code,
            headers=headers,
            body=body,
            truncated=truncated,
            hops=tuple(hops),
            stopped_at=stopped,
            address=str(addr),
        )
