"""``timerTrigger`` functions: NCRONTAB or TimeSpan schedules, ``runOnStartup``, one run at a time.

Schedule status is kept in memory (the host keeps it in storage when ``useMonitor`` is on): a run
that starts more than a second late, because the previous run overran its slot, is ``past_due``,
and missed occurrences collapse into that one late run, as in Functions.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from azure.functions.timer import TimerRequest

from connectors.localhost.invoke import Invoker
from connectors.localhost.loader import FunctionSpec, resolve_app_settings
from connectors.localhost.schedule import Schedule, parse_schedule

log = logging.getLogger("tap365.localhost")
PAST_DUE_SLACK = timedelta(seconds=1)


def _now() -> datetime:
    return datetime.now(UTC)


class TimerRunner:
    def __init__(self, spec: FunctionSpec, invoker: Invoker,
                 past_due_slack: timedelta = PAST_DUE_SLACK) -> None:
        self.spec = spec
        self.past_due_slack = past_due_slack
        self.invoker = invoker
        self.schedule: Schedule = parse_schedule(resolve_app_settings(str(spec.trigger["schedule"])))
        self.schedule.next_after(_now())  # fails the start for a schedule that never fires (31 February)
        self.run_on_startup = bool(spec.trigger.get("runOnStartup"))
        self.last: datetime | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        if self.run_on_startup:
            await self._fire(past_due=False)
        scheduled = self.schedule.next_after(_now())
        while not stopping.is_set():
            # A loop: the event loop's timers may wake a few milliseconds early.
            while (wait := (scheduled - _now()).total_seconds()) > 0:
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=wait)
                    return
                except TimeoutError:
                    pass
            fired = _now()
            past_due = fired - scheduled > self.past_due_slack
            await self._fire(past_due=past_due)
            # On time: the next slot after this one (already passed if this run overran: then the next
            # loop runs at once, past due). Past due: skip every slot missed meanwhile.
            scheduled = self.schedule.next_after(fired if past_due else scheduled)

    async def _fire(self, *, past_due: bool) -> None:
        now = _now()
        status = {
            "Last": (self.last or now).isoformat(),
            "Next": self.schedule.next_after(now).isoformat(),
            "LastUpdated": now.isoformat(),
        }
        schedule = {"AdjustForDST": True}
        request = TimerRequest(past_due=past_due, schedule_status=status, schedule=schedule)
        self.last = now
        try:
            await self.invoker.call(self.spec, request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed)", self.spec.name)
        else:
            log.info("Executed 'Functions.%s' (Succeeded, past_due=%s)", self.spec.name, past_due)
