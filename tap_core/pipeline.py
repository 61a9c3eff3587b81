"""Run the pipelines on one message and reach one Decision."""

from __future__ import annotations

from tap_core.decision import Action, Decision
from tap_core.findings import Finding, Verdict
from tap_core.message import Message
from tap_core.policy import Policy
from tap_core.urls.intel import IntelIndex
from tap_core.urls.links import LinkCodec
from tap_core.urls.protect import UrlProtect


class Pipeline:
    """The pipelines for one tenant's policy. Reuse it across messages."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        intel: IntelIndex | None = None,
        codec: LinkCodec | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.url_protect = UrlProtect(self.policy, intel=intel, codec=codec)

    def run(self, message: Message, *, tenant_id: str = "", recipient: str = "") -> Decision:
        policy = self.policy
        recipient = recipient or (message.to[0].address if message.to else "")
        reasons: list[str] = []
        findings: list[Finding] = []
        actions: list[Action] = []

        # URL Protect
        url_scan = self.url_protect.scan(message, recipient=recipient) if policy.url.enabled else None
        url_verdict = url_scan.verdict if url_scan else Verdict.CLEAN
        if url_scan:
            findings.extend(url_scan.findings)
            bad = [r for r in url_scan.results.values() if r.verdict is not Verdict.CLEAN]
            if url_verdict is Verdict.MALICIOUS:
                actions.append(Action(policy.url.malicious_action))
            elif url_verdict is Verdict.SUSPICIOUS:
                actions.append(Action(policy.url.suspicious_action))
            for r in sorted(bad, key=lambda r: -r.verdict.rank)[:5]:
                reasons.append(f"URL {r.display_url} is {r.verdict.value}: {', '.join(r.reasons)}")
            if url_verdict is not Verdict.CLEAN and not bad:
                names = ", ".join(f.name for f in url_scan.findings)
                reasons.append(f"links in a lure (message URL score {url_scan.message_score}): {names}")

        verdict = url_verdict
        action = Action.most_severe(actions)
        decision = Decision(verdict=verdict, action=action, reasons=reasons, findings=findings,
                            urls=list(url_scan.results.values()) if url_scan else [],
                            url_score=url_scan.message_score if url_scan else 0.0)
        if action in (Action.DELIVER, Action.REWRITE, Action.TAG) and url_scan:
            self._rewrite(message, url_scan, decision, tenant_id=tenant_id, recipient=recipient)
        if decision.action is Action.DELIVER and (decision.rewritten_html or decision.rewritten_text):
            decision.action = Action.REWRITE
        return decision

    def _rewrite(self, message: Message, url_scan, decision: Decision, *, tenant_id: str,
                 recipient: str) -> None:
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
        html, text = self.url_protect.rewrite(
            message, url_scan, tenant_id=tenant_id, recipient=recipient,
            rewrite_suspicious=decision.action is not Action.HOLD,
        )
        if html is not None and html.changed:
            decision.rewritten_html = html.body
        if text is not None and text.changed:
            decision.rewritten_text = text.body
