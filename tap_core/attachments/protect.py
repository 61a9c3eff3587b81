"""Attachment Protect for one message: scan every attachment, apply the policy, say what to do.

The sender used for trust is the From address; a spoofed From is Impersonation Protect's job.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, Field, computed_field

from tap_core.attachments.engine import AttachmentEngine, rescore
from tap_core.attachments.filetype import file_rules
from tap_core.attachments.model import FileResult, FileUrl
from tap_core.attachments.passwords import message_passwords
from tap_core.attachments.policy import AttachmentPolicy
from tap_core.model.decision import Action
from tap_core.model.findings import Verdict
from tap_core.model.message import Attachment, Message

_LIMIT_FINDINGS = frozenset(
    {
        "limit_depth",
        "limit_files",
        "limit_total_bytes",
        "limit_file_size",
        "limit_ratio",
        "limit_time",
        "limit_message_parse",
        "attachment_truncated",
    }
)
_ENCRYPTED_FINDINGS = frozenset({"encrypted_archive", "encrypted_document"})


class AttachmentUrl(FileUrl):
    """A URL found inside an attachment, for URL Protect: the :class:`FileUrl` and the ``file`` it
    was found in, path-qualified for members (``a.zip/b.pdf``). ``source`` says where in the
    form URL Protect reports its sources, ``attachment:<file>:<context>``."""

    #: The attachment's display name (:func:`iter_attachments`), path-qualified for members.
    file: str

    @computed_field  # type: ignore[prop-decorator]  # mypy reads no decorator above @property
    @property
    def source(self) -> str:
        """``attachment:<file>:<context>``."""
        return f"attachment:{self.file}:{self.context}"


class AttachmentsAssessment(BaseModel):
    """The outcome of Attachment Protect's static stage for one message."""

    verdict: Verdict = Verdict.CLEAN
    score: float = 0.0
    action: Action = Action.DELIVER
    #: Why the action was chosen, in words, strictest first.
    reasons: list[str] = Field(default_factory=list)
    files: list[FileResult] = Field(default_factory=list)
    #: URLs found inside attachments, distinct, first seen first.
    urls: list[str] = Field(default_factory=list)
    #: Every URL found inside attachments with where it was found (one per URL and place), for
    #: URL Protect: the engine is the one extractor of attachment URLs.
    found_urls: list[AttachmentUrl] = Field(default_factory=list)
    #: Dynamic mode and at least one file worth detonating.
    needs_sandbox: bool = False
    #: sha256 of the files (attachments or extracted children) to detonate.
    sandbox_files: list[str] = Field(default_factory=list)
    sandbox_timeout_seconds: int = 0
    bypassed: bool = False


def iter_attachments(message: Message, prefix: str = "") -> Iterator[tuple[str, Attachment]]:
    """Attachments of the message and of the messages attached to it, with display names."""
    for attachment in message.attachments:
        yield f"{prefix}{attachment.name or 'attachment'}", attachment
    for index, inner in enumerate(message.attached_messages):
        yield from iter_attachments(inner, f"{prefix}{inner.subject or f'message-{index + 1}'}/")


def assess_attachments(
    message: Message, engine: AttachmentEngine, policy: AttachmentPolicy
) -> AttachmentsAssessment:
    """Scan the message's attachments and decide the action under ``policy``."""
    sender = message.from_address.address if message.from_address else ""
    bypassed = policy.mode == "bypass" or policy.is_trusted_sender(sender)
    passwords = message_passwords(message, limit=policy.limits.max_passwords)
    result = AttachmentsAssessment(bypassed=bypassed)
    actions: list[tuple[Action, str]] = []
    for name, attachment in iter_attachments(message):
        scanned = rescore(engine.scan(name, attachment.data, passwords=passwords), policy.thresholds)
        if attachment.truncated:
            scanned = _mark_truncated(scanned, policy)
        result.files.append(scanned)
        actions += _file_actions(scanned, policy, bypassed)
        if policy.mode == "dynamic" and not bypassed and scanned.verdict is not Verdict.MALICIOUS:
            result.sandbox_files += _detonation_targets(scanned, policy)
    result.verdict = Verdict.worst([f.verdict for f in result.files])
    result.score = max((f.score for f in result.files), default=0.0)
    result.found_urls = list(
        dict.fromkeys(
            AttachmentUrl(url=found.url, context=found.context, link_text=found.link_text, file=path)
            for f in result.files
            for path, found in f.url_sources()
        )
    )
    result.urls = list(dict.fromkeys(found.url for found in result.found_urls))
    result.sandbox_files = list(dict.fromkeys(result.sandbox_files))
    if result.sandbox_files:
        result.needs_sandbox = True
        result.sandbox_timeout_seconds = policy.sandbox_timeout_seconds
        actions.append((Action.HOLD, f"held for dynamic analysis of {len(result.sandbox_files)} file(s)"))
    if policy.mode == "monitor":
        actions = [(Action.DELIVER, f"monitor mode ({reason})") for _, reason in actions]
    actions.sort(key=lambda item: item[0].rank, reverse=True)
    result.action = actions[0][0] if actions else Action.DELIVER
    result.reasons = [reason for _, reason in actions]
    return result


def _file_actions(scanned: FileResult, policy: AttachmentPolicy, bypassed: bool) -> list[tuple[Action, str]]:
    names = {f.name for node in scanned.walk() for f in node.findings}
    deciding = any(f.verdict is Verdict.MALICIOUS for node in scanned.walk() for f in node.findings)
    actions: list[tuple[Action, str]] = []
    if bypassed or scanned.type in policy.bypass_file_types:
        if deciding:
            actions.append((Action(policy.malicious_action), f"{scanned.name}: known malware"))
        return actions
    top = ", ".join(_top(scanned))
    if scanned.verdict is Verdict.MALICIOUS:
        actions.append((Action(policy.malicious_action), f"{scanned.name}: malicious ({top})"))
    elif scanned.verdict is Verdict.SUSPICIOUS:
        actions.append((Action(policy.suspicious_action), f"{scanned.name}: suspicious ({top})"))
    if names & _ENCRYPTED_FINDINGS:
        encrypted = Action(policy.encrypted_archive_action)
        actions.append((encrypted, f"{scanned.name}: encrypted content not opened"))
    if names & _LIMIT_FINDINGS:
        actions.append(
            (
                Action(policy.limit_action),
                f"{scanned.name}: scan limit reached ({', '.join(sorted(names & _LIMIT_FINDINGS))})",
            )
        )
    return actions


def _top(scanned: FileResult, count: int = 4) -> list[str]:
    findings = sorted(scanned.all_findings(), key=lambda f: f.score, reverse=True)
    return list(dict.fromkeys(f.name for f in findings))[:count]


def _detonation_targets(scanned: FileResult, policy: AttachmentPolicy) -> list[str]:
    """The outermost files of a family worth detonating (an archive is detonated through its content)."""
    if scanned.type in policy.bypass_file_types:
        return []
    if scanned.family in policy.sandbox_families:
        return [scanned.sha256]
    return [sha for child in scanned.children for sha in _detonation_targets(child, policy)]


def _mark_truncated(scanned: FileResult, policy: AttachmentPolicy) -> FileResult:
    finding = file_rules()["attachment_truncated"].finding(scanned.name)
    return rescore(scanned.model_copy(update={"findings": [*scanned.findings, finding]}), policy.thresholds)
