"""Deterministic fault injection (``POST /_sim/faults``).

Graph faults: ``error_rate`` (one status, ``error_status``), and for chaos runs a mix of
``throttle_rate`` (429 with ``Retry-After``), ``server_error_rate`` (a 5xx from
``server_error_statuses``) and ``timeout_rate`` (the request hangs ``timeout_seconds``, longer
than the client waits, then fails without effect); ``timeout_after_effect_rate`` hangs and fails
a request that was applied (the client cannot know it was). Notification faults: drops (with
``missed_on_drop`` the subscription's lifecycle URL gets a ``missed`` event, as Graph sends when
it could not deliver) and duplicates of up to ``duplicate_max_copies`` copies. Every fault that
fires is counted by kind in ``Stats.faults_fired`` (``GET /_sim/stats`` → ``faults_fired``), which
survives a change of fault profile.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .errors import GraphError

ERROR_CODES = {
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceNotAvailable",
    504: "GatewayTimeout",
}
_RATES = (
    "error_rate",
    "drop_notifications_rate",
    "duplicate_notifications_rate",
    "throttle_rate",
    "server_error_rate",
    "timeout_rate",
    "timeout_after_effect_rate",
)


@dataclass
class Faults:
    error_rate: float = 0.0
    error_status: int = 503
    latency_ms: float = 0.0
    drop_notifications_rate: float = 0.0
    duplicate_notifications_rate: float = 0.0
    delay_notifications_ms: float = 0.0
    # fnmatch patterns against "METHOD /v1.0/template" (e.g. "PATCH /v1.0/users/{id}/messages/*");
    # empty = every Graph route (not the token endpoint unless named explicitly).
    routes: list[str] = field(default_factory=list)
    seed: int = 0
    # Chaos mix (see the module docstring); all off by default.
    throttle_rate: float = 0.0
    retry_after_seconds: int = 1
    server_error_rate: float = 0.0
    server_error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503, 504])
    timeout_rate: float = 0.0
    timeout_seconds: float = 5.0
    # The request IS applied, then its answer hangs timeout_seconds and is a 504: the client
    # cannot tell whether it happened (Graph can time out after doing the work).
    timeout_after_effect_rate: float = 0.0
    # A duplicated notification arrives 2..duplicate_max_copies times.
    duplicate_max_copies: int = 2
    missed_on_drop: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)  # noqa: S311 - test RNG

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        known = {k for k in cls.__dataclass_fields__ if k != "rng"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        faults = cls(**{k: v for k, v in data.items() if k in known})
        for name in _RATES:
            value = getattr(faults, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if not isinstance(faults.routes, list):
            raise ValueError("routes must be a list")
        statuses = faults.server_error_statuses
        if not isinstance(statuses, list) or not statuses or not all(
            isinstance(s, int) and 500 <= s <= 599 for s in statuses
        ):
            raise ValueError("server_error_statuses must be a non-empty list of 5xx statuses")
        if not isinstance(faults.duplicate_max_copies, int) or not 2 <= faults.duplicate_max_copies <= 10:
            raise ValueError("duplicate_max_copies must be an integer from 2 to 10")
        for name in ("timeout_seconds", "retry_after_seconds"):
            value = getattr(faults, name)
            if not isinstance(value, int | float) or not 0 <= value <= 600:
                raise ValueError(f"{name} must be between 0 and 600 seconds")
        faults.rng = random.Random(faults.seed)  # noqa: S311 - deterministic on purpose
        return faults

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "rng"}

    def applies(self, route_key: str, graph: bool) -> bool:
        if not self.routes:
            return graph
        return any(fnmatch.fnmatchcase(route_key, pattern) for pattern in self.routes)

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def error_code(self) -> str:
        return ERROR_CODES.get(self.error_status, "UnknownError")

    def copies(self, fired: Counter[str]) -> int:
        """How many times one notification is sent (1, or 2..duplicate_max_copies)."""
        if not self.roll(self.duplicate_notifications_rate):
            return 1
        fired["notification_duplicated"] += 1
        return self.rng.randint(2, self.duplicate_max_copies)

    async def lose_answer(self, route_key: str, fired: Counter[str]) -> None:
        """After the handler ran: maybe hang and fail although the request was applied."""
        if not self.timeout_after_effect_rate or not self.applies(route_key, graph=True):
            return
        if self.roll(self.timeout_after_effect_rate):
            fired["timeout_after_effect"] += 1
            await asyncio.sleep(self.timeout_seconds)
            raise GraphError(504, "GatewayTimeout", "Injected timeout (m365sim), the request was applied.")

    async def inject_chaos(self, route_key: str, fired: Counter[str]) -> None:
        """The chaos mix for one Graph request, before its handler runs (so no effect happens);
        each fault that fires is counted in ``fired`` by kind."""
        if not (self.throttle_rate or self.server_error_rate or self.timeout_rate):
            return
        if not self.applies(route_key, graph=True):
            return
        # One draw decides the fault, so the rates add up as configured (10 % = 10 % of requests).
        draw = self.rng.random()
        if draw < self.throttle_rate:
            fired["throttled_429"] += 1
            raise GraphError(
                429,
                "TooManyRequests",
                "Injected throttling (m365sim). Please retry later.",
                {"Retry-After": str(self.retry_after_seconds)},
            )
        draw -= self.throttle_rate
        if draw < self.server_error_rate:
            status = self.rng.choice(self.server_error_statuses)
            fired[f"server_error_{status}"] += 1
            headers = {"Retry-After": str(self.retry_after_seconds)} if status == 503 else {}
            code = ERROR_CODES.get(status, "UnknownError")
            raise GraphError(status, code, "Injected fault (m365sim).", headers)
        draw -= self.server_error_rate
        if draw < self.timeout_rate:
            fired["timeout"] += 1
            # Longer than the client waits: it has given up (and may retry) before this answers.
            await asyncio.sleep(self.timeout_seconds)
            raise GraphError(504, "GatewayTimeout", "Injected timeout (m365sim): nothing was applied.")
