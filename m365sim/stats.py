"""Request and notification counters exposed at ``GET /_sim/stats``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DeliveryStats:
    """Per-subscription notification delivery numbers."""

    notifications: int = 0  # change/lifecycle notifications generated
    attempts: int = 0  # HTTP POSTs made (retries included)
    delivered: int = 0
    failures: int = 0  # non-2xx, timeouts and connection errors
    slow: int = 0  # answered after slow_notification_seconds (Graph: 2.9 s)
    retries: int = 0
    gave_up: int = 0  # retry window exhausted
    dropped_by_fault: int = 0
    duplicates_by_fault: int = 0
    dropped_slow_endpoint: int = 0
    skipped_inactive: int = 0  # subscription removed/expired/needs reauthorization
    lifecycle: int = 0
    last_status: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class MessageEffects:
    """Successful mailbox effects Graph applied to one message (by immutable id, so a move,
    which changes the REST id, keeps counting on the same message)."""

    user: str
    body_patches: int = 0
    category_writes: int = 0
    moves: Counter[str] = field(default_factory=Counter)  # destination folder name -> moves

    def as_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "body_patches": self.body_patches,
            "category_writes": self.category_writes,
            "moves": dict(self.moves),
        }


@dataclass
class Stats:
    total: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_mailbox: Counter[str] = field(default_factory=Counter)
    by_app: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    batch_subrequests: int = 0
    token_requests: Counter[str] = field(default_factory=Counter)
    notifications: dict[str, DeliveryStats] = field(default_factory=dict)
    faults_fired: Counter[str] = field(default_factory=Counter)  # by kind (faults.py)
    effects: dict[str, MessageEffects] = field(default_factory=dict)  # immutable id -> effects

    def effects_of(self, immutable_id: str, user: str) -> MessageEffects:
        return self.effects.setdefault(immutable_id, MessageEffects(user))

    def delivery(self, subscription_id: str) -> DeliveryStats:
        return self.notifications.setdefault(subscription_id, DeliveryStats())

    def count_request(self, route: str, mailbox: str | None, app: str | None) -> None:
        self.total += 1
        self.by_route[route] += 1
        if mailbox:
            self.by_mailbox[mailbox] += 1
        if app:
            self.by_app[app] += 1

    def as_dict(self) -> dict[str, Any]:
        totals = DeliveryStats()
        for item in self.notifications.values():
            for key, value in item.__dict__.items():
                if key != "last_status":
                    setattr(totals, key, getattr(totals, key) + value)
        return {
            "requests": {
                "total": self.total,
                "by_route": dict(self.by_route),
                "by_mailbox": dict(self.by_mailbox),
                "by_app": dict(self.by_app),
                "by_status": dict(self.by_status),
                "throttled": dict(self.throttled),
                "faults": dict(self.faults),
                "batch_subrequests": self.batch_subrequests,
            },
            "token_requests": dict(self.token_requests),
            # error_rate faults are counted by route in requests.faults; the chaos kinds here.
            "faults_fired": {**self.faults_fired, "error_rate": sum(self.faults.values())},
            "notifications": {
                "by_subscription": {k: v.as_dict() for k, v in self.notifications.items()},
                "totals": {k: v for k, v in totals.as_dict().items() if k != "last_status"},
            },
        }
