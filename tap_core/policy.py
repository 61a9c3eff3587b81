"""Policies: what each pipeline does for a tenant. Typed, with safe defaults.

A policy file (YAML or JSON) may give any subset; everything omitted keeps its default. The top
level carries what several pipelines share (``internal_domains``, ``vips``, the message
verdict's ``thresholds``); each pipeline has its own section (``url``, ``attachments``,
``impersonation``, ``reputation``), owned by that pipeline's module;
``branding`` is how the click-time pages look; ``limits`` bound what one message may make the
parser do (a limit reached holds the message with the reason).

A policy document is at most :data:`MAX_POLICY_BYTES`; every score threshold is finite, file
and URL thresholds are positive (a threshold at or below zero flags everything), and each set
is ordered (suspicious <= hold <= malicious).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tap_core.attachments.policy import AttachmentPolicy
from tap_core.click.pages import Branding
from tap_core.detect.scoring import Thresholds
from tap_core.impersonation.policy import ImpersonationPolicy, Vip
from tap_core.parsing.mime import MimeLimits
from tap_core.reputation.policy import ReputationPolicy
from tap_core.urls.policy import UrlPolicy

#: The largest policy document accepted (YAML or JSON text). Storage keeps at most 1 MiB of its
#: canonical form (indented JSON), up to five times the text a person writes (a list of short
#: domains in YAML flow style grows the most).
MAX_POLICY_BYTES = 128 * 1024
#: The message thresholds are log-odds of phishing (the shipped model's lie within +-3; far
#: beyond it a threshold means "never").
_MESSAGE_THRESHOLD_RANGE = 1000.0


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the field and what to write."""


def _plausible(entry: str) -> bool:
    """``entry`` reads as one address or domain: no whitespace or list and display separators,
    a dot in its domain, and a local part before an ``@`` if it has one."""
    local, at, domain = entry.rpartition("@")
    return not any(c.isspace() or c in "<>,;" for c in entry) and "." in domain and not (at and not local)


def _sender_entry(raw: str) -> str:
    """One ``blocked_senders`` entry, lower-case: an address or a domain ("" for a blank one)."""
    entry = raw.strip().lower().lstrip("@").rstrip(".")
    if raw.strip() and (not entry or not _plausible(entry)):
        raise ValueError(f"{raw!r} is neither an address (name@example.com) nor a domain (example.com)")
    return entry


class Notices(BaseModel):
    """Who is told when a message is kept from its recipient (like Defender's quarantine
    notifications): the person gets a short mail that a message for them is held and why (the
    message itself stays out of reach). Quarantined mail is not announced to the person by
    default, as Defender's admin-only policy does for malware and high-confidence phish: a notice
    would draw the person to a threat only an admin may release."""

    model_config = ConfigDict(extra="forbid")

    recipient_on_hold: bool = True
    recipient_on_quarantine: bool = False
    #: One mail a day to each person listing what was held or quarantined for them in the last
    #: 24 hours, each with a signed "request release" link (connectors/service/digests.py).
    daily_digest: bool = True
    #: Days a digest's "request release" link stays good.
    release_link_days: int = Field(default=7, ge=1, le=30)
    #: Messages one digest lists at most (it says how many more there are).
    digest_max_messages: int = Field(default=50, ge=1, le=500)
    #: A person may release a message held as SUSPICIOUS for them at once, without an admin.
    #: MALICIOUS mail is never theirs to release, whatever this says.
    self_release_suspicious: bool = False


