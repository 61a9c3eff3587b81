"""Attachment Protect policy: what the verdicts of static analysis lead to, per tenant or group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tap_core.attachments.model import FILE_THRESHOLDS, ScanLimits
from tap_core.detect.scoring import Thresholds

#: Actions of the one vocabulary (:class:`tap_core.model.decision.Action`) a file can lead to:
#: deliver, tag (deliver with a warning banner and category), hold, quarantine.
AttachmentAction = Literal["deliver", "tag", "hold", "quarantine"]
#: Policies written before the one vocabulary said "deliver_with_warning" for "tag".
_LEGACY_ACTIONS = {"deliver_with_warning": "tag"}

#: File families worth a sandbox run in Dynamic mode (also when found inside an archive).
DEFAULT_SANDBOX_FAMILIES = ["executable", "script", "shortcut", "office", "document", "disk_image"]


class AttachmentPolicy(BaseModel):
    """Safe defaults: Dynamic analysis, malicious -> quarantine, suspicious -> hold, no sandbox
    verdict (time-out, or no sandbox for the file) -> delivered with a warning.

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
    malicious_action: AttachmentAction = "quarantine"
    suspicious_action: AttachmentAction = "hold"
    #: A password-protected archive or document no candidate password opened.
    encrypted_archive_action: AttachmentAction = "hold"
    #: A scan limit was hit (bomb, nesting, size, time): the content was not all seen.
    limit_action: AttachmentAction = "hold"
    #: When the sandbox does not answer in time, or no configured sandbox can run the file: tag
    #: (deliver with the "not fully analysed" banner and category, with the reason) or hold (an
    #: admin decides). Tag by default, so a deployment without a sandbox never holds clean mail.
    timeout_action: Literal["tag", "hold"] = "tag"
    sandbox_timeout_seconds: int = Field(default=300, ge=30, le=420)
    sandbox_families: list[str] = Field(default_factory=lambda: list(DEFAULT_SANDBOX_FAMILIES))
    limits: ScanLimits = Field(default_factory=ScanLimits)
    #: Scores at which a file becomes SUSPICIOUS / MALICIOUS (5 and 15 unless given).
    thresholds: Thresholds = Field(default=FILE_THRESHOLDS)

    @field_validator("thresholds", mode="before")
    @classmethod
    def _threshold_defaults(cls, value: Any) -> Any:
        """A policy may give one threshold; the other keeps the file default."""
        if isinstance(value, Mapping):
            value = dict(value)
            for key in ("suspicious", "malicious"):
                if key not in value and f"{key}_score" not in value:
                    value[key] = getattr(FILE_THRESHOLDS, key)
        return value

    @field_validator(
        "malicious_action", "suspicious_action", "encrypted_archive_action", "limit_action", "timeout_action",
        mode="before",
    )
    @classmethod
    def _one_vocabulary(cls, value: object) -> object:
        return _LEGACY_ACTIONS.get(value, value) if isinstance(value, str) else value

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
