"""The orchestrator: run every rule family on one message and reach one Decision.

1. Evidence. Attachment Protect analyses the files (the URLs it finds inside them go to URL
   Protect, the one place attachment URLs come from); URL Protect assesses every link and the
   message around them; Impersonation Protect, the authentication rules, the reputation rules and
   the learned words add theirs. Every piece is a named finding of the one detection contract.
2. Verdict. The learned message model (:mod:`tap_core.detect.model`) scores all the findings
   together: one score, one verdict, the findings that contributed most first. Strong evidence
   still decides alone: a threat-intelligence hit or malware is MALICIOUS whatever the score.
3. Action, in one vocabulary (:class:`~tap_core.model.decision.Action`): MALICIOUS quarantines
   (or holds, per policy); SUSPICIOUS holds at or above the hold threshold, else tags (banner and
   category); the policies add their own: an impersonation hit count at the threshold, a file
   to detonate or a limit reached (held), monitor modes. The most severe wins.
4. Delivery. Every web link of a delivered (or withheld, for a later release) message goes
   through the click-time redirector; a TAG adds the banner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tap_core.attachments import AttachmentEngine, AttachmentsAssessment, assess_attachments
from tap_core.attachments.report import result_to_dict
from tap_core.auth.rules import auth_findings
from tap_core.detect.defects import defect_finding, isolated, isolated_findings
from tap_core.detect.model import MessageModel, shipped_model
from tap_core.detect.scoring import Scored
from tap_core.detect.text import message_words
from tap_core.impersonation import Directory, ImpersonationResult, SenderHistory, assess_impersonation
from tap_core.impersonation.banner import OUTLOOK_CATEGORY, add_banner_html, add_banner_text
from tap_core.impersonation.protect import message_time
from tap_core.model.decision import Action, Decision
from tap_core.model.findings import Finding, Verdict
from tap_core.model.message import Message
from tap_core.parsing.domains import url_host
from tap_core.parsing.limits import limit_findings, limit_rules
from tap_core.policy import Policy
from tap_core.reputation.blocklist import blocked_sender_findings
from tap_core.reputation.registration import DomainRegistry
from tap_core.reputation.rules import (
    DomainsToCheck,
    domains_to_check,
    first_seen_findings,
    registration_findings,
    reputation_findings,
)
from tap_core.urls.intel import IntelIndex
from tap_core.urls.links import LinkCodec
from tap_core.urls.protect import UrlProtect, UrlScan

URL_CATEGORY = "TAP365: Suspicious link"
IMPERSONATION_HEADLINE = "Caution: this message may be impersonating someone you trust."
LINK_HEADLINE = "Caution: this message looks like a lure; its links may not be safe."
ATTACHMENT_HEADLINE = "Caution: an attachment of this message could not be fully analysed."
ATTACHMENT_CATEGORY = "TAP365: Attachment warning"
#: Findings named in the reasons, the banner and the audit.
_SHOWN_REASONS = 6
_WEB = ("http://", "https://")
#: Limits of the rule families (beside the message parse limits of limit_rules.toml) that hold.
_LIMITS = frozenset({"url_limit"})


@dataclass(frozen=True, slots=True)
class TenantContext:
    """What the service knows about the tenant beyond the policy (all optional)."""

    tenant_id: str = ""
    directory: Directory | None = None
    history: SenderHistory | None = None
    #: Registration dates of domains (RDAP), when the service may look them up.
    registry: DomainRegistry | None = None
    org_name: str = "TAP365"
    #: Per-tenant secret fragment that marks our banners (see impersonation.banner).
    banner_token: str = ""


@dataclass(slots=True)
class Evidence:
    """Everything the rule families found in one message, before any verdict."""

    url_scan: UrlScan | None
    attachments: AttachmentsAssessment | None
    impersonation: ImpersonationResult | None
    #: Every rule's finding (links, message, files, identity, authentication, reputation).
    findings: list[Finding] = field(default_factory=list)
    #: The message's words, which the model weighs as one more finding.
    words: frozenset[str] = frozenset()
    #: The sender's and the links' registered domains the reputation rules asked about.
    domains: DomainsToCheck | None = None


class Pipeline:
    """The pipelines for one tenant's policy. Reuse it across messages."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        intel: IntelIndex | None = None,
        codec: LinkCodec | None = None,
        attachment_engine: AttachmentEngine | None = None,
        tenant: TenantContext | None = None,
        model: MessageModel | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.url_protect = UrlProtect(self.policy.url, tenant_domains=self.policy.internal_domains,
                                     intel=intel, codec=codec)
        self.attachment_engine = attachment_engine
        self.tenant = tenant or TenantContext()
        self.model = model or shipped_model()

    # -- evidence -----------------------------------------------------------------------------
    def evidence(
        self, message: Message, *, tenant_id: str = "", recipient: str = "", now: datetime | None = None
    ) -> Evidence:
        """Run every rule family on ``message``: what ``run`` decides from, and what the model
        is trained on (``tap365 train``), so that both always see the same findings and words."""
        policy = self.policy
        tenant_id = tenant_id or self.tenant.tenant_id
        recipient = recipient or (message.to[0].address if message.to else "")
        now = message_time(message, now)
        sender_address = message.from_address.address if message.from_address else ""
        sender_domain = message.from_address.domain if message.from_address else ""
        reputation = policy.reputation
        registry = self.tenant.registry if reputation.domain_age else None
        # Each family runs isolated: one that raises costs the message what it would have found
        # (an analysis_defect finding holds it with the reason), never its verdict.
        defects: list[Finding] = []
        if registry is not None:
            # The registry answers while the files and links are analysed.
            early = domains_to_check(sender_domain, (), reputation, policy.internal_domains)
            isolated("registration", lambda: registry.prefetch(early.lookups), None, defects)
        attachments = isolated("attachments", lambda: self._attachments(message), None, defects)
        url_scan = (
            isolated(
                "urls",
                lambda: self.url_protect.scan(
                    message, recipient=recipient,
                    attachment_urls=attachments.found_urls if attachments else (),
                ),
                None,
                defects,
            )
            if policy.url.enabled
            else None
        )
        link_hosts: list[str] = []
        url_findings: list[Finding] = []
        if url_scan is not None:
            for result in url_scan.results.values():
                if result.excluded_by:
                    continue
                url_findings.extend(result.findings)
                if result.url.startswith(_WEB) and any(not s.endswith(":img_src") for s in result.sources):
                    link_hosts.append(url_host(result.url))
            url_findings.extend(url_scan.findings)
        domains = domains_to_check(sender_domain, link_hosts, reputation, policy.internal_domains)
        if registry is not None:
            isolated("registration", lambda: registry.prefetch(domains.lookups), None, defects)
        impersonation = isolated(
            "impersonation", lambda: self._impersonation(message, tenant_id, now), None, defects
        )
        no_words: frozenset[str] = frozenset()
        words = isolated("words", lambda: message_words(message), no_words, defects)
        found = Evidence(url_scan, attachments, impersonation, words=words, domains=domains)
        findings = found.findings
        findings.extend(url_findings)
        findings.extend(_file_findings(attachments))
        if impersonation is not None:
            findings.extend(impersonation.indicators)
        findings.extend(isolated_findings("auth", lambda: auth_findings(message), defects))
        findings.extend(
            isolated_findings("reputation", lambda: reputation_findings(sender_domain, link_hosts), defects)
        )
        history = self.tenant.history
        if history is not None and reputation.first_seen:
            # Impersonation Protect's newly observed sender is the same fact: counted once.
            weighed = impersonation is not None and any(
                f.name == "newly_observed_sender" for f in impersonation.indicators
            )
            findings.extend(isolated_findings("reputation.first_seen", lambda: first_seen_findings(
                history, tenant_id, sender_address, domains, reputation, now, sender_weighed=weighed,
            ), defects))
        if registry is not None and domains.lookups + domains.over_limit:
            findings.extend(isolated_findings("reputation.registration", lambda: registration_findings(
                domains, registry.registrations(domains.lookups), reputation, now,
            ), defects))
        if policy.blocked_senders:
            findings.extend(isolated_findings(
                "policy", lambda: blocked_sender_findings(message, policy.blocked_senders), defects
            ))
        findings.extend(isolated_findings("limits", lambda: limit_findings(message), defects))
        findings.extend(defects)
        return found

    # -- decision -----------------------------------------------------------------------------
    def run(
        self, message: Message, *, tenant_id: str = "", recipient: str = "", now: datetime | None = None
    ) -> Decision:
        tenant_id = tenant_id or self.tenant.tenant_id
        recipient = recipient or (message.to[0].address if message.to else "")
        found = self.evidence(message, tenant_id=tenant_id, recipient=recipient, now=now)
        words = self.model.words_finding(found.words)
        findings = [*found.findings, *([words] if words else [])]
        scored = self.model.score(findings, self.policy.thresholds)
        url_scan, attachments, impersonation = found.url_scan, found.attachments, found.impersonation
        actions = [self._verdict_action(scored, findings, attachments)]
        verdicts = [scored.verdict]
        reasons = [f"{c.finding.name} (+{c.weight:g}): {c.finding.reason}"
                   for c in scored.contributions[:_SHOWN_REASONS] if c.weight > 0]
        reasons[:0] = [f"{f.name}: {f.reason}" for f in scored.deciding]
        limits = [f for f in findings if f.name in _LIMITS or f.name in limit_rules()]
        if limits:
            # What lies beyond a limit was not analysed: hold it, whatever the policy does with
            # a SUSPICIOUS verdict, and say which limit (the count is in the reason).
            actions.append(Action.HOLD)
            verdicts.append(Verdict.SUSPICIOUS)
            reasons[:0] = [f"{f.name}: {f.reason}" for f in limits]
        if attachments is not None:
            # The engine's own verdict of a file (signatures, or its score against the file
            # thresholds) is strong evidence: a MALICIOUS file decides alone.
            verdicts.append(attachments.verdict)
            policy_action = Action(attachments.action)
            actions.append(policy_action)
            if policy_action.rank > Action.DELIVER.rank:
                reasons.extend(f"attachments: {r}" for r in attachments.reasons[:5])
        if impersonation is not None:
            action = Action(impersonation.action)
            actions.append(action)
            if action in (Action.TAG, Action.QUARANTINE):
                verdicts.append(Verdict.SUSPICIOUS)
                names = ", ".join(impersonation.indicator_names)
                reasons.append(f"impersonation: {impersonation.hits} hit(s) ({names})")
        decision = Decision(
            verdict=Verdict.worst(verdicts),
            action=Action.most_severe(actions),
            score=scored.score,
            reasons=list(dict.fromkeys(reasons)),
            findings=[c.finding for c in scored.contributions],
            weights={c.finding.name: c.weight for c in scored.contributions},
            urls=list(url_scan.results.values()) if url_scan else [],
            url_score=url_scan.message_score if url_scan else 0.0,
            attachments=[result_to_dict(f) for f in attachments.files] if attachments else [],
            impersonation=impersonation.to_json() if impersonation is not None else {},
            needs_sandbox=bool(attachments and attachments.needs_sandbox),
            link_domains=list(found.domains.links) if found.domains else [],
            pipelines={
                "url": url_scan.verdict.value if url_scan else "off",
                "attachments": attachments.verdict.value if attachments else "off",
                "impersonation": impersonation.action if impersonation is not None else "off",
            },
        )
        try:
            if url_scan:
                self._rewrite(message, url_scan, decision, tenant_id=tenant_id, recipient=recipient)
            if decision.action is Action.TAG:
                self._tag(message, decision, scored, impersonation, attachments)
        except Exception as exc:  # a defect of ours: the message is held unedited, saying why
            defect = defect_finding("remediation content", exc)
            decision.rewritten_html = decision.rewritten_text = None
            decision.rewrite_skipped = f"{defect.name}: {defect.reason}"
            if decision.action in (Action.DELIVER, Action.LOG, Action.TAG, Action.REWRITE):
                decision.action = Action.HOLD
            decision.reasons.insert(0, f"{defect.name}: {defect.reason}")
        rewritten = decision.rewritten_html or decision.rewritten_text
        if decision.action in (Action.DELIVER, Action.LOG) and rewritten:
            decision.action = Action.REWRITE
        return decision

    def _verdict_action(
        self, scored: Scored, findings: list[Finding], attachments: AttachmentsAssessment | None
    ) -> Action:
        """What the message verdict asks for, in the policy's terms. A message that only its
        files make MALICIOUS is the attachment policy's to act on (``attachments.action``:
        quarantine, hold, or deliver in monitor mode), not the message's."""
        url_policy = self.policy.url
        if scored.verdict is Verdict.MALICIOUS:
            files = {id(f) for f in _file_findings(attachments)}
            rest = [f for f in findings if id(f) not in files]
            if files and self.model.score(rest, self.policy.thresholds).verdict is not Verdict.MALICIOUS:
                return Action.DELIVER
            return Action(url_policy.malicious_action)
        if scored.verdict is Verdict.SUSPICIOUS:
            return Action(url_policy.suspicious_action) if scored.hold else Action.TAG
        return Action.DELIVER

    # -- pipelines ----------------------------------------------------------------------------
    def _attachments(self, message: Message) -> AttachmentsAssessment | None:
        if self.attachment_engine is None or not _has_attachments(message):
            return None
        return assess_attachments(message, self.attachment_engine, self.policy.attachments)

    def _impersonation(
        self, message: Message, tenant_id: str, now: datetime | None
    ) -> ImpersonationResult | None:
        policy = self.policy
        if not policy.impersonation.enabled:
            return None
        return assess_impersonation(
            message,
            policy.impersonation,
            internal_domains=policy.internal_domains,
            vips=policy.vips,
            directory=self.tenant.directory,
            history=self.tenant.history,
            tenant_id=tenant_id,
            now=now,
        )

    # -- remediation content ------------------------------------------------------------------
    def _rewrite(
        self, message: Message, url_scan: UrlScan, decision: Decision, *, tenant_id: str, recipient: str
    ) -> None:
        policy = self.policy.url
        sender_domain = message.from_address.domain if message.from_address else ""
        if not policy.rewrite:
            decision.rewrite_skipped = "link rewriting is off in the policy"
            return
        if message.is_signed or message.is_encrypted:
            decision.rewrite_skipped = "S/MIME signed or encrypted message is never edited"
            return
        if not policy.rewrite_internal and sender_domain and self.policy.is_internal(sender_domain):
            decision.rewrite_skipped = "internal sender and rewrite_internal is off"
            return
        html, text = self.url_protect.rewrite(message, url_scan, tenant_id=tenant_id, recipient=recipient)
        if html is not None and html.changed:
            decision.rewritten_html = html.body
        if text is not None and text.changed:
            decision.rewritten_text = text.body

    def _tag(
        self,
        message: Message,
        decision: Decision,
        scored: Scored,
        impersonation: ImpersonationResult | None,
        attachments: AttachmentsAssessment | None,
    ) -> None:
        """Warning banner (HTML and text) naming what was found, plus an Outlook category."""
        indicators = [c.finding for c in scored.contributions[:_SHOWN_REASONS] if c.weight > 0]
        headline = LINK_HEADLINE
        if impersonation is not None and Action(impersonation.action) is Action.TAG:
            own = impersonation.indicators
            indicators = [*own, *(f for f in indicators if f not in own)]
            decision.categories.append(OUTLOOK_CATEGORY)
            headline = IMPERSONATION_HEADLINE
        if scored.verdict is not Verdict.CLEAN:
            decision.categories.append(URL_CATEGORY)
        if attachments is not None and Action(attachments.action) is Action.TAG:
            decision.categories.append(ATTACHMENT_CATEGORY)
            if headline is LINK_HEADLINE and scored.verdict is Verdict.CLEAN:
                headline = ATTACHMENT_HEADLINE
        if message.is_signed or message.is_encrypted or not indicators:
            return
        org, token = self.tenant.org_name, self.tenant.banner_token
        html = decision.rewritten_html or message.html_body
        if html is not None:
            decision.rewritten_html = add_banner_html(
                html, indicators, org_name=org, marker_token=token, headline=headline
            )
        text = decision.rewritten_text or message.text_body
        if text is not None:
            decision.rewritten_text = add_banner_text(text, indicators, org_name=org)


def _file_findings(attachments: AttachmentsAssessment | None) -> list[Finding]:
    """Every finding of every file (archive members and attached messages' files included)."""
    if attachments is None:
        return []
    return [f for file in attachments.files for node in file.walk() for f in node.findings]


def _has_attachments(message: Message) -> bool:
    return bool(message.attachments) or any(_has_attachments(m) for m in message.attached_messages)
