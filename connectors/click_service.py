"""The click-time redirector, framework-free: ``await ClickService(...).handle(ClickRequest)``.

``function_app.py``'s ``GET /api/r/{*token}`` hands over the path token and the RAW query string
(the signed destination, verbatim). This module adapts HTTP, settings and storage to the click
decision of :mod:`tap_core.click.decide` (which holds the order of decisions): it verifies the
link (signature in constant time, known key id: otherwise an error page and never a redirect)
and a proceed link's signature, counts clicks against the rate limiter, classifies scanners,
reads and writes the verdict cache, renders the decision's page and logs the click.

Every decision is logged to the click log before the answer goes out. Store calls are synchronous
(in-memory or one Azure Table operation each); the click log write of a store that blocks runs in a
worker thread, so that one click's Table round trip does not stall every other click on the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.storage.interfaces import ClickLog, ClickRecord, RateLimiter
from tap_core.click.analyze import ClickAnalyzer
from tap_core.click.decide import (
    CachedVerdict,
    ClickDecision,
    ClickInput,
    DecisionLimits,
    OnError,
    Outcome,
    ProceedClaim,
    decide_click,
)
from tap_core.click.pages import (
    Branding,
    RenderedPage,
    block_page,
    error_page,
    held_page,
    rate_limited_page,
    unavailable_page,
    warning_page,
)
from tap_core.click.scanner import ScannerSignal, classify
from tap_core.policy import Policy
from tap_core.urls.intel import IntelIndex
from tap_core.urls.links import LinkCodec, LinkError, VerifiedLink, b64url_encode

if TYPE_CHECKING:
    from connectors.fetcher import SafeFetcher
    from connectors.renderer import ChromiumRenderer
    from tap_core.attachments.engine import AttachmentEngine

__all__ = [
    "CachedVerdict",
    "ClickRequest",
    "ClickResponse",
    "ClickService",
    "ClickSettings",
    "MemoryClickLog",
    "MemoryRateLimiter",
    "MemoryVerdictCache",
    "VerdictCache",
    "chromium_renderer",
    "default_analyzer",
    "own_visit_token",
    "safe_fetcher",
]

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"1\.[A-Za-z0-9_-]{1,16}\.[A-Za-z0-9_-]{8,2048}\.[A-Za-z0-9_-]{22}")
_PROCEED = re.compile(
    r"go\.(?P<click>[A-Za-z0-9_-]{8,128})\.(?P<exp>[0-9]{1,12})\.(?P<sig>[A-Za-z0-9_-]{22})"
)


class ClickSettings(BaseSettings):
    """Settings of the redirector and the click-time scanner (``TAP365_`` environment names)."""

    model_config = SettingsConfigDict(env_prefix="TAP365_", extra="ignore")

    #: Networks the scanner may fetch from although they are not public (comma-separated CIDRs).
    scan_allow_networks: str = ""
    scan_max_bytes: int = 2 * 1024 * 1024
    scan_max_redirects: int = 5
    #: Time budget of one time-of-click analysis (fetch and page analysis).
    click_analysis_timeout_seconds: float = 8.0
    #: When analysis fails or times out: warn (warning page), allow (redirect) or block.
    click_on_error: OnError = "warn"
    click_verdict_ttl_seconds: int = 3600
    click_rate_limit: int = 50
    click_rate_window_seconds: int = 5
    click_proceed_ttl_seconds: int = 300
    #: Link lifetime in days when the tenant policy sets none (0 = never expire).
    link_max_age_days: int = 0
    #: Render pages whose content their scripts build, in headless Chromium when it is found
    #: (without it such pages are judged on their HTML, with page_not_rendered).
    click_render: bool = True
    #: The Chromium executable ("": the first of chromium, chromium-browser, google-chrome on PATH).
    chromium_path: str = ""
    #: Longest render; it also ends a margin before the click analysis timeout.
    click_render_timeout_seconds: float = Field(default=5.0, gt=0)
    #: Requests a rendered page may make (beyond its document), and bytes they may bring.
    click_render_max_requests: int = Field(default=50, ge=0)
    click_render_max_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    #: Renders at once per process (each is a browser tab); the others wait within their budget.
    click_render_concurrency: int = Field(default=2, ge=1)


@dataclass(frozen=True, slots=True)
class ClickRequest:
    method: str
    path_token: str  # what follows /api/r/ (no query)
    raw_query: str  # the raw query string: the destination, verbatim
    headers: Mapping[str, str]
    client_ip: str = ""


@dataclass(frozen=True, slots=True)
class ClickResponse:
    status: int
    headers: dict[str, str]
    body: bytes = field(default=b"", repr=False)


# -- verdict cache (entries: tap_core.click.decide.CachedVerdict) ---------------------------------
class VerdictCache(Protocol):
    def get(self, url: str) -> CachedVerdict | None: ...

    def put(self, url: str, verdict: CachedVerdict) -> None: ...


class MemoryVerdictCache:
    """Per-process LRU cache; entries older than ``ttl_seconds`` are not fresh."""

    def __init__(self, ttl_seconds: float = 3600, max_entries: int = 100_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._data: OrderedDict[str, CachedVerdict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> CachedVerdict | None:
        with self._lock:
            item = self._data.get(url)
            if item is None:
                return None
            if time.time() - item.at > self.ttl:
                del self._data[url]
                return None
            self._data.move_to_end(url)
            return item

    def put(self, url: str, verdict: CachedVerdict) -> None:
        with self._lock:
            self._data[url] = verdict
            self._data.move_to_end(url)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)


class MemoryClickLog:
    """In-process click log (CLI, benchmarks); the service uses ``TableClickLog``."""

    #: Appends without I/O: the service calls it inline rather than from a worker thread.
    blocking = False

    def __init__(self) -> None:
        self.records: list[ClickRecord] = []

    def append(self, record: ClickRecord) -> ClickRecord:
        self.records.append(record)  # ids are list positions; the record keeps record_id ""
        return record

    def list_clicks(self, tenant_id: str, since: datetime, limit: int = 100) -> list[ClickRecord]:
        return [r for r in reversed(self.records) if r.tenant_id == tenant_id and r.at >= since][:limit]


class MemoryRateLimiter:
    """Fixed-window counter per key, in process."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, link_id: str, window_seconds: int, limit: int) -> bool:
        window = int(time.time()) // window_seconds
        with self._lock:
            start, count = self._windows.get(link_id, (window, 0))
            if start != window:
                count = 0
            if count >= limit:
                return False
            self._windows[link_id] = (window, count + 1)
            if len(self._windows) > 200_000:  # bound memory under a flood of distinct links
                self._windows.clear()
            return True