class Reports(BaseModel):
    """User-reported phishing (connectors/service/reports.py): the shared mailbox that Outlook's
    Report button (or a forward) sends reports to. Mail in it is triaged as a report, never
    rewritten or held: it quotes the very lures it reports. Empty: no reporting mailbox."""

    model_config = ConfigDict(extra="forbid")

    mailbox: str = ""
    #: A report's attachment larger than this is not read (the report is recorded as too
    #: large, and answered): one report must not tie up a worker.
    max_attachment_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, le=150 * 1024 * 1024)

    @field_validator("mailbox")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip().lower()
        if value and ("@" not in value or not _plausible(value)):
            raise ValueError(f"{value!r} is not a mailbox address (phish-report@contoso.com)")
        return value


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
    #: Domain age (RDAP) and first contact across the organisation.
    reputation: ReputationPolicy = Field(default_factory=ReputationPolicy)
    #: How the tenant's block, warning and error pages look at click time.
    branding: Branding = Field(default_factory=Branding)
    #: What one message may make the parser do (MIME depth and parts, header lines, bytes and
    #: encoded words); a message that reaches a limit is held with the reason.
    limits: MimeLimits = Field(default_factory=MimeLimits)
    #: Notices to the person a held or quarantined message was for.
    notices: Notices = Field(default_factory=Notices)
    #: Senders the tenant blocks: an address (``a@b.example``) or a domain (``b.example``, its
    #: subdomains too). Mail from them is MALICIOUS (``sender_blocked_by_policy``).
    blocked_senders: list[Annotated[str, AfterValidator(_sender_entry)]] = Field(default_factory=list)
    #: The reporting mailbox for user-reported phishing.
    reports: Reports = Field(default_factory=Reports)

    @field_validator("internal_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().rstrip(".") for d in value if d.strip()]

    @field_validator("blocked_senders")
    @classmethod
    def _blocked_senders(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(e for e in value if e))

    @model_validator(mode="after")
    def _thresholds_in_range(self) -> Self:
        """Every threshold finite, the score-point ones positive (ordering is checked by
        ``Thresholds`` itself)."""
        sets: list[tuple[str, Thresholds | None, float, float]] = [
            ("thresholds", self.thresholds, -_MESSAGE_THRESHOLD_RANGE, _MESSAGE_THRESHOLD_RANGE),
            ("url.thresholds", self.url.thresholds, 0.0, math.inf),
            ("attachments.thresholds", self.attachments.thresholds, 0.0, math.inf),
        ]
        for where, thresholds, low, high in sets:
            if thresholds is None:
                continue
            for key in ("suspicious", "hold", "malicious"):
                value = getattr(thresholds, key)
                if value is None:
                    continue
                if not math.isfinite(value) or not low < value <= high:
                    bound = f"above {low:g}" + (f" and at most {high:g}" if math.isfinite(high) else "")
                    raise ValueError(f"{where}.{key} is {value}; it must be a number {bound}")
        return self

    def is_internal(self, domain: str) -> bool:
        domain = domain.lower()
        return any(domain == d or domain.endswith("." + d) for d in self.internal_domains)


def parse_policy(data: bytes | str | Mapping[str, Any], *, name: str = "policy") -> Policy:
    """A policy from YAML or JSON text, or an already-parsed mapping (a stored policy).
    Raises :class:`PolicyError` with a readable message."""
    if isinstance(data, Mapping):
        raw: Any = dict(data)
    else:
        size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
        if size > MAX_POLICY_BYTES:
            raise PolicyError(f"{name}: the document is {size} bytes; a policy is at most {MAX_POLICY_BYTES}")
        import yaml  # only a policy document needs it (13 ms of every start otherwise)

        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            raw = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
        except UnicodeDecodeError as exc:
            raise PolicyError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise PolicyError(f"{name}: not valid YAML or JSON ({exc})") from exc
        except RecursionError as exc:  # a nesting no policy has
            raise PolicyError(f"{name}: nested too deeply to be a policy") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{name}: a policy is a mapping of settings, not {type(raw).__name__}")
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" if err["loc"] else err["msg"]
            for err in exc.errors()
        )
        raise PolicyError(f"{name}: {problems}") from exc



__all__ = ["Policy", "PolicyError", "UrlPolicy", "Vip", "parse_policy"]
