"""``tap365 demo --chaos``: the demo under faults, and the check of the tenant itself.

The fault profile (m365sim ``/_sim/faults``): Graph answers 429 with ``Retry-After`` or a 5xx on
10 % of requests and hangs past the client's time-out on 2 %; 20 % of notifications arrive two
or three times and 5 % are dropped (Graph then sends the subscription a ``missed`` lifecycle
event, and the service catches up by delta). A monkey thread SIGKILLs the local host at random
(seeded) moments while it works and starts it again, and restarts Azurite once over its data.

The verdict does not trust the service's journal: m365sim counts, per message, every body
PATCH, category write and move Graph applied (``/_sim/effects``), and where the message is now.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from connectors.devstack.stack import HostProcess, SimClient, Stack

#: How long the client waits for Graph in a chaos run, and how long an injected time-out hangs.
GRAPH_READ_TIMEOUT = 5.0
TIMEOUT_HANG = GRAPH_READ_TIMEOUT + 2.0


@dataclass(frozen=True)
class ChaosOptions:
    seed: int = 1
    #: Host kills (SIGKILL + restart); None: one per 75 messages, at least 2.
    kills: int | None = None
    #: Seconds a queue message stays hidden while a function runs: what a killed host's work waits
    #: before another attempt (the Functions host's 10 minutes would make a soak last an hour).
    processing_visibility: float = 60.0
    #: The service's claim lease in the run (TAP365_CLAIM_LEASE_SECONDS): a dead attempt's claim
    #: blocks the message this long. Renewed at each step, so it bounds one step, not a message.
    claim_lease_seconds: int = 60
    #: Graph requests answered 429 (with Retry-After) or 5xx, half each; and hung past the client.
    graph_error_rate: float = 0.10
    timeout_rate: float = 0.02
    #: Requests applied whose answer then times out (the client cannot know they happened).
    timeout_after_effect_rate: float = 0.02
    #: Graph's rule that holds notifications back 10 minutes from an endpoint with over 10 % of
    #: answers slower than 2.9 s (m365sim's slow_endpoint_policy); a loaded test machine may
    #: trip it by its own scheduling, so a short CI run may turn it off.
    slow_endpoint_policy: bool = True
    #: Graph routes the faults apply to (``METHOD /v1.0/template`` patterns); empty: all.
    routes: tuple[str, ...] | list[str] = ()
    #: Change notifications sent 2-3 times, and dropped (then a ``missed`` lifecycle event).
    duplicate_rate: float = 0.20
    drop_rate: float = 0.05

    def kill_count(self, messages: int) -> int:
        return self.kills if self.kills is not None else max(2, messages // 75)

    def faults(self) -> dict[str, Any]:
        return {
            "throttle_rate": self.graph_error_rate / 2,
            "retry_after_seconds": 1,
            "server_error_rate": self.graph_error_rate / 2,
            "server_error_statuses": [500, 502, 503, 504],
            "timeout_rate": self.timeout_rate,
            "timeout_seconds": TIMEOUT_HANG,
            "timeout_after_effect_rate": self.timeout_after_effect_rate,
            "duplicate_notifications_rate": self.duplicate_rate,
            "duplicate_max_copies": 3,
            "drop_notifications_rate": self.drop_rate,
            "missed_on_drop": True,
            "routes": list(self.routes),
            "seed": self.seed,
        }

    def service_env(self) -> dict[str, str]:
        return {
            "TAP365_GRAPH_READ_TIMEOUT": str(GRAPH_READ_TIMEOUT),
            "TAP365_CLAIM_LEASE_SECONDS": str(self.claim_lease_seconds),
        }


@dataclass
class ChaosMonkey:
    """Kills and restarts the host at seeded random moments in ``window`` seconds, and restarts
    Azurite once; ``stop()`` ends it with everything running again."""

    stack: Stack
    options: ChaosOptions
    kills: int
    window: float
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def plan(self) -> list[tuple[float, str]]:
        rng = random.Random(self.options.seed)  # noqa: S311 - a reproducible schedule, not security
        moments = sorted(rng.uniform(3.0, self.window) for _ in range(self.kills + 1))
        restart_at = rng.randrange(len(moments))
        return [(t, "azurite_restart" if i == restart_at else "host_kill") for i, t in enumerate(moments)]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos-monkey", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Wait until every planned event has happened."""
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        rng = random.Random(self.options.seed + 1)  # noqa: S311 - reproducible down times
        started = time.monotonic()
        for at, what in self.plan():
            if self._stopping.wait(max(0.0, started + at - time.monotonic())):
                return
            try:
                event: dict[str, Any] = {"at_s": round(time.monotonic() - started, 1), "event": what}
                if what == "host_kill":
                    event["graph_requests_in_last_second"] = self._kill_host(rng.uniform(0.5, 3.0))
                else:
                    self._restart_azurite()
                self.events.append(event)
            except Exception as exc:  # reported, and the demo fails: the stack could not recover
                self.errors.append(f"{what} at {at:.1f}s: {type(exc).__name__}: {exc}")

    def _kill_host(self, down: float) -> int:
        """Kill, wait ``down`` seconds, start again; returns the Graph requests the host made in
        the second before the kill (more than 0: it was killed while working on mail)."""
        host = self.stack.host
        if not isinstance(host, HostProcess):
            raise TypeError("chaos needs the host in its own process (running_stack(host_process=True))")
        sim = SimClient(self.stack.sim.base_url, self.stack.sim.ca_path)  # a session of this thread's own
        before = int(sim.stats()["requests"]["total"])
        time.sleep(1.0)
        busy = int(sim.stats()["requests"]["total"]) - before
        host.kill()
        time.sleep(down)
        host.start()
        return busy

    def _restart_azurite(self) -> None:
        storage = self.stack.storage
        if storage is None:
            raise TypeError("chaos needs a restartable Azurite (running_stack's)")
        storage.restart()

    def counts(self) -> dict[str, int]:
        kills = [e for e in self.events if e["event"] == "host_kill"]
        return {
            "host_kills": len(kills),
            "host_kills_while_working": sum(1 for e in kills if e["graph_requests_in_last_second"] > 0),
            "azurite_restarts": sum(1 for e in self.events if e["event"] == "azurite_restart"),
        }
