"""URL Protect before delivery: collect every URL of a message, assess each, rewrite the bodies.

The bodies' URLs are extracted here; URLs inside attachments come from Attachment Protect (the
one place that opens files), with where in the file they were found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from tap_core.detect.defects import defect_finding, isolated
from tap_core.detect.groups import group_names
from tap_core.detect.scoring import Thresholds, score
from tap_core.message_rules import message_findings
from tap_core.model.decision import UrlResult
from tap_core.model.findings import Assessment, Finding, Verdict
from tap_core.model.message import Message
from tap_core.urls.exclusions import UrlExclusions
from tap_core.urls.extract import extract_html, extract_text
from tap_core.urls.intel import IntelIndex
from tap_core.urls.links import LinkCodec, LinkContext, decode_link, message_ref
from tap_core.urls.model import FoundUrl
from tap_core.urls.normalize import normalize_url
from tap_core.urls.policy import UrlPolicy
from tap_core.urls.ranking import analysis_order
from tap_core.urls.rewrite import RewriteResult, rewrite_html, rewrite_text
from tap_core.urls.rules import assess_url, rules
from tap_core.urls.unwrap import unwrap

#: Schemes that are addresses rather than places to go: never assessed, never rewritten.
_INERT_SCHEMES = ("mailto:", "tel:", "cid:", "sms:", "callto:", "#")
_REWRITABLE_SCHEMES = ("http://", "https://")
#: Where a URL is loaded by the client, not clicked by a person.
_RESOURCE_CONTEXTS = frozenset({"script_src", "img_src", "css_url", "img_in_link", "link_href"})


class AttachmentLink(Protocol):
    """A URL Attachment Protect found in a file (:class:`tap_core.attachments.AttachmentUrl`)."""

    @property
    def url(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def context(self) -> str: ...
    @property
    def link_text(self) -> str | None: ...


def _scheme_of(url: str) -> str:
    head, sep, _ = url.partition(":")
    return head.lower() + ":" if sep else ""


@dataclass
class UrlScan:
    """Everything URL Protect learnt about one message."""

    results: dict[str, UrlResult] = field(default_factory=dict)
    #: ``raw`` text (as found) -> normalised URL key into ``results``.
    by_raw: dict[str, str] = field(default_factory=dict)
    #: Text-body URLs found, for in-place replacement.
    text_found: list[FoundUrl] = field(default_factory=list)
    #: Message-level findings (limits, and the rules of :mod:`tap_core.message_rules`).
    findings: list[Finding] = field(default_factory=list)
    #: The highest URL score plus the message-level findings' default weights (informational:
    #: the message verdict is the learned model's, over every finding).
    message_score: float = 0.0
    #: The worst URL verdict (each URL scored alone with the policy's URL thresholds).
    verdict: Verdict = Verdict.CLEAN


class UrlProtect:
    """URL Protect for one tenant and policy; cheap to build, safe to reuse across messages."""

    def __init__(
        self,
        policy: UrlPolicy | None = None,
        *,
        tenant_domains: Sequence[str] = (),
        intel: IntelIndex | None = None,
        codec: LinkCodec | None = None,
    ) -> None:
        self.policy = policy or UrlPolicy()
        self.tenant_domains = tuple(tenant_domains)
        self.intel = intel
        self.codec = codec
        self.exclusions: UrlExclusions = self.policy.exclusions()
        self.thresholds: Thresholds = self.policy.thresholds
        self._own_decoder: Callable[[str], str | None] = self._decode_own

    def _decode_own(self, url: str) -> str | None:
        """Unwrap links made by any deployment of this project (the format is public)."""
        return decode_link(url)

    # -- collection -------------------------------------------------------------------------
    def collect(self, message: Message, attachment_urls: Iterable[AttachmentLink] = (),
                *, defects: list[Finding] | None = None) -> tuple[list[FoundUrl], list[FoundUrl]]:
        """(all URLs found, the text body's URLs): the bodies of the message and of the messages
        attached to it, then ``attachment_urls`` (what Attachment Protect found in the files).
        Each extractor runs isolated: one that raises adds ``analysis_defect`` to ``defects``
        and finds nothing in that body; the others still run."""
        found: list[FoundUrl] = []
        text_found: list[FoundUrl] = []
        defects = [] if defects is None else defects
        self._collect(message, "", found, text_found, defects)
        found.extend(self._from_attachments(attachment_urls, defects))
        return found, text_found

    def _collect(self, message: Message, prefix: str, found: list[FoundUrl],
                 text_found: list[FoundUrl], defects: list[Finding]) -> None:
        html_body, text_body = message.html_body, message.text_body
        nothing: list[FoundUrl] = []
        if html_body:
            found.extend(isolated("urls.extract_html", lambda: extract_html(
                html_body, f"{prefix}body.html", own_link_decoder=self._own_decoder), nothing, defects))
        if text_body:
            text_urls = isolated("urls.extract_text", lambda: extract_text(
                text_body, f"{prefix}body.text", own_link_decoder=self._own_decoder), nothing, defects)
            found.extend(text_urls)
            if not prefix:
                text_found.extend(text_urls)
        for i, nested in enumerate(message.attached_messages):
            self._collect(nested, f"{prefix}message{i + 1}/", found, text_found, defects)

    def _from_attachments(self, urls: Iterable[AttachmentLink], defects: list[Finding]) -> list[FoundUrl]:
        out: list[FoundUrl] = []
        for item in urls:
            link = isolated("urls.attachment_link", partial(self._attachment_link, item), None, defects)
            if link is not None:
                out.append(link)
        return out

    def _attachment_link(self, item: AttachmentLink) -> FoundUrl | None:
        norm = normalize_url(item.url)
        if norm is None:
            return None
        unwrapped = unwrap(norm.url, own_link_decoder=self._own_decoder)
        return FoundUrl(url=unwrapped.url, raw=item.url, display_url=norm.display_url,
                        source=f"attachment:{item.file}", context=item.context,
                        link_text=item.link_text, wrappers=list(unwrapped.wrappers),
                        wrapped_url=norm.url if unwrapped.wrappers else None)

    # -- assessment -------------------------------------------------------------------------
    def scan(self, message: Message, *, recipient: str = "",
             attachment_urls: Iterable[AttachmentLink] = ()) -> UrlScan:
        """Assess every URL of ``message`` and of its attachments (``attachment_urls``, from
        Attachment Protect: links in documents, QR codes, archive members, decrypted files)."""
        defects: list[Finding] = []
        found, text_found = self.collect(message, attachment_urls, defects=defects)
        scan = UrlScan(text_found=text_found, findings=defects)
        limit = self.policy.max_urls_per_message
        tenant_domains = self.tenant_domains
        # Over the limit, the most suspicious links are the ones analysed.
        sender = message.from_address.domain if message.from_address else ""
        found = analysis_order(found, limit, own_domains=(sender, *tenant_domains))
        for item in found:
            if item.url.startswith(_INERT_SCHEMES) or _scheme_of(item.url) in _INERT_SCHEMES:
                continue
            scan.by_raw.setdefault(item.raw.strip(), item.url)
            result = scan.results.get(item.url)
            if result is None:
                if len(scan.results) >= limit:
                    if not any(f.name == "url_limit" for f in scan.findings):
                        scan.findings.append(rules()["url_limit"].finding(str(limit), limit=limit))
                    continue
                result = UrlResult(url=item.url, display_url=item.display_url,
                                   wrappers=list(item.wrappers))
                self._assess(result, item.link_text, tenant_domains)
                scan.results[item.url] = result
            elif item.link_text and item.link_text not in result.link_texts:
                # Another anchor text for the same href: its mismatch check may differ.
                self._reassess_text(result, item.link_text, tenant_domains)
            source = f"{item.source}:{item.context}"
            if source not in result.sources:
                result.sources.append(source)
            if item.link_text and item.link_text not in result.link_texts:
                result.link_texts.append(item.link_text)
        for result in scan.results.values():
            contexts = {src.rsplit(":", 1)[-1] for src in result.sources}
            if result.findings and contexts <= _RESOURCE_CONTEXTS:
                self._drop_click_only(result)
        context = message_findings(message, found, scan.results, recipient)
        scan.findings.extend(context)
        top = max((r.score for r in scan.results.values() if not r.excluded_by), default=0.0)
        scan.message_score = round(top + sum(f.score for f in context), 2)
        scan.verdict = Verdict.worst([r.verdict for r in scan.results.values()])
        return scan

    def _assess(self, result: UrlResult, link_text: str | None, tenant_domains: Sequence[str]) -> None:
        excluded = self.exclusions.match(result.url)
        if excluded:
            result.excluded_by = excluded
            return
        assessment = self._assess_url(result.url, link_text, tenant_domains)
        result.verdict = assessment.verdict
        result.score = assessment.score
        result.findings = list(assessment.findings)

    def _assess_url(self, url: str, link_text: str | None, tenant_domains: Sequence[str]) -> Assessment:
        try:
            return assess_url(url, link_text=link_text, tenant_domains=tenant_domains,
                              intel=self.intel, thresholds=self.thresholds)
        except Exception as exc:  # each rule is isolated already; this guards the scorer around them
            defect = defect_finding("urls.assess_url", exc)
            return Assessment(verdict=defect.verdict or Verdict.SUSPICIOUS, score=0.0, findings=[defect])

    def _drop_click_only(self, result: UrlResult) -> None:
        """A URL only loaded as a resource (script, stylesheet, image) is never clicked: the
        findings of click-only groups (what it would download or ask for) do not apply, its
        host's reputation still does. The rest is scored again."""
        click_only = group_names(click_only=True)
        kept = [f for f in result.findings if f.group not in click_only]
        if len(kept) == len(result.findings):
            return
        scored = score(kept, self.thresholds)
        result.findings, result.score, result.verdict = kept, scored.score, scored.verdict

    def _reassess_text(self, result: UrlResult, link_text: str, tenant_domains: Sequence[str]) -> None:
        if result.excluded_by:
            return
        assessment = self._assess_url(result.url, link_text, tenant_domains)
        if assessment.score > result.score or assessment.verdict.rank > result.verdict.rank:
            result.verdict = assessment.verdict
            result.score = assessment.score
            result.findings = list(assessment.findings)

    # -- rewriting --------------------------------------------------------------------------
    def rewrite(self, message: Message, scan: UrlScan, *, tenant_id: str,
                recipient: str) -> tuple[RewriteResult | None, RewriteResult | None]:
        """New HTML and text bodies with every eligible link going through the redirector.

        Eligible: http(s), not excluded, and not already one of our links, whatever the link's
        own verdict: the redirector decides again at click time (and blocks the bad ones), so
        neither a delivered message nor a held one released later keeps an unprotected link.
        """
        codec = self.codec
        if codec is None:
            return None, None
        context = LinkContext(tenant_id=tenant_id, recipient=recipient,
                              message_ref=message_ref(message.internet_message_id or message.source))
        wrapped: dict[str, str] = {}

        def replacement(value: str) -> str | None:
            if not value.lower().startswith(_REWRITABLE_SCHEMES) and not value.lower().startswith("www."):
                return None
            if codec.is_own(value):
                return None  # idempotent: already ours
            key = scan.by_raw.get(value)
            result = scan.results.get(key) if key else None
            if result is None:
                result = self._late_result(value, scan)
                if result is None:
                    return None
            if result.excluded_by:
                return None
            if not result.url.lower().startswith(_REWRITABLE_SCHEMES):
                return None
            link = wrapped.get(result.url)
            if link is None:
                link = codec.wrap(result.url, context)
                wrapped[result.url] = link
            result.rewritten = link
            return link

        html_result = rewrite_html(message.html_body, replacement) if message.html_body else None
        text_result = None
        if message.text_body and scan.text_found:
            spans = _spans(message.text_body, [f.raw for f in scan.text_found])
            text_result = rewrite_text(message.text_body, spans, replacement)
        return html_result, text_result

    def _late_result(self, value: str, scan: UrlScan) -> UrlResult | None:
        """A link the extractor did not report (e.g. inside an Outlook conditional comment)."""
        norm = normalize_url(value)
        if norm is None:
            return None
        unwrapped = unwrap(norm.url, own_link_decoder=self._own_decoder)
        url = unwrapped.url
        result = scan.results.get(url)
        if result is None:
            result = UrlResult(url=url, display_url=norm.display_url, wrappers=list(unwrapped.wrappers),
                               sources=["body.html:late_href"])
            self._assess(result, None, self.tenant_domains)
            scan.results[url] = result
        scan.by_raw[value] = url
        return result


def _spans(text: str, raws: list[str]) -> list[tuple[int, int]]:
    """Locate each raw URL in order of appearance (the extractor reports them in order)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for raw in raws:
        i = text.find(raw, pos)
        if i < 0:
            i = text.find(raw)
            if i < 0:
                continue
        else:
            pos = i + len(raw)
        spans.append((i, i + len(raw)))
    return spans
