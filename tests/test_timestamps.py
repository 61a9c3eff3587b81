"""ISO 8601 parsing shared by Graph messages, notifications, STIX feeds and the admin API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tap_core.parsing.timestamps import parse_iso_datetime


def test_z_offset_and_naive_times_come_back_aware() -> None:
    assert parse_iso_datetime("2026-11-30T09:00:00Z") == datetime(2026, 11, 30, 9, tzinfo=UTC)
    two = parse_iso_datetime("2026-11-30T11:00:00+02:00")
    assert two is not None and two.utcoffset() == timedelta(hours=2)
    assert two == datetime(2026, 11, 30, 9, tzinfo=UTC)
    naive = parse_iso_datetime("2026-11-30T09:00:00.1234567")  # Graph's 7 fractional digits
    assert naive is not None and naive.tzinfo is UTC
    # Aware results compare with "now" without raising.
    assert naive < datetime.now(UTC) + timedelta(days=3650)


@pytest.mark.parametrize("value", [None, "", "yesterday", "2026-13-01T00:00:00Z", 1700000000, ["2026-01-01"]])
def test_anything_else_is_none(value: object) -> None:
    assert parse_iso_datetime(value) is None
