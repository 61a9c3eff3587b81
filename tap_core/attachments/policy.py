"""Attachment Protect policy: what the verdicts of static analysis lead to, per tenant or group."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tap_core.attachments.model import AttachmentThresholds, ScanLimits

Action = Literal["deliver", "deliver_with_warning", "hold", "quarantine"]
ACTION_RANK: dict[str, int] = {"deliver": 0, "deliver_with_warning": 1, "hold": 2, "quarantine": 3}

#: File families worth a sandbox run in Dynamic mode (also when found inside an archive).
DEFAULT_SANDBOX_FAMILIES = ["executable", "script", "shortcut", "office", "document", "disk_image"]


class AttachmentPolicy(BaseModel):
    """Safe defaults: Dynamic analysis, malicious -> quarantine, anything unclear -> hold.

    Modes: ``dynamic`` (static analysis, then a sandbox for files worth detonating), ``safe_file``
    (static analysis; delivery of a converted copy is decided by the Safe File step), ``monitor``
    (analyse and report, always deliver) and ``bypass`` (no sandbox, no score-based action; files
    that a deciding finding marks malicious — known hash, antivirus, malware YARA rule — are still
    quarantined). Extra YARA rule files are deployment settings, not policy.
    """

    model_config = ConfigDict(extra="forbid")  # a misspelt key must not silently fall back

    mode: Literal["safe_file", "dynamic", "bypass", "monitor"] = "dynamic"
    #: Senders (addresses) and sender domains treated as ``bypass``.
    trusted_senders: list[str] = Field(default_factory=list)
    trusted_domains: list[str] = Field(default_factory=list)
    #: Content types (``FileResult.type``, e.g. ``pdf``) neither sandboxed nor held on score alone.
    bypass_file_types: list[str] = Field(default_factory=list)
    malicious_action: Action = "quarantine"
    suspicious_action: Action = "hold"
    #: A password-protected archive or document no candidate password opened.
    encrypted_archive_action: Action = "hold"
    #: A scan limit was hit (bomb, nesting, size, time): the content was not all seen.
    limit_action: Action = "hold"
    #: When the sandbox does not answer in time.
    timeout_action: Literal["deliver_with_warning", "hold"] = "hold"
    sandbox_timeout_seconds: int = Field(default=300, ge=30, le=420)
    sandbox_families: list[str] = Field(default_factory=lambda: list(DEFAULT_SANDBOX_FAMILIES))
    limits: ScanLimits = Field(default_factory=ScanLimits)
    thresholds: AttachmentThresholds = Field(default_factory=AttachmentThresholds)

    @field_validator("trusted_senders", "trusted_domains", "bypass_file_types")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        return [v.strip().lower().lstrip("@") for v in values if v.strip()]

    def is_trusted_sender(self, address: str) -> bool:
        address = address.strip().lower()
        domain = address.rpartition("@")[2]
        if address and address in self.trusted_senders:
            return True
        return bool(domain) and any(domain == d or domain.endswith("." + d) for d in self.trusted_domains)
