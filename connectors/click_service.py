"""The click-time redirector, framework-free: ``await ClickService(...).handle(ClickRequest)``.

``function_app.py``'s ``GET /api/r/{*token}`` hands over the path token and the RAW query string
(the signed destination, verbatim). Order of decisions:

1. the link must verify (signature in constant time, known key id, not expired): otherwise an
   error page and never a redirect; the destination must be an absolute http(s) URL that is safe
   to put in a Location header;
2. the per-link rate limit (429);
3. the tenant policy: a destination on the exclusion list redirects without analysis;
4. a signed proceed link (from a warning page) redirects unless the URL is now known bad;
5. threat intelligence as of now (a URL that turned malicious after delivery is blocked);
6. a fresh cached verdict; otherwise time-of-click analysis (bounded in time; on error or timeout
   the policy decides, warn by default). Scanners get static analysis only: no fetch, no cache
   write, no proceed, and a neutral page for single-use links.

Every decision is logged to the click log before the answer goes out. Store calls are synchronous
(in-memory or one Azure Table operation each); the click log write of a store that blocks runs in a
worker thread, so that one click's Table round trip does not stall every other click on the loop.
"""

from __future__ import annotations

import asyncio
import base64
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
from functools import lru_cache
from typing import Literal, Protocol
from urllib.parse import quote, urlsplit

from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.storage.interfaces import ClickLog, ClickRecord, RateLimiter
from tap_core.click.analyze import ClickAnalysis, ClickAnalyzer
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
from tap_core.click.scanner import classify
from tap_core.click.single_use import single_use
from tap_core.model.findings import Verdict
from tap_core.policy import Policy
from tap_core.urls.exclusions import UrlExclusions
from tap_core.urls.heuristics import UrlThresholds
from tap_core.urls.intel import IntelIndex
from tap_core.urls.links import LinkCodec, LinkError, VerifiedLink
from tap_core.urls.normalize import normalize_url

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"1\.[A-Za-z0-9_-]{1,16}\.[A-Za-z0-9_-]{8,2048}\.[A-Za-z0-9_-]{22}")
_PROCEED = re.compile(
    r"go\.(?P<click>[A-Za-z0-9_-]{8,128})\.(?P<exp>[0-9]{1,12})\.(?P<sig>[A-Za-z0-9_-]{22})"
)
# Characters allowed verbatim in a Location header; everything else is %-encoded or refused.
_SAFE_URL_CHARS = "!#$%&'()*+,-./:;=?@[]_~"
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


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
    click_on_error: Literal["warn", "allow", "block"] = "warn"
    click_verdict_ttl_seconds: int = 3600
    click_rate_limit: int = 50
    click_rate_window_seconds: int = 5
    click_proceed_ttl_seconds: int = 300
    #: Link lifetime in days when the tenant policy sets none (0 = never expire).
    link_max_age_days: int = 0


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


