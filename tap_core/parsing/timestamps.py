"""ISO 8601 timestamps as Graph, STIX feeds, queue items and the admin API write them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_iso_datetime(value: Any) -> datetime | None:
    """``value`` as an aware datetime, or None when it is not a non-empty ISO 8601 string.

    A trailing "Z" means UTC; a time without an offset is taken as UTC too, so that it can be
    compared with the aware datetimes the rest of the code uses (comparing naive with aware
    raises).
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
