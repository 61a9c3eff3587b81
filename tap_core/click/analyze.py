"""Time-of-click analysis of one URL: reputation now, static URL evidence, and (unless the link
looks single-use) the page or file behind it, fetched through an injected ``Fetcher``.

The redirector and ``tap365 check-url`` both call :meth:`ClickAnalyzer.analyze`: one code path.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.filetype import identify, is_dangerous_type
from tap_core.attachments.policy import AttachmentPolicy
from tap_core.attachments.protect import AttachmentsAssessment, assess_attachments
from tap_core.click.fetch import FetchBlocked, FetchedPage, Fetcher, FetchError
from tap_core.click.render import RenderedDom, Renderer, needs_render
from tap_core.click.rules import analyze_html, page_rules, redirect_targets
from tap_core.click.single_use import single_use
from tap_core.detect.model import shipped_page_model
from tap_core.detect.scoring import Thresholds, score
from tap_core.model.decision import Action
from tap_core.model.findings import Finding, Verdict
from tap_core.model.message import Attachment, Message
from tap_core.urls.intel import IntelIndex
from tap_core.urls.normalize import normalize_url
from tap_core.urls.policy import DEFAULT_THRESHOLDS
from tap_core.urls.rules import assess_url, url_findings

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", ""})
_TEXTUAL = ("text/", "application/json", "application/xml", "application/javascript")
#: Findings of the page rules (page_rules.toml) are named page_*: a page was read.
_PAGE_RULE = "page_"
_FILENAME = re.compile(r"filename\*?\s*=\s*(?:UTF-8'')?\"?([^\";]+)", re.I)
#: A render is not started with less time than this left (it could not finish).
MIN_RENDER_SECONDS = 0.5


@dataclass(slots=True)
class ClickAnalysis:
    """What time-of-click analysis concluded about one URL."""

    url: str
    verdict: Verdict
    score: float
    findings: list[Finding] = field(default_factory=list)
    final_url: str = ""
    fetched: bool = False
    #: Why analysis could not complete (a fetch error code); the caller's policy decides then.
    error: str = ""
    single_use: bool = False
    #: The score each verdict sees (:attr:`tap_core.detect.scoring.Scored.reach`): what a cached
    #: result is thresholded with again, per tenant.
    reach: Mapping[Verdict, float] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        return [f.name for f in self.findings]

    @property
    def forced(self) -> Verdict | None:
        """The verdict findings that decide alone (intel, a malicious download) set, if any."""
        forced = [f.verdict for f in self.findings if f.verdict is not None]
        return Verdict.worst(forced) if forced else None

    def score_with(self, thresholds: Thresholds) -> None:
        """Verdict, score and reach of the findings so far (the one scorer). Once a page has been
        read, with the page scorer's learned weights and intercept (on the URL thresholds' scale,
        :func:`tap_core.detect.model.shipped_page_model`); before, each rule's default weight."""
        if any(f.name.startswith(_PAGE_RULE) for f in self.findings):
            scored = shipped_page_model().score(self.findings, thresholds)
        else:
            scored = score(self.findings, thresholds)
        self.verdict, self.score, self.reach = scored.verdict, scored.score, scored.reach


def _merge(findings: list[Finding], more: Sequence[Finding], where: str = "") -> None:
    names = {f.name for f in findings}
    for f in more:
        if f.name in names:
            continue
        names.add(f.name)
        findings.append(f.model_copy(update={"evidence": f"{where}: {f.evidence}"[:300]}) if where else f)


def _merge_rendered(findings: list[Finding], rendered: Sequence[Finding]) -> None:
    """The rendered DOM's findings into the static ones: one per name, the stronger kept."""
    at = {f.name: i for i, f in enumerate(findings)}
    for f in rendered:
        tagged = f.model_copy(update={"evidence": f"rendered: {f.evidence}"[:300]})
        i = at.get(f.name)
        if i is None:
            at[f.name] = len(findings)
            findings.append(tagged)
        elif f.score > findings[i].score:
            findings[i] = tagged


def _looks_html(page: FetchedPage) -> bool:
    if page.content_type in _HTML_TYPES:
        head = page.body[:512].lstrip().lower()
        return page.content_type != "" or head.startswith((b"<!doctype html", b"<html", b"<head", b"<"))
    return False