# -- helpers ------------------------------------------------------------------------------------
def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _page(page: RenderedPage) -> ClickResponse:
    return ClickResponse(page.status, dict(page.headers), page.body)


def _redirect(location: str) -> ClickResponse:
    return ClickResponse(
        302,
        {
            "Location": location,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "Content-Length": "0",
        },
    )


@dataclass(slots=True)
class _Click:
    """One request in progress: what the log record will say."""

    link: VerifiedLink
    token: str
    link_id: str
    url: str
    request: ClickRequest
    headers: dict[str, str]
    branding: Branding
    is_scanner: bool = False
    signals: tuple[str, ...] = ()


class _Gate:
    """The decision's questions to storage: the per-link rate limit, then the scanner
    classification (a message's links clicked in a burst are counted in the rate limiter)."""

    __slots__ = ("click", "clock", "limiter", "own_visit_token", "settings")

    def __init__(
        self, click: _Click, limiter: RateLimiter, settings: ClickSettings, clock: Callable[[], float],
        own_visit_token: str = "",
    ) -> None:
        self.click, self.limiter, self.settings, self.clock = click, limiter, settings, clock
        self.own_visit_token = own_visit_token

    def within_rate(self) -> bool:
        s = self.settings
        return self.limiter.hit(self.click.link_id, s.click_rate_window_seconds, s.click_rate_limit)

    def classify(self) -> ScannerSignal:
        click, context = self.click, self.click.link.context
        marker = click.headers.get("x-tap365-visit", "")
        if self.own_visit_token and marker and hmac.compare_digest(marker, self.own_visit_token):
            return ScannerSignal(True, ("tap365_own_visit",))  # our fetcher following our own link
        burst = False
        if context.message_ref.strip(b"\0") and self.limiter.hit("seen-" + click.link_id, 1, 1):
            # A link's first click this second counts towards its message: > 3 links of one
            # message within a second is a scanner walking the message, not a reader.
            burst = not self.limiter.hit("msg-" + context.message_ref.hex(), 1, 3)
        return classify(
            click.request.method,
            click.headers,
            issued_at=context.issued_at,
            now=self.clock(),
            message_burst=burst,
        )


