"""The ``url:`` section of a tenant policy: rewriting, exclusions, URL thresholds, click-time options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tap_core.detect.scoring import Thresholds
from tap_core.urls.exclusions import ExclusionError, UrlExclusions

#: A URL's thresholds when the policy gives none (feed hits decide alone).
DEFAULT_THRESHOLDS = Thresholds(suspicious=5.0, malicious=9.0)


class UrlPolicy(BaseModel):
    """URL Protect's section of the tenant policy. ``UrlPolicy()`` is the safe default."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: Rewrite clean links through the click-time redirector.
    rewrite: bool = True
    #: Rewrite links in mail between the tenant's own domains too (Defender's default: on).
    rewrite_internal: bool = True
    #: Links inside attachments are scanned but never rewritten: the files stay byte-identical
    #: (signatures, hashes and macros intact). Accepted only as false.
    rewrite_attachments: Literal[False] = False
    #: S/MIME-signed or encrypted messages are never edited (it would break the signature).
    rewrite_smime: Literal[False] = False
    #: The one exclusion list: excluded URLs are not rewritten, not scanned and not analysed
    #: at click. Wildcards as in :mod:`tap_core.urls.exclusions`.
    do_not_rewrite: list[str] = Field(default_factory=list)
    #: What a message whose verdict is MALICIOUS gets (malware: ``attachments.malicious_action``).
    malicious_action: Literal["quarantine", "hold"] = "quarantine"
    #: What a SUSPICIOUS message at or above the hold threshold gets: held for deeper analysis
    #: by default (below it, a SUSPICIOUS message is tagged).
    suspicious_action: Literal["hold", "tag", "rewrite"] = "hold"
    #: Score at which a URL becomes SUSPICIOUS / MALICIOUS (feed hits decide alone); policy
    #: files may write ``suspicious_score`` / ``malicious_score``.
    thresholds: Thresholds = DEFAULT_THRESHOLDS
    #: At click: may a user proceed past a warning page?
    allow_click_through: bool = True
    #: Links older than this are refused at click (0 = never expire).
    link_max_age_days: int = Field(default=0, ge=0)
    #: Limit: URLs analysed per message; the rest are counted as a finding.
    max_urls_per_message: int = Field(default=1000, ge=1)

    @field_validator("thresholds", mode="before")
    @classmethod
    def _threshold_defaults(cls, value: Any) -> Any:
        """A policy may give one threshold; the other keeps its default."""
        if isinstance(value, Mapping):
            value = dict(value)
            for key, default in (
                ("suspicious", DEFAULT_THRESHOLDS.suspicious),
                ("malicious", DEFAULT_THRESHOLDS.malicious),
            ):
                if key not in value and f"{key}_score" not in value:
                    value[key] = default
        return value

    @field_validator("do_not_rewrite")
    @classmethod
    def _valid_exclusions(cls, value: list[str]) -> list[str]:
        try:
            UrlExclusions(value)
        except ExclusionError as exc:
            raise ValueError(str(exc)) from exc
        return value

    def exclusions(self) -> UrlExclusions:
        return UrlExclusions(self.do_not_rewrite)
