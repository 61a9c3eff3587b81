"""The click decision: what the redirector answers for one verified link, and in which order.

Pure and framework-free: no storage, no HTTP, no keys. The adapter (``connectors.click_service``)
verifies the signed link, then hands over what it knows -- the link's destination and issue
time, the tenant policy, a :class:`ClickGate` for what only it can tell (the per-link rate limit,
the scanner classification), the threat intelligence, the verdict cache (read through
:class:`CachedVerdicts`) and the analyzer -- and renders the :class:`ClickDecision` it gets back.
Order of decisions:

1. the link's age against the policy (expired: an error page);
2. the destination must be safe to put in a Location header (else an error page);
3. the per-link rate limit;
4. the tenant's exclusions: an excluded destination redirects without analysis;
5. a signed proceed link (from a warning page) redirects unless the URL is now known bad;
6. threat intelligence as of now (a URL listed after delivery is blocked);
7. scanners on single-use links get a neutral page, whatever is known of the link;
8. a fresh cached verdict, thresholded with the tenant's thresholds;
9. otherwise time-of-click analysis: static only for scanners (no fetch, nothing cached),
   bounded in time for people; when it cannot complete the policy decides (warn by default);
10. MALICIOUS blocks, SUSPICIOUS warns (with a proceed option when the policy allows it and
    the visitor is not a scanner), CLEAN redirects.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from typing import Literal, Protocol
from urllib.parse import quote, urlsplit

from tap_core.click.analyze import ClickAnalysis
from tap_core.click.scanner import ScannerSignal
from tap_core.click.single_use import single_use
from tap_core.detect.scoring import Thresholds, verdict_for
from tap_core.model.findings import Verdict
from tap_core.urls.exclusions import UrlExclusions
from tap_core.urls.intel import IntelIndex
from tap_core.urls.normalize import normalize_url
from tap_core.urls.policy import UrlPolicy

OnError = Literal["warn", "allow", "block"]
#: What the click log records as the verdict: a Verdict's value, or why there is none.
LoggedVerdict = Literal["clean", "suspicious", "malicious", "unknown", "excluded"]

# Characters allowed verbatim in a Location header; everything else is %-encoded or refused.
_SAFE_URL_CHARS = "!#$%&'()*+,-./:;=?@[]_~"
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
_PERSON = ScannerSignal(False)
_PROCEED_EXPIRED = "The option to continue has expired; open the link again."


class Outcome(StrEnum):
    REDIRECT = "redirect"  # 302 to the destination
    WARN = "warn"  # warning page, with a proceed link when ``offer_proceed``
    BLOCK = "block"  # block page naming the reasons
    UNAVAILABLE = "unavailable"  # not checkable, and the policy blocks then
    HOLD = "hold"  # neutral page: a scanner on a single-use link
    ERROR = "error"  # error page (expired link, destination not a web address, bad proceed link)
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class CachedVerdict:
    """A click-time analysis result, thresholded again per tenant when used (by the one scorer's
    :func:`~tap_core.detect.scoring.verdict_for`)."""

    score: float
    reasons: tuple[str, ...]
    forced: Verdict | None  # a finding that decides alone (intel, malicious download)
    at: float
    final_url: str = ""
    #: The score each verdict sees (groups that may not raise a verdict that far left out);
    #: None: ``score`` for every verdict.
    reach: Mapping[Verdict, float] | None = None

    def verdict(self, thresholds: Thresholds) -> Verdict:
        forced = (self.forced,) if self.forced is not None else ()
        return verdict_for(self.reach or self.score, thresholds, forced)[0]


class CachedVerdicts(Protocol):
    """Where fresh verdicts are read (the adapter's verdict cache)."""

    def get(self, url: str) -> CachedVerdict | None: ...


class Analyzer(Protocol):
    """Time-of-click analysis (:class:`tap_core.click.analyze.ClickAnalyzer`)."""

    async def analyze(
        self,
        url: str,
        *,
        intel: IntelIndex | None = None,
        thresholds: Thresholds | None = None,
        tenant_domains: Sequence[str] = (),
        allow_fetch: bool = True,
        language: str | None = None,
        deadline: float | None = None,
    ) -> ClickAnalysis: ...


class ClickGate(Protocol):
    """What only the adapter can tell about a request; asked once each, in the decision's order
    (an expired link is not counted against the rate limit, a rate-limited one not classified)."""

    def within_rate(self) -> bool:
        """Count this click against its link's limit; False when the limit is reached."""
        ...

    def classify(self) -> ScannerSignal:
        """Is the visitor a link scanner (user agent, HEAD, delivery time, message burst)?"""
        ...


@dataclass(frozen=True, slots=True)
class ProceedClaim:
    """A click on a warning page's proceed link, as the adapter verified it."""

    click_id: str
    expires: int
    signature_ok: bool


# The per-click values below are plain (not frozen) dataclasses: a frozen one costs several
# times more to build, and the redirector builds them on every click. Treat them as values.
@dataclass(slots=True)
class ClickInput:
    """One click on a verified link."""

    url: str  # the signed destination
    issued_at: float  # when the link was made
    policy: UrlPolicy  # the tenant's url: section
    now: float
    proceed: ProceedClaim | None = None
    #: The tenant's own domains (look-alikes of them are flagged).
    tenant_domains: tuple[str, ...] = ()
    #: The Accept-Language of the person who clicked: the page is fetched as their browser would.
    language: str | None = None


@dataclass(slots=True)
class DecisionLimits:
    analysis_timeout_seconds: float = 8.0
    on_error: OnError = "warn"
    #: Link lifetime when the tenant policy sets none (0 = never expire).
    link_max_age_days: int = 0


@dataclass(slots=True)
class ClickDecision:
    outcome: Outcome
    #: The click log's verdict and decision (redirect, proceed, warn, block, hold); an error
    #: or rate-limited answer is not logged (``logged_as`` "").
    verdict: LoggedVerdict = "unknown"
    logged_as: str = ""
    reasons: tuple[str, ...] = ()
    location: str = ""  # for REDIRECT: the Location header value
    offer_proceed: bool = False  # for WARN: sign a proceed link
    message: str = ""  # for ERROR: what the page says ("" the default wording)
    scanner: ScannerSignal = _PERSON
    #: What to cache (a person's completed analysis), under ``cache_key``.
    cache_key: str = ""
    cache: CachedVerdict | None = None


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


@lru_cache(maxsize=1024)
def _exclusions(entries: tuple[str, ...]) -> UrlExclusions:
    return UrlExclusions(entries)


@lru_cache(maxsize=50_000)
def normalized(url: str) -> str:
    """The key a URL is cached and looked up under."""
    norm = normalize_url(url)
    return norm.url if norm is not None else url


@dataclass(slots=True)
class _Click:
    policy: UrlPolicy
    location: str
    scanner: ScannerSignal

    def by_verdict(self, verdict: Verdict, reasons: tuple[str, ...]) -> ClickDecision:
        if verdict is Verdict.MALICIOUS:
            return ClickDecision(Outcome.BLOCK, "malicious", "block", reasons, scanner=self.scanner)
        if verdict is Verdict.SUSPICIOUS:
            return self.warn("suspicious", reasons)
        return self.redirect("clean", reasons)

    def warn(self, verdict: LoggedVerdict, reasons: tuple[str, ...]) -> ClickDecision:
        offer = self.policy.allow_click_through and not self.scanner.is_scanner
        return ClickDecision(
            Outcome.WARN, verdict, "warn", reasons, offer_proceed=offer, scanner=self.scanner
        )

    def redirect(
        self, verdict: LoggedVerdict, reasons: tuple[str, ...], as_: str = "redirect"
    ) -> ClickDecision:
        return ClickDecision(Outcome.REDIRECT, verdict, as_, reasons, self.location, scanner=self.scanner)


async def decide_click(
    click: ClickInput,
    *,
    gate: ClickGate,
    intel: IntelIndex | None,
    cache: CachedVerdicts,
    analyzer: Analyzer,
    limits: DecisionLimits,
) -> ClickDecision:
    """What to answer for ``click``, in the order of the module's docstring."""
    policy = click.policy
    max_days = policy.link_max_age_days or limits.link_max_age_days
    if max_days and click.now - click.issued_at > max_days * 86400:
        return ClickDecision(Outcome.ERROR, message="The link has expired.")
    location = safe_location(click.url)
    if location is None:
        return ClickDecision(Outcome.ERROR, message="The link's destination is not a web address.")
    if not gate.within_rate():
        return ClickDecision(Outcome.RATE_LIMITED)
    at = _Click(policy, location, gate.classify())
    entries = policy.do_not_rewrite
    if entries and _exclusions(tuple(entries)).match(click.url):
        return at.redirect("excluded", ("excluded_by_policy",))
    if click.proceed is not None:
        return _proceed(at, click, click.proceed, intel, cache)
    key = normalized(click.url)
    hits = intel.match(key) if intel is not None else []
    if hits:
        return at.by_verdict(Verdict.MALICIOUS, tuple(f"intel_{h.category}" for h in hits[:5]))
    if at.scanner.is_scanner and single_use(key) is not None:
        # Whatever is known about it: a scanner following a one-time link would consume it.
        return ClickDecision(
            Outcome.HOLD,
            "unknown",
            "hold",
            ("single_use_not_followed",),
            scanner=at.scanner,
        )
    thresholds = policy.thresholds
    cached = cache.get(key)
    if cached is not None:
        return at.by_verdict(cached.verdict(thresholds), cached.reasons)
    domains = click.tenant_domains
    if at.scanner.is_scanner:  # static evidence only: no fetch, no cache write
        static = await analyzer.analyze(
            key, intel=intel, thresholds=thresholds, tenant_domains=domains, allow_fetch=False
        )
        return at.by_verdict(static.verdict, tuple(static.reasons))
    try:
        async with asyncio.timeout(limits.analysis_timeout_seconds) as budget:
            # The deadline lets a render fit in what is left of the budget (or not start).
            analysis = await analyzer.analyze(
                key, intel=intel, thresholds=thresholds, tenant_domains=domains, language=click.language,
                deadline=budget.when(),
            )
    except TimeoutError:
        analysis = ClickAnalysis(url=key, verdict=Verdict.CLEAN, score=0.0, error="timeout")
    reasons = tuple(analysis.reasons)
    if analysis.error and analysis.verdict is Verdict.CLEAN:
        return _on_error(at, limits.on_error, (*reasons, f"analysis_{analysis.error}"))
    entry = CachedVerdict(
        analysis.score, reasons, analysis.forced, click.now, analysis.final_url, dict(analysis.reach) or None
    )
    return replace(at.by_verdict(analysis.verdict, reasons), cache_key=key, cache=entry)


def _on_error(at: _Click, mode: OnError, reasons: tuple[str, ...]) -> ClickDecision:
    """Analysis could not complete (timeout, fetch refused or failed) and found nothing."""
    if mode == "allow":
        return at.redirect("unknown", reasons)
    if mode == "block":
        return ClickDecision(Outcome.UNAVAILABLE, "unknown", "block", reasons, scanner=at.scanner)
    return at.warn("unknown", reasons)


def _proceed(
    at: _Click, click: ClickInput, claim: ProceedClaim, intel: IntelIndex | None, cache: CachedVerdicts
) -> ClickDecision:
    if not claim.signature_ok:
        return ClickDecision(Outcome.ERROR)
    if claim.expires < click.now:
        return ClickDecision(Outcome.ERROR, message=_PROCEED_EXPIRED)
    if not at.policy.allow_click_through or at.scanner.is_scanner:
        # Scanners never consume the proceed flow: they see the warning again.
        return at.warn("suspicious", ("proceed_refused",))
    key = normalized(click.url)
    if intel is not None and intel.match(key):
        return at.by_verdict(Verdict.MALICIOUS, ("intel_after_warning",))
    cached = cache.get(key)
    if cached is not None and cached.verdict(at.policy.thresholds) is Verdict.MALICIOUS:
        return at.by_verdict(Verdict.MALICIOUS, cached.reasons)
    return at.redirect("suspicious", (f"proceed_click:{claim.click_id}",), "proceed")