class ClickService:
    def __init__(
        self,
        codec: LinkCodec,
        policy_lookup: Callable[[str], Policy],
        verdict_cache: VerdictCache,
        intel: IntelIndex | Callable[[], IntelIndex | None] | None,  # None: no intelligence loaded
        analyzer: ClickAnalyzer,
        click_log: ClickLog,
        rate_limiter: RateLimiter,
        settings: ClickSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        own_visit_token: str = "",
    ) -> None:
        """``own_visit_token``: what our own fetcher sends in ``X-TAP365-Visit`` to this redirector
        (:func:`own_visit_token`); a visit carrying it is logged as ours (a scanner), not a person's."""
        self.own_visit_token = own_visit_token
        self.codec = codec
        self.policy_lookup = policy_lookup
        self.cache = verdict_cache
        self._intel = intel
        self.analyzer = analyzer
        self.click_log = click_log
        self.rate_limiter = rate_limiter
        self.settings = settings or ClickSettings()
        self.clock = clock
        self._verified: dict[tuple[str, str], VerifiedLink] = {}
        self._limits: tuple[ClickSettings, DecisionLimits] | None = None

    # -- public --------------------------------------------------------------------------------
    async def handle(self, request: ClickRequest) -> ClickResponse:
        try:
            return await self._handle(request)
        except Exception:  # never a stack trace, never a redirect on an unexpected error
            log.exception("click redirector failed")
            return _page(error_page(reason="An internal error occurred."))

    def proceed_url(self, click_id: str, token: str, destination: str, kid: str, expires: int) -> str:
        sig = self._proceed_sig(kid, click_id, expires, token, destination)
        return f"{self.codec.base_url}/go.{click_id}.{expires}.{sig}/{token}?{destination}"

    # -- internals -----------------------------------------------------------------------------
    @property
    def intel(self) -> IntelIndex | None:
        return self._intel() if callable(self._intel) else self._intel

    def _verify(self, token: str, raw_query: str) -> VerifiedLink | None:
        """Verify a link; results are remembered per exact (token, query) for repeat clicks.

        Safe to reuse: the same bytes always verify the same way while their key is in the
        keyring, and a key removed from the keyring is checked on every use.
        """
        cache_key = (token, raw_query)
        link = self._verified.get(cache_key)
        if link is not None:
            return link if self.codec.keyring.key(link.kid) is not None else None
        try:
            link = self.codec.verify(f"{token}?{raw_query}")
        except LinkError:
            return None
        if len(self._verified) >= 50_000:
            self._verified.clear()
        self._verified[cache_key] = link
        return link

    def _proceed_sig(self, kid: str, click_id: str, expires: int, token: str, destination: str) -> str:
        if self.codec.keyring.key(kid) is None:
            raise LinkError("unknown key")
        msg = "\0".join(("proceed", kid, click_id, str(expires), token, destination)).encode("utf-8")
        return b64url_encode(self.codec.keyring.mac(kid, msg)[:16])

    async def _handle(self, request: ClickRequest) -> ClickResponse:
        if request.method.upper() not in ("GET", "HEAD"):
            return ClickResponse(405, {"Allow": "GET, HEAD", "Cache-Control": "no-store"})
        path = request.path_token.strip("/")
        proceed: re.Match[str] | None = None
        if "/" in path:
            head, _, path = path.partition("/")
            proceed = _PROCEED.fullmatch(head)
            if proceed is None:
                return _page(error_page())
        if not _TOKEN.fullmatch(path):
            return _page(error_page())
        link = self._verify(path, request.raw_query)
        if link is None:
            return _page(error_page())
        policy = self.policy_lookup(link.context.tenant_id)
        link_id = path.rsplit(".", 1)[-1]
        click = _Click(link, path, link_id, link.url, request, _lower(request.headers), policy.branding)
        settings = self.settings
        decision = await decide_click(
            ClickInput(
                link.url,
                link.context.issued_at,
                policy.url,
                self.clock(),
                self._proceed_claim(proceed, link, path) if proceed is not None else None,
                tuple(policy.internal_domains),
                click.headers.get("accept-language"),
            ),
            gate=_Gate(click, self.rate_limiter, settings, self.clock, self.own_visit_token),
            intel=self.intel,
            cache=self.cache,
            analyzer=self.analyzer,
            limits=self._decision_limits(settings),
        )
        if decision.cache is not None:
            self.cache.put(decision.cache_key, decision.cache)
        return await self._answer(click, decision)

    def _decision_limits(self, settings: ClickSettings) -> DecisionLimits:
        """The settings the decision reads (rebuilt when ``settings`` is replaced)."""
        if self._limits is None or self._limits[0] is not settings:
            limits = DecisionLimits(
                settings.click_analysis_timeout_seconds, settings.click_on_error, settings.link_max_age_days
            )
            self._limits = (settings, limits)
        return self._limits[1]

    def _proceed_claim(self, m: re.Match[str], link: VerifiedLink, token: str) -> ProceedClaim:
        """A proceed link's claim, its signature checked (constant time) for the decision."""
        try:
            expected = self._proceed_sig(link.kid, m["click"], int(m["exp"]), token, link.url)
        except LinkError:
            ok = False
        else:
            ok = hmac.compare_digest(expected.encode("ascii"), m["sig"].encode("ascii"))
        return ProceedClaim(m["click"], int(m["exp"]), ok)

    async def _answer(self, click: _Click, d: ClickDecision) -> ClickResponse:
        """The decision as a response, logged first (but for errors and rate limiting)."""
        branding = click.branding
        click.is_scanner, click.signals = d.scanner.is_scanner, d.scanner.signals
        match d.outcome:
            case Outcome.ERROR:
                return _page(error_page(branding, d.message))
            case Outcome.RATE_LIMITED:
                return _page(rate_limited_page(branding, self.settings.click_rate_window_seconds))
            case Outcome.REDIRECT:
                response = _redirect(d.location)
            case Outcome.BLOCK:
                response = _page(block_page(click.url, _shown(d.reasons), branding))
            case Outcome.UNAVAILABLE:
                response = _page(unavailable_page(click.url, branding))
            case Outcome.HOLD:
                response = _page(held_page(click.url, branding))
            case Outcome.WARN:
                record = await self._log(click, d.verdict, d.logged_as, d.reasons)
                proceed = self._offer(click, record) if d.offer_proceed else ""
                return _page(warning_page(click.url, _shown(d.reasons), branding, proceed))
        await self._log(click, d.verdict, d.logged_as, d.reasons)
        return response

    def _offer(self, click: _Click, record: ClickRecord) -> str:
        """A signed, short-lived proceed link for a warning page."""
        record_id = record.record_id
        click_id = b64url_encode(record_id.encode("utf-8"))[:128] if record_id else uuid.uuid4().hex
        expires = int(self.clock()) + self.settings.click_proceed_ttl_seconds
        return self.proceed_url(click_id, click.token, click.link.url, click.link.kid, expires)

    async def _log(self, click: _Click, verdict: str, decision: str, reasons: tuple[str, ...]) -> ClickRecord:
        context = click.link.context
        # Positional (the field order of ClickRecord): keyword construction of this frozen
        # 12-field record was a visible share of a cached-verdict click.
        record = ClickRecord(
            context.tenant_id,
            context.recipient,
            click.url,
            verdict,
            decision,
            datetime.fromtimestamp(self.clock(), UTC),
            tuple(reasons) + click.signals,
            click.headers.get("user-agent", "")[:1000],
            click.request.client_ip,
            click.is_scanner,
            click.link_id,
        )
        try:
            if getattr(self.click_log, "blocking", True):
                return await asyncio.to_thread(self.click_log.append, record)
            return self.click_log.append(record)
        except Exception:  # the user still gets the page; the failure is logged for the operator
            log.exception("click log append failed")
            return record


