"""The overview's numbers, counted from the stores' records (verdicts, clicks, quarantine).

Pure counting over records already read, so the page handler decides how many rows it reads
(TAP365_CONSOLE_MAX_ROWS) and these functions stay simple to test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.storage.interfaces import ClickRecord, QuarantineEntry, VerdictRecord
from tap_core.parsing.domains import registered_domain

#: The kinds of threat the overview splits by, in the order the chart stacks them.
KINDS = (("url", "URL"), ("attachment", "Attachment"), ("impersonation", "Impersonation"), ("other", "Other"))
_BAD = {"suspicious", "malicious"}
#: Impersonation Protect's actions that mean "this was an impersonation attempt".
_IMPERSONATION_ACTIONS = {"quarantine", "hold", "tag", "junk", "redirect"}
_KIND_PREFIX = (("url", "url"), ("attachment", "attachment"), ("impersonation", "impersonation"))


def is_threat(record: VerdictRecord) -> bool:
    """A message decided suspicious or malicious, or one the service held or quarantined."""
    return record.verdict in _BAD or record.action in ("hold", "quarantine")


def threat_kinds(record: VerdictRecord) -> set[str]:
    """Which pipelines found the threat (from the record's ``pipelines``; failing that, from the
    findings' names); "other" when neither says."""
    details: Mapping[str, Any] = record.details if isinstance(record.details, Mapping) else {}
    raw_pipelines = details.get("pipelines")
    pipelines: Mapping[str, Any] = raw_pipelines if isinstance(raw_pipelines, Mapping) else {}
    kinds: set[str] = set()
    if str(pipelines.get("url", "")) in _BAD:
        kinds.add("url")
    if str(pipelines.get("attachments", "")) in _BAD:
        kinds.add("attachment")
    if str(pipelines.get("impersonation", "")) in _IMPERSONATION_ACTIONS:
        kinds.add("impersonation")
    if not kinds:
        raw_findings = details.get("findings")
        for finding in raw_findings if isinstance(raw_findings, list) else []:
            name = str(finding.get("name", "")) if isinstance(finding, Mapping) else ""
            kinds.update(kind for kind, prefix in _KIND_PREFIX if name.startswith(prefix))
    return kinds or {"other"}


@dataclass(frozen=True)
class DailyThreats:
    days: list[date]
    #: kind -> count per day (same order as ``days``).
    counts: dict[str, list[int]]

    @property
    def total(self) -> int:
        return sum(sum(v) for v in self.counts.values())


def threats_per_day(
    records: Iterable[VerdictRecord], since: datetime, now: datetime | None = None
) -> DailyThreats:
    """Threat messages per UTC day and kind, from ``since`` to today (a message found by two
    pipelines counts once under each)."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    first = since.astimezone(UTC).date()
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    counts = {kind: [0] * len(days) for kind, _ in KINDS}
    for record in records:
        if not is_threat(record):
            continue
        i = index.get(record.decided_at.astimezone(UTC).date())
        if i is None:
            continue
        for kind in threat_kinds(record):
            counts[kind][i] += 1
    return DailyThreats(days, counts)


def sender_domain(sender: str) -> str:
    """The registrable domain of an address ("a@mail.evil.co.uk" -> "evil.co.uk")."""
    host = sender.rpartition("@")[2].strip().strip(">").lower()
    if not host:
        return ""
    try:
        return registered_domain(host) or host
    except Exception:  # a malformed host from mail: show it as written rather than fail the page
        return host


def top(counter: Counter[str], n: int) -> list[tuple[str, int]]:
    return [(k, v) for k, v in counter.most_common(n) if k]


def top_targets(records: Iterable[VerdictRecord], n: int = 10) -> list[tuple[str, int]]:
    return top(Counter(r.mailbox.lower() for r in records if is_threat(r)), n)


def top_sender_domains(records: Iterable[VerdictRecord], n: int = 10) -> list[tuple[str, int]]:
    return top(Counter(sender_domain(r.sender) for r in records if is_threat(r)), n)


@dataclass(frozen=True)
class LinkClicks:
    url: str
    clicks: int
    people: int
    blocked: int
    last: datetime


def link_clicks(clicks: Iterable[ClickRecord]) -> list[LinkClicks]:
    """Per URL: clicks by people (scanner visits left out), distinct people, blocks, last click."""
    by_url: dict[str, list[ClickRecord]] = {}
    for click in clicks:
        if not click.is_scanner:
            by_url.setdefault(click.url, []).append(click)
    return [
        LinkClicks(
            url,
            len(rows),
            len({r.recipient.lower() for r in rows}),
            sum(1 for r in rows if r.decision == "block"),
            max(r.at for r in rows),
        )
        for url, rows in by_url.items()
    ]


def most_clicked(clicks: Sequence[ClickRecord], n: int = 10) -> list[LinkClicks]:
    return sorted(link_clicks(clicks), key=lambda c: (-c.clicks, c.url))[:n]


def most_blocked(clicks: Sequence[ClickRecord], n: int = 10) -> list[LinkClicks]:
    return sorted((c for c in link_clicks(clicks) if c.blocked), key=lambda c: (-c.blocked, c.url))[:n]


#: Age buckets for held mail: (label, upper bound).
AGE_BUCKETS = (
    ("under 1 hour", timedelta(hours=1)),
    ("1 to 24 hours", timedelta(days=1)),
    ("1 to 7 days", timedelta(days=7)),
    ("over 7 days", timedelta.max),
)


@dataclass(frozen=True)
class HeldSummary:
    held: int
    quarantined: int
    oldest: datetime | None
    buckets: list[tuple[str, int]]


def held_summary(entries: Iterable[QuarantineEntry], now: datetime | None = None) -> HeldSummary:
    now = now or datetime.now(UTC)
    held = quarantined = 0
    oldest: datetime | None = None
    buckets = Counter[str]()
    for entry in entries:
        if entry.status.value == "held":
            held += 1
        elif entry.status.value == "quarantined":
            quarantined += 1
        else:
            continue
        oldest = entry.at if oldest is None or entry.at < oldest else oldest
        age = now - entry.at
        buckets[next(label for label, bound in AGE_BUCKETS if age < bound)] += 1
    return HeldSummary(held, quarantined, oldest, [(label, buckets[label]) for label, _ in AGE_BUCKETS])
