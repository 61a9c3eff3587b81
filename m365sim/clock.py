"""A clock that tests can move forward (token expiry, subscription expiry, throttling windows)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall clock plus an adjustable offset; everything time-dependent in the sim reads it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def now(self) -> datetime:
        """Current UTC time truncated to whole seconds, as Exchange stores item times."""
        return (datetime.now(UTC) + timedelta(seconds=self.offset)).replace(microsecond=0)

    def now_precise(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)


def iso(dt: datetime | None) -> str | None:
    """Graph's DateTimeOffset form for items: ``2024-05-01T10:00:00Z``."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_precise(dt: datetime) -> str:
    """Subscription timestamps carry fractional seconds in Graph (``...T10:00:00.1234567Z``)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset, optional fraction, or a bare date)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Graph emits 7 fractional digits; Python accepts at most 6.
    if "." in value:
        head, _, rest = value.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