def _shown(reasons: tuple[str, ...]) -> tuple[str, ...]:
    """Reason names as people read them on a page (no internal detail beyond the rule name)."""
    return tuple(r.replace("_", " ") for r in reasons if not r.startswith("single_use"))[:6]


def own_visit_token(codec: LinkCodec) -> str:
    """The token our fetcher shows our own redirector (derived from the link-signing key, so
    every instance of a deployment agrees and nobody else can forge it)."""
    key = codec.keyring.key(codec.keyring.current) or b""
    return hmac.new(key, b"tap365 own visit", hashlib.sha256).hexdigest()[:32]


def safe_fetcher(settings: ClickSettings, own_visit: tuple[str, str] | None = None) -> SafeFetcher:
    """The safe fetcher of time-of-click analysis, configured from ``settings``; ``own_visit``:
    (our redirector's host, :func:`own_visit_token`)."""
    from connectors.fetcher import SafeFetcher, parse_networks
    from tap_core.click.fetch import FetchLimits

    limits = FetchLimits(
        max_redirects=settings.scan_max_redirects,
        max_bytes=settings.scan_max_bytes,
        timeout_seconds=settings.click_analysis_timeout_seconds,
    )
    return SafeFetcher(allow_networks=parse_networks(settings.scan_allow_networks), limits=limits,
                       own_visit=own_visit)


