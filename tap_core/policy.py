"""Policies: what each pipeline does for a tenant. Typed, with safe defaults.

A policy file (YAML or JSON) may give any subset; everything omitted keeps its default. The top
level carries what several pipelines share (``internal_domains``, ``vips``); each pipeline has
its own section (``url``, ``attachments``, ``impersonation``), owned by that pipeline's module;
``branding`` is how the click-time pages look.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tap_core.attachments.policy import AttachmentPolicy
from tap_core.click.pages import Branding
from tap_core.impersonation.policy import ImpersonationPolicy, Vip
from tap_core.urls.exclusions import ExclusionError, UrlExclusions


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the field and what to write."""


class UrlThresholdsPolicy(BaseModel):
    """Heuristic score at which a URL becomes SUSPICIOUS / MALICIOUS (feed hits decide alone)."""

    model_config = ConfigDict(extra="forbid")

    suspicious_score: float = 5.0
    malicious_score: float = 9.0


class UrlPolicy(BaseModel):
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
    #: What a message with a MALICIOUS URL gets.
    malicious_action: Literal["quarantine", "hold"] = "quarantine"
    #: What a message with a SUSPICIOUS URL gets: held for deeper analysis by default.
    suspicious_action: Literal["hold", "tag", "rewrite"] = "hold"
    thresholds: UrlThresholdsPolicy = Field(default_factory=UrlThresholdsPolicy)
    #: At click: may a user proceed past a warning page?
    allow_click_through: bool = True
    #: Links older than this are refused at click (0 = never expire).
    link_max_age_days: int = Field(default=0, ge=0)
    #: Limit: URLs analysed per message; the rest are counted as a finding.
    max_urls_per_message: int = Field(default=1000, ge=1)

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


class Policy(BaseModel):
    """A tenant's policy. ``Policy()`` is the safe default."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    #: The tenant's own domains (mail between them is internal; lookalikes of them are flagged).
    internal_domains: list[str] = Field(default_factory=list)
    vips: list[Vip] = Field(default_factory=list)
    url: UrlPolicy = Field(default_factory=UrlPolicy)
    attachments: AttachmentPolicy = Field(default_factory=AttachmentPolicy)
    impersonation: ImpersonationPolicy = Field(default_factory=ImpersonationPolicy)
    #: How the tenant's block, warning and error pages look at click time.
    branding: Branding = Field(default_factory=Branding)

    @field_validator("internal_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().rstrip(".") for d in value if d.strip()]

    def is_internal(self, domain: str) -> bool:
        domain = domain.lower()
        return any(domain == d or domain.endswith("." + d) for d in self.internal_domains)


def parse_policy(data: bytes | str | Mapping[str, Any], *, name: str = "policy") -> Policy:
    """A policy from YAML or JSON text, or an already-parsed mapping (a stored policy).
    Raises :class:`PolicyError` with a readable message."""
    if isinstance(data, Mapping):
        raw: Any = dict(data)
    else:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        try:
            raw = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise PolicyError(f"{name}: not valid YAML or JSON ({exc})") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{name}: a policy is a mapping of settings, not {type(raw).__name__}")
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyError(f"{name}: {problems}") from exc



__all__ = ["Policy", "PolicyError", "UrlPolicy", "UrlThresholdsPolicy", "Vip", "parse_policy"]
