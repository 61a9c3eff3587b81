"""Table key helpers: safe PartitionKey/RowKey text and row keys that sort by time.

Table keys may not contain ``/ \\ # ?`` or control characters and are limited to 1 KiB; message
ids (base64 with ``/``), URLs and addresses can contain them, so keys are escaped reversibly.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

_FORBIDDEN = re.compile(r"[%/\\#?|\x00-\x1f\x7f-\x9f]")
_EPOCH_TICKS = 621355968000000000  # .NET ticks at 1970-01-01, the convention Azure samples use
_MAX_TICKS = 3155378975999999999  # DateTime.MaxValue.Ticks: inverted ticks stay 19 digits
_MAX_KEY_CHARS = 512  # keys are limited to 1 KiB (UTF-16); '|' joins several parts

# Table string properties hold at most 64 KiB (32K UTF-16 characters).
MAX_PROPERTY_CHARS = 32_000


def escape(part: str) -> str:
    """A key part with forbidden characters (and our ``|`` separator) percent-escaped."""
    escaped = _FORBIDDEN.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), part)
    if len(escaped) > _MAX_KEY_CHARS:
        # Ids this long do not occur in practice; hashing keeps the key valid and unique.
        return "h~" + hashlib.sha256(part.encode()).hexdigest()
    return escaped


def key(*parts: str) -> str:
    return "|".join(escape(p) for p in parts)


def digest(text: str) -> str:
    """A short stable key for long values (URLs): 32 hex characters of SHA-256."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("use timezone-aware datetimes (datetime.now(UTC)); naive times are ambiguous")
    return when.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


def ticks(when: datetime) -> int:
    delta = utc(when) - datetime(1970, 1, 1, tzinfo=UTC)
    return _EPOCH_TICKS + (delta // timedelta(microseconds=1)) * 10


def inverted(when: datetime) -> str:
    """19 digits that sort newest first: ``DateTime.MaxValue.Ticks - ticks``."""
    return f"{_MAX_TICKS - ticks(when):019d}"


def upto(since: datetime) -> str:
    """Upper row-key bound for rows ``<inverted ticks>|...`` at or after ``since`` ('~' sorts after '|')."""
    return inverted(since) + "~"


def from_inverted(text: str) -> datetime:
    micros = (_MAX_TICKS - int(text) - _EPOCH_TICKS) // 10
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def dumps(value: Any, *, what: str) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    if len(text) > MAX_PROPERTY_CHARS:
        raise ValueError(
            f"{what} is {len(text)} characters of JSON; a table property holds {MAX_PROPERTY_CHARS}: "
            "keep large data in the artefact blob store and record its key instead"
        )
    return text


def loads(text: str | None) -> Any:
    return json.loads(text) if text else None