class ClickAnalyzer:
    """Decides one URL at click time. Share one instance; it holds no per-request state."""

    def __init__(
        self,
        fetcher: Fetcher | None,
        *,
        engine: AttachmentEngine | None = None,
        file_policy: AttachmentPolicy | None = None,
        renderer: Renderer | None = None,
        render_timeout_seconds: float = 5.0,
        render_margin_seconds: float = 1.0,
    ) -> None:
        """``renderer``: renders pages whose content their scripts build (None: such pages are
        judged on their HTML, with ``page_not_rendered``); a render gets at most
        ``render_timeout_seconds``, and ends ``render_margin_seconds`` before the analysis
        deadline (the rendered DOM is still to be analysed then)."""
        self.fetcher = fetcher
        self.renderer = renderer
        self.render_timeout_seconds = render_timeout_seconds
        self.render_margin_seconds = render_margin_seconds
        self._engine = engine
        # A download is judged as an attachment is: the file policy's thresholds and its
        # limit, encryption and verdict actions (no sandbox at click: Safe File's static stage).
        self.file_policy = (file_policy or AttachmentPolicy()).model_copy(update={"mode": "safe_file"})

    @staticmethod
    def warm_up() -> None:
        """Build the rule tables now (brand tables take seconds) instead of in a click's budget."""
        assess_url("https://login.example.com/signin")
        analyze_html("<title>Sign in</title><form><input type=password></form>", "https://a.example/")
        single_use("https://a.example/reset-password")

    @property
    def engine(self) -> AttachmentEngine:
        if self._engine is None:
            self._engine = AttachmentEngine()  # compiles YARA rules: only when a file shows up
        return self._engine

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
        """``deadline``: the event loop time by which the analysis must be done (the caller's
        timeout, ``asyncio.Timeout.when()``): a render is fitted within it."""
        thresholds = thresholds or DEFAULT_THRESHOLDS
        norm = normalize_url(url)
        target = norm.url if norm is not None else url
        findings = url_findings(target, intel=intel, tenant_domains=tenant_domains)
        done = ClickAnalysis(url=url, verdict=Verdict.CLEAN, score=0.0, findings=findings, final_url=target)
        done.score_with(thresholds)
        if done.verdict is Verdict.MALICIOUS and any(f.verdict for f in findings):
            return done  # listed by intelligence: nothing to learn from fetching it
        once = single_use(target)
        if once is not None:
            findings.append(once)
            done.single_use = True
            done.score_with(thresholds)
            return done
        if not allow_fetch or self.fetcher is None:
            return done
        try:
            page = await self.fetcher.fetch(
                target, stop_before=lambda u: single_use(u) is not None, language=language
            )
        except FetchBlocked as exc:
            findings.append(page_rules()["fetch_refused"].finding(exc.detail or exc.code))
            done.error = exc.code
            done.score_with(thresholds)
            return done
        except FetchError as exc:
            findings.append(page_rules()["fetch_failed"].finding(exc.detail or exc.code, code=exc.code))
            done.error = exc.code
            done.score_with(thresholds)
            return done
        done.fetched = True
        done.final_url = page.final_url
        # Reputation of every hop and of where the page forwards to, as of now.
        for hop in [*page.hops[1:], page.stopped_at]:
            if hop:
                hop_findings = url_findings(hop, intel=intel, tenant_domains=tenant_domains)
                _merge(
                    findings,
                    [f for f in hop_findings if f.verdict is not None or hop == page.final_url],
                    where=f"redirect to {hop[:120]}",
                )
        if page.stopped_at:
            findings.append(page_rules()["single_use_redirect_not_followed"].finding(page.stopped_at))
        findings.extend(await self._content(page, language, deadline))
        for nxt in redirect_targets(findings):
            if intel is not None:
                _merge(
                    findings,
                    [f for f in url_findings(nxt, intel=intel) if f.verdict is not None],
                    where=f"page forwards to {nxt[:120]}",
                )
        done.score_with(thresholds)
        return done

    async def _content(
        self, page: FetchedPage, language: str | None, deadline: float | None
    ) -> list[Finding]:
        rules = page_rules()
        disposition = page.headers.get("content-disposition", "")
        is_attachment = disposition.lower().startswith("attachment")
        if _looks_html(page) and not is_attachment:
            html = page.body.decode(_charset(page), "replace")
            found, why = await asyncio.to_thread(_static_html, html, page.final_url)
            if why is not None:
                await self._rendered(found, page, why, language, deadline)
            return found
        if page.content_type.startswith(_TEXTUAL) and not is_attachment:
            return []
        out: list[Finding] = []
        m = _FILENAME.search(disposition)
        name = (
            unquote(m.group(1)).strip()
            if m
            else (urlsplit(page.final_url).path.rsplit("/", 1)[-1] or "download")
        )
        if is_attachment:
            out.append(rules["download_attachment"].finding(name, filename=name[:80]))
        kind = identify(page.body)
        if is_dangerous_type(kind.type):
            out.append(
                rules["download_dangerous_type"].finding(
                    f"{name}: {kind.type}", kind=kind.detail or kind.type
                )
            )
        if page.body:
            assessed = await asyncio.to_thread(self.assess_file, name, page.body)
            result = assessed.files[0]
            verdict = _file_verdict(assessed)
            if verdict is not Verdict.CLEAN:
                out.append(
                    rules["download_analysis"].finding(
                        f"{name} sha256={result.sha256}",
                        weight=result.score,  # the file's own score and verdict decide here
                        verdict=verdict,
                        outcome=verdict.value,
                        reasons="; ".join(assessed.reasons[:3]) or ", ".join(result.reasons[:5]),
                    )
                )
        return out

    async def _rendered(
        self,
        findings: list[Finding],
        page: FetchedPage,
        why: str,
        language: str | None,
        deadline: float | None,
    ) -> None:
        """The page rendered (its scripts run) and its DOM analysed into ``findings``; when it
        cannot be, ``page_not_rendered`` says why and the static findings stand."""
        not_rendered = page_rules()["page_not_rendered"]
        if self.renderer is None:
            findings.append(not_rendered.finding(why, "no_renderer", why=why))
            return
        budget = self.render_timeout_seconds
        if deadline is not None:
            budget = min(budget, deadline - asyncio.get_running_loop().time() - self.render_margin_seconds)
        if budget < MIN_RENDER_SECONDS:
            findings.append(not_rendered.finding(why, "no_budget", why=why))
            return
        dom = await self.renderer.render(page, language=language, budget_seconds=budget)
        findings.extend(_refused_findings(dom))
        if dom.error:
            variant = dom.error if not_rendered.has_variant(dom.error) else "failed"
            detail = dom.detail or dom.error
            findings.append(not_rendered.finding(
                f"{why}; {detail}", variant, why=why, detail=detail, budget=f"{budget:.1f}"))
            return
        if dom.limited:
            findings.append(
                not_rendered.finding(f"{why}; {dom.limited}", "limit", why=why, detail=dom.limited))
        if dom.html:
            rendered = await asyncio.to_thread(analyze_html, dom.html, dom.final_url or page.final_url)
            _merge_rendered(findings, rendered)

    def assess_file(self, name: str, data: bytes) -> AttachmentsAssessment:
        """The downloaded file through Attachment Protect, as if it were attached to a mail:
        one code path, so a limit reached (depth, file count, size, time) weighs the same."""
        message = Message(source=name, attachments=[
            Attachment(name=name, content_type="application/octet-stream", data=data)])
        return assess_attachments(message, self.engine, self.file_policy)