# -- verdict cache ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CachedVerdict:
    """A click-time analysis result, thresholded again per tenant when used."""

    score: float
    reasons: tuple[str, ...]
    forced: Verdict | None  # a finding that decides alone (intel, malicious download)
    at: float
    final_url: str = ""

    def verdict(self, thresholds: UrlThresholds) -> Verdict:
        v = (
            Verdict.MALICIOUS
            if self.score >= thresholds.malicious_score
            else Verdict.SUSPICIOUS
            if self.score >= thresholds.suspicious_score
            else Verdict.CLEAN
        )
        return Verdict.worst([v, self.forced]) if self.forced else v


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
@lru_cache(maxsize=50_000)
def safe_location(url: str) -> str | None:
    """``url`` as a Location header value, or None when it must not be redirected to.

    Only absolute http(s) URLs with a host; no control characters, spaces or backslashes
    (browsers read ``\\`` as ``/``); non-ASCII is %-encoded.
    """
    if not url or len(url) > 16_000 or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if not url.lower().startswith(("http://", "https://")) or url[len(parts.scheme) + 3 :][:1] in ("/", ""):
        return None  # "https:///evil" and the like
    if parts.username is not None or parts.password is not None:
        return None  # "https://bank.com@evil.example": a deception, not a destination
    return quote(url, safe=_SAFE_URL_CHARS)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


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
    policy: Policy
    branding: Branding
    is_scanner: bool = False
    signals: tuple[str, ...] = ()


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
    ) -> None:
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
        return _b64(self.codec.keyring.mac(kid, msg)[:16])

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
        branding = policy.branding
        max_days = policy.url.link_max_age_days or self.settings.link_max_age_days
        if max_days and self.clock() - link.context.issued_at > max_days * 86400:
            return _page(error_page(branding, "The link has expired."))
        location = safe_location(link.url)
        if location is None:
            return _page(error_page(branding, "The link's destination is not a web address."))
        link_id = path.rsplit(".", 1)[-1]
        if not self.rate_limiter.hit(
            link_id, self.settings.click_rate_window_seconds, self.settings.click_rate_limit
        ):
            return _page(rate_limited_page(branding, self.settings.click_rate_window_seconds))
        click = _Click(link, path, link_id, link.url, request, _lower(request.headers), policy, branding)
        burst = False
        if link.context.message_ref.strip(b"\0") and self.rate_limiter.hit("seen-" + link_id, 1, 1):
            # A link's first click this second counts towards its message: > 3 links of one
            # message within a second is a scanner walking the message, not a reader.
            burst = not self.rate_limiter.hit("msg-" + link.context.message_ref.hex(), 1, 3)
        signal = classify(
            request.method,
            click.headers,
            issued_at=link.context.issued_at,
            now=self.clock(),
            message_burst=burst,
        )
        click.is_scanner, click.signals = signal.is_scanner, signal.signals

        entries = policy.url.do_not_rewrite
        if entries and _exclusions(tuple(entries)).match(link.url):
            return await self._logged(
                click, _redirect(location), "excluded", "redirect", ("excluded_by_policy",)
            )
        if proceed is not None:
            return await self._proceed(click, proceed, location)
        key = _normalized(link.url)
        intel = self.intel
        hits = intel.match(key) if intel is not None else []
        if hits:
            reasons = tuple(f"intel_{h.category}" for h in hits[:5])
            return await self._decide(click, location, Verdict.MALICIOUS, reasons)
        if click.is_scanner and single_use(key) is not None:
            # Whatever is known about it: a scanner following a one-time link would consume it.
            return await self._logged(
                click, _page(held_page(link.url, branding)), "unknown", "hold", ("single_use_not_followed",)
            )
        thresholds = _thresholds(
            policy.url.thresholds.suspicious_score, policy.url.thresholds.malicious_score
        )
        cached = self.cache.get(key)
        if cached is not None:
            return await self._decide(click, location, cached.verdict(thresholds), cached.reasons)
        if click.is_scanner:  # static evidence only: no fetch, no cache write
            static = await self.analyzer.analyze(
                key,
                intel=intel,
                thresholds=thresholds,
                tenant_domains=policy.internal_domains,
                allow_fetch=False,
            )
            return await self._decide(click, location, static.verdict, tuple(static.reasons))
        analysis = await self._analyze(key, intel, thresholds, policy)
        reasons = tuple(analysis.reasons)
        if analysis.error and analysis.verdict is Verdict.CLEAN:
            return await self._on_error(click, location, (*reasons, f"analysis_{analysis.error}"))
        forced = [f.verdict for f in analysis.findings if f.verdict is not None]
        self.cache.put(
            key,
            CachedVerdict(
                analysis.score,
                reasons,
                Verdict.worst(forced) if forced else None,
                self.clock(),
                analysis.final_url,
            ),
        )
        return await self._decide(click, location, analysis.verdict, reasons)

    async def _analyze(
        self, url: str, intel: IntelIndex | None, thresholds: UrlThresholds, policy: Policy
    ) -> ClickAnalysis:
        try:
            async with asyncio.timeout(self.settings.click_analysis_timeout_seconds):
                return await self.analyzer.analyze(
                    url, intel=intel, thresholds=thresholds, tenant_domains=policy.internal_domains
                )
        except TimeoutError:
            return ClickAnalysis(url=url, verdict=Verdict.CLEAN, score=0.0, error="timeout")

    async def _on_error(self, click: _Click, location: str, reasons: tuple[str, ...]) -> ClickResponse:
        mode = self.settings.click_on_error
        if mode == "allow":
            return await self._logged(click, _redirect(location), "unknown", "redirect", reasons)
        if mode == "block":
            return await self._logged(
                click, _page(unavailable_page(click.url, click.branding)), "unknown", "block", reasons
            )
        return await self._warn(click, "unknown", reasons)

    async def _decide(
        self, click: _Click, location: str, verdict: Verdict, reasons: tuple[str, ...]
    ) -> ClickResponse:
        if verdict is Verdict.MALICIOUS:
            shown = _shown(reasons)
            return await self._logged(
                click, _page(block_page(click.url, shown, click.branding)), verdict.value, "block", reasons
            )
        if verdict is Verdict.SUSPICIOUS:
            return await self._warn(click, verdict.value, reasons)
        return await self._logged(click, _redirect(location), verdict.value, "redirect", reasons)

    async def _warn(self, click: _Click, verdict: str, reasons: tuple[str, ...]) -> ClickResponse:
        record = await self._log(click, verdict, "warn", reasons)
        proceed = ""
        if click.policy.url.allow_click_through and not click.is_scanner:
            click_id = _b64(record.record_id.encode("utf-8"))[:128] if record.record_id else uuid.uuid4().hex
            expires = int(self.clock()) + self.settings.click_proceed_ttl_seconds
            proceed = self.proceed_url(click_id, click.token, click.link.url, click.link.kid, expires)
        return _page(warning_page(click.url, _shown(reasons), click.branding, proceed))

    async def _proceed(self, click: _Click, m: re.Match[str], location: str) -> ClickResponse:
        try:
            expected = self._proceed_sig(
                click.link.kid, m["click"], int(m["exp"]), click.token, click.link.url
            )
        except LinkError:
            return _page(error_page(click.branding))
        if not hmac.compare_digest(expected.encode("ascii"), m["sig"].encode("ascii")):
            return _page(error_page(click.branding))
        if int(m["exp"]) < self.clock():
            return _page(
                error_page(click.branding, "The option to continue has expired; open the link again.")
            )
        if not click.policy.url.allow_click_through or click.is_scanner:
            # Scanners never consume the proceed flow: they see the warning again.
            return await self._warn(click, "suspicious", ("proceed_refused",))
        key = _normalized(click.url)
        intel = self.intel
        if intel is not None and intel.match(key):
            return await self._decide(click, location, Verdict.MALICIOUS, ("intel_after_warning",))
        cached = self.cache.get(key)
        thresholds = _thresholds(
            click.policy.url.thresholds.suspicious_score, click.policy.url.thresholds.malicious_score
        )
        if cached is not None and cached.verdict(thresholds) is Verdict.MALICIOUS:
            return await self._decide(click, location, Verdict.MALICIOUS, cached.reasons)
        return await self._logged(
            click, _redirect(location), "suspicious", "proceed", (f"proceed_click:{m['click']}",)
        )

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

    async def _logged(
        self, click: _Click, response: ClickResponse, verdict: str, decision: str, reasons: tuple[str, ...]
    ) -> ClickResponse:
        await self._log(click, verdict, decision, reasons)
        return response




