"""Policies: what each pipeline does for a tenant. Typed, with safe defaults.

A policy file (YAML or JSON) may give any subset; everything omitted keeps its default. The top
level carries what several pipelines share (``internal_domains``, ``vips``, the message
verdict's ``thresholds``); each pipeline has
its own section (``url``, ``attachments``, ``impersonation``), owned by that pipeline's module;
``branding`` is how the click-time pages look.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tap_core.attachments.policy import AttachmentPolicy
from tap_core.click.pages import Branding
from tap_core.detect.scoring import Thresholds
from tap_core.impersonation.policy import ImpersonationPolicy, Vip
from tap_core.urls.policy import UrlPolicy


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the field and what to write."""


class Policy(BaseModel):
    """A tenant's policy. ``Policy()`` is the safe default."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    #: The tenant's own domains (mail between them is internal; lookalikes of them are flagged).
    internal_domains: list[str] = Field(default_factory=list)
    vips: list[Vip] = Field(default_factory=list)
    #: The message verdict's thresholds on the learned model's score (log-odds of phishing):
    #: suspicious (tagged), hold, malicious (quarantined). None: the shipped model's own,
    #: chosen on labelled mail (tap_core/data/detect/message_model.md).
    thresholds: Thresholds | None = None
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



__all__ = ["Policy", "PolicyError", "UrlPolicy", "Vip", "parse_policy"]
