"""Deterministic fault injection (``POST /_sim/faults``)."""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from typing import Any

ERROR_CODES = {
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceNotAvailable",
    504: "GatewayTimeout",
}


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
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)  # noqa: S311 - test RNG

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        known = {k for k in cls.__dataclass_fields__ if k != "rng"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        faults = cls(**{k: v for k, v in data.items() if k in known})
        for name in ("error_rate", "drop_notifications_rate", "duplicate_notifications_rate"):
            value = getattr(faults, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if not isinstance(faults.routes, list):
            raise ValueError("routes must be a list")
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