@lru_cache(maxsize=1024)
def _exclusions(entries: tuple[str, ...]) -> UrlExclusions:
    return UrlExclusions(entries)


@lru_cache(maxsize=50_000)
def _normalized(url: str) -> str:
    norm = normalize_url(url)
    return norm.url if norm is not None else url


@lru_cache(maxsize=256)
def _thresholds(suspicious: float, malicious: float) -> UrlThresholds:
    return UrlThresholds(suspicious_score=suspicious, malicious_score=malicious)


def _shown(reasons: tuple[str, ...]) -> tuple[str, ...]:
    """Reason names as people read them on a page (no internal detail beyond the rule name)."""
    return tuple(r.replace("_", " ") for r in reasons if not r.startswith("single_use"))[:6]


def default_analyzer(settings: ClickSettings) -> ClickAnalyzer:
    """The time-of-click analyzer behind the safe fetcher, configured from ``settings``."""
    from connectors.fetcher import SafeFetcher, parse_networks
    from tap_core.click.fetch import FetchLimits

    limits = FetchLimits(
        max_redirects=settings.scan_max_redirects,
        max_bytes=settings.scan_max_bytes,
        timeout_seconds=settings.click_analysis_timeout_seconds,
    )
    fetcher = SafeFetcher(allow_networks=parse_networks(settings.scan_allow_networks), limits=limits)
    return ClickAnalyzer(fetcher)