def default_analyzer(
    settings: ClickSettings, engine: AttachmentEngine | None = None, own_visit: tuple[str, str] | None = None
) -> ClickAnalyzer:
    """The time-of-click analyzer behind the safe fetcher, configured from ``settings``;
    ``engine``: the mail pipeline's attachment engine (its hash sets, rules, antivirus and limits),
    so that a download is judged as the same file attached to a mail. Pages their scripts build
    are rendered in Chromium when ``click_render`` is on and Chromium is found."""
    fetcher = safe_fetcher(settings, own_visit)
    return ClickAnalyzer(
        fetcher,
        engine=engine,
        renderer=chromium_renderer(settings, fetcher),
        render_timeout_seconds=settings.click_render_timeout_seconds,
    )


def chromium_renderer(settings: ClickSettings, fetcher: SafeFetcher) -> ChromiumRenderer | None:
    """The renderer of time-of-click analysis, its requests through ``fetcher``; None when
    rendering is off or no Chromium is found (pages are then judged on their HTML)."""
    from connectors.renderer import ChromiumRenderer, find_chromium

    if not settings.click_render:
        return None
    if find_chromium(settings.chromium_path) is None:
        where = settings.chromium_path or "chromium, chromium-browser or google-chrome on PATH"
        log.warning("click-time rendering is on but no Chromium was found (%s): pages are read as HTML",
                    where)
        return None
    return ChromiumRenderer(
        fetcher,
        path=settings.chromium_path,
        max_requests=settings.click_render_max_requests,
        max_bytes=settings.click_render_max_bytes,
        concurrency=settings.click_render_concurrency,
    )
