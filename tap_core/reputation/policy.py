"""The ``reputation:`` section of a tenant policy: domain age (RDAP) and first contact across the
organisation. ``ReputationPolicy()`` is the default."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ReputationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Look up the registration dates of the sender's and the links' domains (when the service
    #: has a registry configured: ``TAP365_RDAP_ENABLED``).
    domain_age: bool = True
    #: A domain registered fewer days ago than this is ``domain_registered_recently``.
    registered_recently_days: int = Field(default=30, ge=1, le=3650)
    #: ... and fewer than this, its stronger variant (``days``).
    registered_very_recently_days: int = Field(default=7, ge=1, le=3650)
    #: Most distinct registered domains looked up for one message (the sender's first, then the
    #: links' in the order the message gives them); the rest are named as not looked up.
    max_domains_per_message: int = Field(default=8, ge=1, le=50)
    #: Weigh first contact across the organisation (``org_first_seen_*``) when the service
    #: keeps the tenant's history.
    first_seen: bool = True
    #: A domain or address first delivered fewer hours ago than this still counts as first seen
    #: (the first copies of a campaign must not make the rest familiar).
    first_seen_grace_hours: int = Field(default=24, ge=0, le=24 * 30)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.registered_very_recently_days > self.registered_recently_days:
            raise ValueError("registered_very_recently_days must not exceed registered_recently_days")
        return self


__all__ = ["ReputationPolicy"]
