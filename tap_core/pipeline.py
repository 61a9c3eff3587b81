"""Run the three pipelines on one message and reach one Decision.

URL Protect, Attachment Protect and Impersonation Protect each give a verdict and an action;
the Decision takes the most severe action. Delivered messages get their links rewritten, and
a TAG adds the warning banner and an Outlook category.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tap_core.attachments import AttachmentEngine, AttachmentsAssessment, assess_attachments
from tap_core.attachments.report import result_to_dict
from tap_core.impersonation import Directory, ImpersonationResult, SenderHistory, assess_impersonation
from tap_core.impersonation.banner import OUTLOOK_CATEGORY, add_banner_html, add_banner_text
from tap_core.model.decision import Action, Decision
from tap_core.model.findings import Finding, Verdict
from tap_core.model.message import Message
from tap_core.policy import Policy
from tap_core.urls.intel import IntelIndex
from tap_core.urls.links import LinkCodec
from tap_core.urls.protect import UrlProtect, UrlScan

#: Attachment Protect's actions in the Decision's terms.
_ATTACHMENT_ACTIONS = {
    "deliver": Action.DELIVER,
    "deliver_with_warning": Action.TAG,
    "hold": Action.HOLD,
    "quarantine": Action.QUARANTINE,
}
_IMPERSONATION_ACTIONS = {
    "deliver": Action.DELIVER,
    "log": Action.DELIVER,
    "tag": Action.TAG,
    "quarantine": Action.QUARANTINE,
}
URL_CATEGORY = "TAP365: Suspicious link"
IMPERSONATION_HEADLINE = "Caution: this message may be impersonating someone you trust."
LINK_HEADLINE = "Caution: this message looks like a lure; its links may not be safe."
ATTACHMENT_HEADLINE = "Caution: an attachment of this message could not be fully analysed."
ATTACHMENT_CATEGORY = "TAP365: Attachment warning"


@dataclass(frozen=True, slots=True)
class TenantContext:
    """What the service knows about the tenant beyond the policy (all optional)."""

    tenant_id: str = ""
    directory: Directory | None = None
    history: SenderHistory | None = None
    org_name: str = "TAP365"
    #: Per-tenant secret fragment that marks our banners (see impersonation.banner).
    banner_token: str = ""


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
    ) -> None:
        self.policy = policy or Policy()
        self.url_protect = UrlProtect(self.policy, intel=intel, codec=codec)
        self.attachment_engine = attachment_engine
        self.tenant = tenant or TenantContext()

    def run(
        self, message: Message, *, tenant_id: str = "", recipient: str = "", now: datetime | None = None
    ) -> Decision:
        policy = self.policy
        tenant_id = tenant_id or self.tenant.tenant_id
        recipient = recipient or (message.to[0].address if message.to else "")
        reasons: list[str] = []
        findings: list[Finding] = []
        actions: list[Action] = []
        verdicts: list[Verdict] = []

        # Attachment Protect first: the URLs it finds inside files (QR codes, archive members,
        # decrypted documents) go to URL Protect too.
        attachments = self._attachments(message)
        extra_urls = attachments.urls if attachments else []

        url_scan = (
            self.url_protect.scan(message, recipient=recipient, extra_urls=extra_urls)
            if policy.url.enabled
            else None
        )
        if url_scan:
            verdicts.append(url_scan.verdict)
            findings.extend(url_scan.findings)
            actions.append(self._url_action(url_scan, reasons))

        if attachments:
            verdicts.append(attachments.verdict)
            actions.append(_ATTACHMENT_ACTIONS.get(attachments.action, Action.HOLD))
            reasons.extend(f"attachments: {r}" for r in attachments.reasons[:5])

        impersonation = self._impersonation(message, tenant_id, now)
        if impersonation is not None:
            action = _IMPERSONATION_ACTIONS.get(impersonation.action, Action.DELIVER)
            actions.append(action)
            if action in (Action.TAG, Action.QUARANTINE):
                verdicts.append(Verdict.SUSPICIOUS)
                names = ", ".join(impersonation.indicator_names)
                reasons.append(f"impersonation: {impersonation.hits} hit(s) ({names})")

        decision = Decision(
            verdict=Verdict.worst(verdicts),
            action=Action.most_severe(actions),
            reasons=reasons,
            findings=findings,
            urls=list(url_scan.results.values()) if url_scan else [],
            url_score=url_scan.message_score if url_scan else 0.0,
            attachments=[result_to_dict(f) for f in attachments.files] if attachments else [],
            impersonation=impersonation.to_json() if impersonation is not None else {},
            needs_sandbox=bool(attachments and attachments.needs_sandbox),
            pipelines={
                "url": url_scan.verdict.value if url_scan else "off",
                "attachments": attachments.verdict.value if attachments else "off",
                "impersonation": impersonation.action if impersonation is not None else "off",
            },
        )
        if url_scan:
            self._rewrite(message, url_scan, decision, tenant_id=tenant_id, recipient=recipient)
        if decision.action is Action.TAG:
            self._tag(message, decision, impersonation, url_scan, attachments)
        if decision.action is Action.DELIVER and (decision.rewritten_html or decision.rewritten_text):
            decision.action = Action.REWRITE
        return decision

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

    def _url_action(self, url_scan: UrlScan, reasons: list[str]) -> Action:
        url_policy = self.policy.url
        bad = [r for r in url_scan.results.values() if r.verdict is not Verdict.CLEAN]
        for r in sorted(bad, key=lambda r: -r.verdict.rank)[:5]:
            reasons.append(f"URL {r.display_url} is {r.verdict.value}: {', '.join(r.reasons)}")
        if url_scan.verdict is not Verdict.CLEAN and not bad:
            names = ", ".join(f.name for f in url_scan.findings)
            reasons.append(f"links in a lure (message URL score {url_scan.message_score}): {names}")
        if url_scan.verdict is Verdict.MALICIOUS:
            return Action(url_policy.malicious_action)
        if url_scan.verdict is Verdict.SUSPICIOUS:
            return Action(url_policy.suspicious_action)
        return Action.DELIVER

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
        withheld = decision.action in (Action.HOLD, Action.QUARANTINE)
        html, text = self.url_protect.rewrite(
            message,
            url_scan,
            tenant_id=tenant_id,
            recipient=recipient,
            rewrite_suspicious=True,
            rewrite_all=withheld,
        )
        if html is not None and html.changed:
            decision.rewritten_html = html.body
        if text is not None and text.changed:
            decision.rewritten_text = text.body

    def _tag(
        self,
        message: Message,
        decision: Decision,
        impersonation: ImpersonationResult | None,
        url_scan: UrlScan | None,
        attachments: AttachmentsAssessment | None,
    ) -> None:
        """Warning banner (HTML and text) naming what was found, plus an Outlook category."""
        indicators: list[Finding] = []
        if impersonation is not None and _IMPERSONATION_ACTIONS.get(impersonation.action) is Action.TAG:
            indicators.extend(impersonation.indicators)
            decision.categories.append(OUTLOOK_CATEGORY)
        if url_scan is not None and url_scan.verdict is not Verdict.CLEAN:
            indicators.extend(url_scan.findings)
            decision.categories.append(URL_CATEGORY)
        if attachments is not None and attachments.action == "deliver_with_warning":
            decision.categories.append(ATTACHMENT_CATEGORY)
        if message.is_signed or message.is_encrypted or not indicators:
            return
        org, token = self.tenant.org_name, self.tenant.banner_token
        headline = IMPERSONATION_HEADLINE if OUTLOOK_CATEGORY in decision.categories else LINK_HEADLINE
        html = decision.rewritten_html or message.html_body
        if html is not None:
            decision.rewritten_html = add_banner_html(
                html, indicators, org_name=org, marker_token=token, headline=headline
            )
        text = decision.rewritten_text or message.text_body
        if text is not None:
            decision.rewritten_text = add_banner_text(text, indicators, org_name=org)


def _has_attachments(message: Message) -> bool:
    return bool(message.attachments) or any(_has_attachments(m) for m in message.attached_messages)
