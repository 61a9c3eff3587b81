"""The Impersonation Protect policy: who is protected, which indicators count, what happens.

The tenant policy file carries ``internal_domains`` and ``vips`` at its top level (shared with the
other pipelines) and this model as its ``impersonation:`` section; :func:`assess_impersonation`
takes the shared parts as arguments.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tap_core.lookalike.domains import LookalikeRules

#: The indicator names: a public contract (findings, JSON output, SIEM fields).
DISPLAY_NAME_VIP = "display_name_vip"
DISPLAY_NAME_INTERNAL_USER = "display_name_internal_user"
DOMAIN_SIMILARITY = "domain_similarity"
REPLY_TO_MISMATCH = "reply_to_mismatch"
NEWLY_OBSERVED_SENDER = "newly_observed_sender"
THREAT_DICTIONARY = "threat_dictionary"
AUTH_FAILURE = "auth_failure"

IndicatorName = Literal[
    "display_name_vip",
    "display_name_internal_user",
    "domain_similarity",
    "reply_to_mismatch",
    "newly_observed_sender",
    "threat_dictionary",
    "auth_failure",
]
INDICATORS: tuple[str, ...] = (
    DISPLAY_NAME_VIP,
    DISPLAY_NAME_INTERNAL_USER,
    DOMAIN_SIMILARITY,
    REPLY_TO_MISMATCH,
    NEWLY_OBSERVED_SENDER,
    THREAT_DICTIONARY,
    AUTH_FAILURE,
)


#: What Impersonation Protect may do with a message, in the one action vocabulary
#: (:class:`tap_core.model.decision.Action`): LOG delivers and records the hits.
ImpersonationAction = Literal["quarantine", "tag", "log", "deliver"]


class Vip(BaseModel):
    """A protected person: the name attackers put in the From display name, and their addresses.

    ``aliases`` holds other names ("Bob Smith") and other addresses of the same person.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    email: str = ""
    aliases: list[str] = Field(default_factory=list)


class NameMatching(BaseModel):
    """Fuzzy thresholds for display names (rapidfuzz ratios, 0-100)."""

    model_config = ConfigDict(extra="forbid")

    #: Whole normalised name against whole name (token order ignored).
    name_ratio: float = Field(default=90.0, ge=50, le=100)
    #: One name part (given name or surname) against the protected person's.
    part_ratio: float = Field(default=85.0, ge=50, le=100)
    #: Name parts shorter than this must match exactly (after folding): "Ann" vs "Anna" differ.
    part_fuzzy_min_len: int = Field(default=5, ge=1)


class ImpersonationPolicy(BaseModel):
    """The ``impersonation:`` section of a tenant policy. ``ImpersonationPolicy()`` is the default."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: Whose inbound mail is protected: everyone, members of ``target_groups``, or VIPs only.
    targets: Literal["everyone", "groups", "vips"] = "everyone"
    #: Group names or addresses (resolved through the Directory) when ``targets`` is "groups".
    target_groups: list[str] = Field(default_factory=list)
    #: Hits needed for ``action_at_threshold``. None: 1 for VIP policies, 3 otherwise.
    hit_threshold: int | None = Field(default=None, ge=1, le=7)
    action_at_threshold: ImpersonationAction = "quarantine"
    #: For 1 hit up to the threshold.
    action_below_threshold: ImpersonationAction = "log"
    #: Indicators not evaluated at all.
    disabled_indicators: list[IndicatorName] = Field(default_factory=list)

    #: Senders never assessed: addresses, or ``@domain`` / ``domain`` for a whole domain.
    trusted_senders: list[str] = Field(default_factory=list)
    trusted_domains: list[str] = Field(default_factory=list)
    #: External domains protected like internal ones against lookalikes (partners, banks).
    monitored_domains: list[str] = Field(default_factory=list)

    #: A sender (domain, or address at a freemail provider) first seen less than this many
    #: days ago is newly observed.
    newly_observed_days: int = Field(default=7, ge=1)
    #: What counts as "seen before": the sender's registered domain, its address, or "auto"
    #: (the address at freemail providers, the domain elsewhere).
    newly_observed_scope: Literal["auto", "address", "domain"] = "auto"
    #: Prior correspondence between recipient and sender suppresses the display-name indicators.
    mailbox_intelligence: bool = True

    #: Display names: fuzzy thresholds.
    name_matching: NameMatching = Field(default_factory=NameMatching)
    #: Domains: edit-distance and word rules.
    domain_matching: LookalikeRules = Field(default_factory=LookalikeRules)

    #: Extra threat-dictionary terms (strong: one is enough); words or phrases, any language.
    extra_threat_terms: list[str] = Field(default_factory=list)
    #: Extra weak terms (two distinct weak terms, or one with a strong term, are needed).
    extra_weak_threat_terms: list[str] = Field(default_factory=list)
    #: Languages of the shipped dictionary to use; empty means all shipped ones.
    threat_languages: list[str] = Field(default_factory=list)

    #: Also require the Return-Path domain to align with From (bulk and list mail rarely do);
    #: when off only a freemail Return-Path on a corporate From counts.
    strict_return_path: bool = False
    #: A message without any Authentication-Results header counts as an auth failure (on for
    #: tenants whose gateway always stamps one; mail read from files usually has none).
    require_authentication_results: bool = False

    @field_validator("trusted_senders", "trusted_domains", "monitored_domains", "target_groups")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.strip().lower().rstrip(".") for v in value if v.strip()]

    @property
    def threshold(self) -> int:
        if self.hit_threshold is not None:
            return self.hit_threshold
        return 1 if self.targets == "vips" else 3

    def indicator_enabled(self, name: str) -> bool:
        return name not in self.disabled_indicators

    def action_for(self, hits: int) -> ImpersonationAction:
        if hits >= self.threshold:
            return self.action_at_threshold
        if hits > 0:
            return self.action_below_threshold
        return "deliver"
