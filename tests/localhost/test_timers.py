"""Timer triggers run on schedule (NCRONTAB every second; TimeSpan with runOnStartup)."""

from __future__ import annotations

from pathlib import Path

from connectors.localhost.host import LocalHost
from tests.localhost.conftest import read_records, wait_for


def test_ncrontab_timer_runs_at_least_twice(sample_host: LocalHost, out_dir: Path) -> None:
    runs = wait_for(lambda: len(read_records(out_dir, "tick")) >= 2 and read_records(out_dir, "tick"), timeout=10)
    assert all(isinstance(r["past_due"], bool) for r in runs)


def test_timespan_timer_runs_on_startup_and_repeats(sample_host: LocalHost, out_dir: Path) -> None:
    runs = wait_for(lambda: len(read_records(out_dir, "interval")) >= 2 and read_records(out_dir, "interval"),
                    timeout=10)
    assert runs[0]["past_due"] is False
