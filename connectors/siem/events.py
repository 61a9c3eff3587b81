"""The SIEM event: one schema for every verdict, click, release, report and admin action.

Events are not stored twice: they are read from the records the service already writes (the
verdict table, the click log, the audit trail), per tenant, in a time window
(:func:`read_events`). Each event's id is derived from its record (tenant, message and decision
time; the click's or audit entry's row key), so the same record always gives the same id and a
receiver can drop a repeated delivery.

The SIEM reads bounded windows (an interval in the past, a push cursor): each store lists its
records in ``[since, until)`` as one row-key range of the tenant's partition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import AuditRecord, ClickRecord, VerdictRecord

EventType = Literal[
    "message_delivered", "message_blocked", "click_permitted", "click_blocked", "release", "report",
    "admin_action",
]
#: Verdict actions that keep a message from the inbox (Proofpoint's "messages blocked").
BLOCKED_ACTIONS = frozenset({"quarantine", "hold", "delete", "block", "reject"})
#: Click decisions that stopped the person (a warning page stops them until they proceed).
BLOCKED_CLICKS = frozenset({"block", "warn"})
#: What a pipeline says when it found nothing (or did not run).
NO_THREAT = frozenset({"", "clean", "off", "none", "deliver", "allow", "None"})
#: Audit actors that are the service itself; anyone else acting is a person (an admin action).
MACHINE_ACTORS = frozenset({"system", "recheck", "sandbox"})


class SiemEvent(BaseModel):
    """One event, with stable names: these are the Sentinel table's columns (``COLUMNS``) and
    the source of the Proofpoint-compatible answers. Empty strings, never missing fields."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    time: datetime
    tenant_id: str
    event_type: EventType
    #: Mail: the mailbox (recipient); clicks: the person who clicked.
    recipient: str = ""
    message_id: str = ""
    internet_message_id: str = ""
    sender: str = ""
    subject: str = ""
    verdict: str = ""  # clean / suspicious / malicious ...
    action: str = ""  # deliver / tag / hold / quarantine; a click's decision; an audit action
    reasons: tuple[str, ...] = ()
    #: Pipelines that found a threat: attachments, urls, impersonation ...
    threat_pipelines: tuple[str, ...] = ()
    score: float = 0.0
    url: str = ""
    click_ip: str = ""
    user_agent: str = ""
    is_scanner: bool = False
    actor: str = ""
    target: str = ""

    def row(self) -> dict[str, Any]:
        """The event as a row of the Sentinel stream (column name -> JSON value)."""
        values = self.model_dump(mode="json")
        return {column: values[field] for field, (column, _kind) in COLUMNS.items()}


#: Python field -> (column name, Log Analytics type). The DCR's stream declaration and the custom
#: table in infra/ list the same columns (tests/siem checks both templates against this).
COLUMNS: dict[str, tuple[str, str]] = {
    "time": ("TimeGenerated", "datetime"),
    "event_id": ("EventId", "string"),
    "tenant_id": ("TenantId", "string"),
    "event_type": ("EventType", "string"),
    "recipient": ("Recipient", "string"),
    "message_id": ("MessageId", "string"),
    "internet_message_id": ("InternetMessageId", "string"),
    "sender": ("Sender", "string"),
    "subject": ("Subject", "string"),
    "verdict": ("Verdict", "string"),
    "action": ("Action", "string"),
    "reasons": ("Reasons", "dynamic"),
    "threat_pipelines": ("ThreatPipelines", "dynamic"),
    "score": ("Score", "real"),
    "url": ("Url", "string"),
    "click_ip": ("ClickIp", "string"),
    "user_agent": ("UserAgent", "string"),
    "is_scanner": ("IsScanner", "boolean"),
    "actor": ("Actor", "string"),
    "target": ("Target", "string"),
}


class TooManyEvents(RuntimeError):
    """A window holds more records than the configured limit (TAP365_SIEM_MAX_EVENTS)."""


def _event_id(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def verdict_event(tenant_id: str, record: VerdictRecord) -> SiemEvent:
    details = record.details
    raw = details.get("pipelines")
    pipelines: dict[str, Any] = raw if isinstance(raw, dict) else {}
    action = record.action
    return SiemEvent(
        event_id=_event_id("message", tenant_id, record.message_id, record.decided_at.isoformat()),
        time=record.decided_at, tenant_id=tenant_id,
        event_type="message_blocked" if action in BLOCKED_ACTIONS else "message_delivered",
        recipient=record.mailbox, message_id=record.message_id,
        internet_message_id=str(details.get("internet_message_id") or "")[:500],
        sender=record.sender, subject=record.subject, verdict=record.verdict,
        action=action, reasons=tuple(str(r) for r in record.reasons),
        threat_pipelines=() if record.verdict == "clean" else tuple(sorted(
            str(k) for k, v in pipelines.items() if str(v) not in NO_THREAT)),
        score=float(details.get("score") or 0.0),
    )


def click_event(tenant_id: str, record: ClickRecord) -> SiemEvent:
    decision = record.decision
    return SiemEvent(
        event_id=_event_id("click", tenant_id, record.record_id), time=record.at, tenant_id=tenant_id,
        event_type="click_blocked" if decision in BLOCKED_CLICKS else "click_permitted",
        recipient=record.recipient, verdict=record.verdict, action=decision,
        reasons=tuple(str(r) for r in record.reasons), url=record.url,
        click_ip=record.client_ip, user_agent=record.user_agent, is_scanner=record.is_scanner,
    )


def audit_event(tenant_id: str, record: AuditRecord) -> SiemEvent | None:
    """Releases, reports and what people did; None for the service's own per-message steps
    (the verdict event already says what happened to the message)."""
    action, actor = record.action, record.actor
    kind: EventType
    if action.startswith("releas"):
        kind = "release"
    elif action.startswith("report"):
        kind = "report"
    elif actor not in MACHINE_ACTORS:
        kind = "admin_action"
    else:
        return None
    target = record.target
    mailbox, _, message = target.partition("/") if kind != "admin_action" else ("", "", "")
    return SiemEvent(
        event_id=_event_id("audit", tenant_id, record.record_id), time=record.at, tenant_id=tenant_id,
        event_type=kind, recipient=mailbox, message_id=message, action=action,
        reasons=(record.reason,) if record.reason else (), actor=actor, target=target,
    )


def read_events(stores: AzureStores, tenant_id: str, start: datetime, end: datetime, *,
                max_events: int) -> list[SiemEvent]:
    """Every event of ``tenant_id`` in ``[start, end)``, oldest first (ties by id). Raises
    :class:`TooManyEvents` when the window holds more than ``max_events`` records (the caller
    asks a shorter window; nothing is silently cut)."""
    sources: tuple[tuple[Callable[..., Sequence[Any]], Callable[[str, Any], SiemEvent | None]], ...] = (
        (stores.verdicts.list_verdicts, verdict_event), (stores.clicks.list_clicks, click_event),
        (stores.audit.list_audit, audit_event),
    )
    events: list[SiemEvent] = []
    read = 0
    for list_records, build in sources:
        for record in list_records(tenant_id, start, max_events - read + 1, until=end):
            read += 1
            if read > max_events:
                raise TooManyEvents(f"more than {max_events} records between {start.isoformat()} and "
                                    f"{end.isoformat()}; ask a shorter window")
            event = build(tenant_id, record)
            if event is not None:
                events.append(event)
    events.sort(key=lambda ev: (ev.time, ev.event_id))
    return events
