"""The click decision, through its public function: order of decisions, scanners, single-use
links, proceed links and the on-error policy, with fakes for the gate, cache and analyzer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from tap_core.click.analyze import ClickAnalysis
from tap_core.click.decide import (
    CachedVerdict,
    ClickDecision,
    ClickInput,
    DecisionLimits,
    Outcome,
    ProceedClaim,
    decide_click,
    normalized,
)
from tap_core.click.scanner import ScannerSignal
from tap_core.detect.scoring import Thresholds
from tap_core.model.findings import Verdict
from tap_core.policy import Policy, UrlPolicy
from tap_core.urls.feeds import parse_feed
from tap_core.urls.intel import IntelIndex

URL = "https://shop.example.org/offers/today"
RESET = "https://accounts.example.org/reset-password?token=1"
NOW = 1_800_000_000.0
PERSON = ScannerSignal(False)
SCANNER = ScannerSignal(True, ("scanner_user_agent",))


@dataclass
class Gate:
    allow: bool = True
    signal: ScannerSignal = PERSON
    asked: list[str] = field(default_factory=list)

    def within_rate(self) -> bool:
        self.asked.append("rate")
        return self.allow

    def classify(self) -> ScannerSignal:
        self.asked.append("classify")
        return self.signal


@dataclass
class Cache:
    entries: dict[str, CachedVerdict] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def get(self, url: str) -> CachedVerdict | None:
        self.asked.append(url)
        return self.entries.get(url)


@dataclass
class Analyzer:
    verdict: Verdict = Verdict.CLEAN
    error: str = ""
    delay: float = 0.0
    calls: list[tuple[str, bool]] = field(default_factory=list)

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
    ) -> ClickAnalysis:
        self.calls.append((url, allow_fetch))
        if self.delay:
            await asyncio.sleep(self.delay)
        score = {Verdict.CLEAN: 0.0, Verdict.SUSPICIOUS: 6.0, Verdict.MALICIOUS: 12.0}[self.verdict]
        return ClickAnalysis(
            url=url, verdict=self.verdict, score=score, final_url=url, fetched=allow_fetch, error=self.error
        )

    @property
    def fetched(self) -> bool:
        return any(allow for _, allow in self.calls)


def _intel(*urls: str) -> IntelIndex:
    index = IntelIndex()
    if urls:
        index.add_feed(parse_feed("\n".join(urls).encode(), name="t", category="phishing"))
    return index


def _decide(
    url: str = URL,
    *,
    policy: Policy | None = None,
    gate: Gate | None = None,
    intel: IntelIndex | None = None,
    cache: Cache | None = None,
    analyzer: Analyzer | None = None,
    limits: DecisionLimits | None = None,
    proceed: ProceedClaim | None = None,
    issued_at: float = NOW - 3600,
) -> ClickDecision:
    return asyncio.run(
        decide_click(
            ClickInput(url, issued_at, (policy or Policy()).url, NOW, proceed, tuple((policy or Policy()).internal_domains)),
            gate=gate or Gate(),
            intel=intel,
            cache=cache or Cache(),
            analyzer=analyzer or Analyzer(),
            limits=limits or DecisionLimits(analysis_timeout_seconds=1.0),
        )
    )


def _cached(verdict: Verdict, reasons: tuple[str, ...] = ("cached",)) -> CachedVerdict:
    score = {Verdict.CLEAN: 0.0, Verdict.SUSPICIOUS: 6.0, Verdict.MALICIOUS: 12.0}[verdict]
    return CachedVerdict(score, reasons, None, NOW - 10)


def test_clean_analysis_redirects_and_is_cached() -> None:
    analyzer = Analyzer()
    d = _decide(analyzer=analyzer)
    assert (d.outcome, d.verdict, d.logged_as, d.location) == (Outcome.REDIRECT, "clean", "redirect", URL)
    assert analyzer.calls == [(normalized(URL), True)]
    assert d.cache is not None and d.cache_key == normalized(URL) and d.cache.at == NOW


@pytest.mark.parametrize(
    ("verdict", "outcome"),
    [(Verdict.SUSPICIOUS, Outcome.WARN), (Verdict.MALICIOUS, Outcome.BLOCK)],
)
def test_verdicts_warn_or_block(verdict: Verdict, outcome: Outcome) -> None:
    d = _decide(analyzer=Analyzer(verdict))
    assert d.outcome is outcome and d.verdict == verdict.value
    assert d.offer_proceed is (outcome is Outcome.WARN)


def test_expiry_and_bad_destination_come_before_the_rate_limit() -> None:
    gate = Gate(allow=False)
    policy = Policy(url=UrlPolicy(link_max_age_days=1))
    d = _decide(policy=policy, gate=gate, issued_at=NOW - 2 * 86400)
    assert d.outcome is Outcome.ERROR and "expired" in d.message and gate.asked == []
    d = _decide("https://bank.example@evil.example/", gate=gate)
    assert d.outcome is Outcome.ERROR and "not a web address" in d.message and gate.asked == []
    d = _decide(limits=DecisionLimits(link_max_age_days=1), issued_at=NOW - 2 * 86400)
    assert d.outcome is Outcome.ERROR  # the settings' lifetime when the policy sets none


def test_rate_limit_before_classification() -> None:
    gate = Gate(allow=False)
    analyzer = Analyzer()
    d = _decide(gate=gate, analyzer=analyzer)
    assert d.outcome is Outcome.RATE_LIMITED and d.logged_as == ""
    assert gate.asked == ["rate"] and not analyzer.calls


def test_exclusion_before_intel() -> None:
    policy = Policy(url=UrlPolicy(do_not_rewrite=["shop.example.org/*"]))
    analyzer, cache = Analyzer(), Cache()
    d = _decide(policy=policy, intel=_intel(URL), analyzer=analyzer, cache=cache)
    assert (d.outcome, d.verdict, d.reasons) == (Outcome.REDIRECT, "excluded", ("excluded_by_policy",))
    assert not analyzer.calls and not cache.asked


def test_intel_before_cache() -> None:
    cache = Cache({normalized(URL): _cached(Verdict.CLEAN)})
    analyzer = Analyzer()
    d = _decide(intel=_intel(URL), cache=cache, analyzer=analyzer)
    assert d.outcome is Outcome.BLOCK and d.reasons == ("intel_phishing",)
    assert not cache.asked and not analyzer.calls


def test_cached_verdict_is_rethresholded_per_tenant_and_not_analysed() -> None:
    cache = Cache({normalized(URL): _cached(Verdict.SUSPICIOUS)})
    analyzer = Analyzer()
    assert _decide(cache=cache, analyzer=analyzer).outcome is Outcome.WARN
    strict = Policy(url=UrlPolicy(thresholds=Thresholds(suspicious=3.0, malicious=5.0)))
    d = _decide(policy=strict, cache=cache, analyzer=analyzer)
    assert d.outcome is Outcome.BLOCK and d.reasons == ("cached",) and d.cache is None
    assert not analyzer.calls


def test_cached_reach_keeps_capped_groups_below_malicious() -> None:
    entry = CachedVerdict(11.0, ("x",), None, NOW, reach={Verdict.SUSPICIOUS: 11.0, Verdict.MALICIOUS: 6.0})
    assert entry.verdict(Thresholds(suspicious=5.0, malicious=9.0)) is Verdict.SUSPICIOUS
    forced = CachedVerdict(0.0, ("intel_x",), Verdict.MALICIOUS, NOW)
    assert forced.verdict(Thresholds(suspicious=5.0, malicious=9.0)) is Verdict.MALICIOUS


def test_scanner_visits_never_fetch_nor_cache() -> None:
    analyzer = Analyzer(Verdict.SUSPICIOUS)
    d = _decide(gate=Gate(signal=SCANNER), analyzer=analyzer)
    assert analyzer.calls == [(normalized(URL), False)] and not analyzer.fetched
    assert d.outcome is Outcome.WARN and not d.offer_proceed and d.cache is None
    assert d.scanner == SCANNER


def test_single_use_links_are_held_for_scanners_and_never_analysed_by_them() -> None:
    analyzer, cache = Analyzer(), Cache({normalized(RESET): _cached(Verdict.CLEAN)})
    d = _decide(RESET, gate=Gate(signal=SCANNER), analyzer=analyzer, cache=cache)
    assert (d.outcome, d.verdict, d.reasons) == (Outcome.HOLD, "unknown", ("single_use_not_followed",))
    assert not analyzer.calls and not cache.asked
    # A person's click on it is decided (the analyzer does not fetch single-use links itself).
    assert _decide(RESET, analyzer=analyzer).outcome is Outcome.REDIRECT


def test_intel_beats_single_use_hold() -> None:
    d = _decide(RESET, gate=Gate(signal=SCANNER), intel=_intel(RESET))
    assert d.outcome is Outcome.BLOCK


def test_proceed_is_refused_when_intel_now_lists_the_url() -> None:
    claim = ProceedClaim("c1", int(NOW) + 60, True)
    d = _decide(proceed=claim, intel=_intel(URL))
    assert (d.outcome, d.reasons) == (Outcome.BLOCK, ("intel_after_warning",))
    d = _decide(proceed=claim, cache=Cache({normalized(URL): _cached(Verdict.MALICIOUS, ("kit",))}))
    assert (d.outcome, d.reasons) == (Outcome.BLOCK, ("kit",))
    d = _decide(proceed=claim, cache=Cache({normalized(URL): _cached(Verdict.SUSPICIOUS)}))
    assert (d.outcome, d.verdict, d.logged_as) == (Outcome.REDIRECT, "suspicious", "proceed")
    assert d.reasons == ("proceed_click:c1",)


def test_proceed_claims_checked_in_order() -> None:
    analyzer = Analyzer()
    assert (
        _decide(proceed=ProceedClaim("c", int(NOW) + 60, False), analyzer=analyzer).outcome is Outcome.ERROR
    )
    expired = _decide(proceed=ProceedClaim("c", int(NOW) - 1, True))
    assert expired.outcome is Outcome.ERROR and "expired" in expired.message
    scanner = _decide(proceed=ProceedClaim("c", int(NOW) + 60, True), gate=Gate(signal=SCANNER))
    assert (scanner.outcome, scanner.reasons, scanner.offer_proceed) == (
        Outcome.WARN,
        ("proceed_refused",),
        False,
    )
    closed = Policy(url=UrlPolicy(allow_click_through=False))
    assert _decide(proceed=ProceedClaim("c", int(NOW) + 60, True), policy=closed).outcome is Outcome.WARN
    assert not analyzer.calls  # a proceed link is never analysed again


@pytest.mark.parametrize(
    ("mode", "outcome", "logged_as"),
    [
        ("warn", Outcome.WARN, "warn"),
        ("allow", Outcome.REDIRECT, "redirect"),
        ("block", Outcome.UNAVAILABLE, "block"),
    ],
)
def test_on_error_policy(mode: str, outcome: Outcome, logged_as: str) -> None:
    limits = DecisionLimits(analysis_timeout_seconds=0.05, on_error=mode)  # type: ignore[arg-type]
    d = _decide(analyzer=Analyzer(delay=1.0), limits=limits)
    assert (d.outcome, d.verdict, d.logged_as) == (outcome, "unknown", logged_as)
    assert d.reasons[-1] == "analysis_timeout" and d.cache is None
    d = _decide(analyzer=Analyzer(error="blocked_address"), limits=limits)
    assert d.outcome is outcome and d.reasons[-1] == "analysis_blocked_address"


def test_an_error_with_a_verdict_is_decided_by_the_verdict() -> None:
    d = _decide(analyzer=Analyzer(Verdict.MALICIOUS, error="fetch_failed"))
    assert d.outcome is Outcome.BLOCK and d.cache is not None
