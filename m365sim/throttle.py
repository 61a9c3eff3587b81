"""Outlook-style throttling: a request budget per app per mailbox and a concurrency cap."""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass, field

from .clock import Clock
from .config import SimConfig
from .errors import GraphError


@dataclass
class Throttle:
    config: SimConfig
    clock: Clock
    _windows: dict[tuple[str, str], deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _in_flight: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def reset(self) -> None:
        self._windows.clear()
        self._in_flight.clear()

    def _concurrency_key(self, app: str, mailbox: str | None) -> tuple[str, str]:
        if self.config.concurrency_scope == "mailbox":
            return (app, mailbox or "")
        return (app, "")

    def acquire(self, app: str, mailbox: str | None) -> tuple[str, str]:
        """Take a concurrency slot and charge the mailbox budget, or raise 429."""
        key = self._concurrency_key(app, mailbox)
        if self._in_flight[key] >= self.config.max_concurrent_requests:
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                {"Retry-After": str(self.config.concurrency_retry_after_seconds)},
            )
        if mailbox:
            window = self._windows[(app, mailbox)]
            now = self.clock.monotonic()
            horizon = now - self.config.throttle_window_seconds
            while window and window[0] <= horizon:
                window.popleft()
            if len(window) >= self.config.throttle_budget:
                retry_after = max(1, math.ceil(window[0] - horizon))
                raise GraphError(
                    429,
                    "TooManyRequests",
                    "Application is over its request limit for this mailbox. Please retry later.",
                    {"Retry-After": str(retry_after)},
                )
            window.append(now)
        self._in_flight[key] += 1
        return key

    def release(self, key: tuple[str, str]) -> None:
        self._in_flight[key] = max(0, self._in_flight[key] - 1)