def _static_html(html: str, url: str) -> tuple[list[Finding], str | None]:
    """The page's static findings, and why it must be rendered too (None: it need not be)."""
    return analyze_html(html, url), needs_render(html)


def _refused_findings(dom: RenderedDom) -> list[Finding]:
    """The page's scripts tried to reach an address the fetcher refuses (private, metadata)."""
    refused = [r for r in dom.refused if r.code == "address"]
    if not refused:
        return []
    targets = list(dict.fromkeys(r.url for r in refused))
    evidence = "; ".join(f"{r.url[:120]} ({r.detail[:80]})" for r in refused[:3])
    return [page_rules()["page_script_private_request"].finding(evidence, target=targets[0][:120])]


def _file_verdict(assessed: AttachmentsAssessment) -> Verdict:
    """What the file policy's action means at click: what mail would quarantine is blocked, what
    it would hold or tag (a limit reached, encrypted content, a suspicious file) warns."""
    if assessed.verdict is Verdict.MALICIOUS or assessed.action is Action.QUARANTINE:
        return Verdict.MALICIOUS
    if assessed.action in (Action.HOLD, Action.TAG):
        return Verdict.SUSPICIOUS
    return Verdict.CLEAN


def _charset(page: FetchedPage) -> str:
    m = re.search(r"charset=([\w-]+)", page.headers.get("content-type", ""), re.I)
    if m:
        try:
            "".encode(m.group(1))
            return m.group(1)
        except LookupError:
            pass
    return "utf-8"
