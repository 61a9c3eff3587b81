"""Held and quarantined mail for the admin console: search the quarantine list, and act on one
message (release, release to every recipient, delete, block the sender, report a false positive).

Every function takes the tenant from its caller (the console passes the signed-in person's), and
every action is audited with the person's UPN as actor. Each action happens once: a second
submission finds the recorded outcome (released, deleted, listed, reported) and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from connectors.graph.errors import GraphApiError
from connectors.graph.messages import message_path
from connectors.service.admin import AdminApi
from connectors.service.runtime import Runtime
from connectors.storage.feedback import FalsePositive, TableFeedbackStore
from connectors.storage.interfaces import (
    ConcurrencyError,
    PolicyConflict,
    QuarantineEntry,
    QuarantineStatus,
    VerdictRecord,
)
from tap_core.policy import PolicyError, parse_policy
from tap_core.reputation.blocklist import blocked_entry

log = logging.getLogger("tap365.console.held")

#: What the list shows when no status is asked for: mail still kept from its recipient, and
#: Safe File messages whose originals are kept for release.
OPEN_STATUSES = (QuarantineStatus.HELD, QuarantineStatus.QUARANTINED, QuarantineStatus.CONVERTED)
VERDICTS = ("clean", "suspicious", "malicious", "timeout")
#: Longest filter value read (sender, recipient, subject, finding).
MAX_FILTER_CHARS = 200
#: Verdict records read at once while a list is filtered by verdict or finding.
_VERDICT_READERS = 8
#: Names the console in the journal's claims (people read it; the claim's token tells attempts apart).
_WORKER = "console"
#: Attempts to add a sender to the policy when other edits keep winning the ETag race.
_POLICY_ATTEMPTS = 3


@dataclass(frozen=True)
class HeldFilter:
    """The list's filters, as query parameters (so a filtered page is a link)."""

    sender: str = ""
    recipient: str = ""
    subject: str = ""
    verdict: str = ""
    finding: str = ""
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None

    QUERY_NAMES = ("sender", "recipient", "subject", "verdict", "finding", "status", "from", "to")

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple[HeldFilter, dict[str, str]]:
        """The filter and, by query name, what was wrong with a value (that filter is then off)."""
        errors: dict[str, str] = {}

        def text(name: str) -> str:
            return " ".join(str(query.get(name, "")).split())[:MAX_FILTER_CHARS]

        def day(name: str) -> date | None:
            raw = text(name)
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                errors[name] = f"{raw!r} is not a date (YYYY-MM-DD)"
                return None

        verdict, status = text("verdict").lower(), text("status").lower()
        if verdict and verdict not in VERDICTS:
            errors["verdict"] = f"verdict is one of {', '.join(VERDICTS)}"
            verdict = ""
        statuses = [s.value for s in QuarantineStatus]
        if status and status not in statuses:
            errors["status"] = f"status is one of {', '.join(statuses)}"
            status = ""
        found = cls(
            sender=text("sender"),
            recipient=text("recipient"),
            subject=text("subject"),
            verdict=verdict,
            finding=text("finding"),
            status=status,
            date_from=day("from"),
            date_to=day("to"),
        )
        if found.date_from and found.date_to and found.date_to < found.date_from:
            errors["to"] = "the end date is before the start date"
        return found, errors

    def query(self) -> dict[str, str]:
        """The filter as query parameters (for links to other pages of the same list)."""
        values = {
            "sender": self.sender,
            "recipient": self.recipient,
            "subject": self.subject,
            "verdict": self.verdict,
            "finding": self.finding,
            "status": self.status,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
        }
        return {k: v for k, v in values.items() if v}

    @property
    def needs_verdicts(self) -> bool:
        return bool(self.verdict or self.finding)

    def statuses(self) -> tuple[QuarantineStatus, ...]:
        return (QuarantineStatus(self.status),) if self.status else OPEN_STATUSES

    def matches_entry(self, entry: QuarantineEntry) -> bool:
        if entry.status not in self.statuses():
            return False
        if self.date_to and entry.at >= _start_of(self.date_to) + timedelta(days=1):
            return False
        checks = ((self.sender, entry.sender), (self.recipient, entry.mailbox), (self.subject, entry.subject))
        return all(want.casefold() in have.casefold() for want, have in checks if want)

    def matches_verdict(self, verdict: VerdictRecord | None) -> bool:
        if not self.needs_verdicts:
            return True
        if verdict is None:
            return False
        if self.verdict and verdict.verdict != self.verdict:
            return False
        return not self.finding or any(
            self.finding.casefold() in n.casefold() for n in finding_names(verdict)
        )


@dataclass(frozen=True)
class HeldRow:
    entry: QuarantineEntry
    verdict: VerdictRecord | None

    @property
    def findings(self) -> list[str]:
        return finding_names(self.verdict) if self.verdict else []


@dataclass(frozen=True)
class HeldPage:
    rows: list[HeldRow]
    has_next: bool
    #: The search read TAP365_CONSOLE_MAX_ROWS entries and stopped: older ones were not searched.
    truncated: bool
    scanned: int


def finding_names(verdict: VerdictRecord) -> list[str]:
    found = verdict.details.get("findings") or []
    return [str(f.get("name", "")) for f in found if isinstance(f, Mapping) and f.get("name")]


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _read_verdicts(
    runtime: Runtime, tenant_id: str, entries: list[QuarantineEntry]
) -> list[VerdictRecord | None]:
    if not entries:
        return []
    get = runtime.stores.verdicts.get_verdict
    with ThreadPoolExecutor(max_workers=min(_VERDICT_READERS, len(entries))) as pool:
        return list(pool.map(lambda e: get(tenant_id, e.message_id), entries))


def search(
    runtime: Runtime, tenant_id: str, wanted: HeldFilter, *, offset: int, size: int, max_rows: int
) -> HeldPage:
    """One page of the tenant's quarantine list (newest first) that matches ``wanted``.

    The store is read newest first from ``wanted.date_from`` on, at most ``max_rows`` entries
    (TAP365_CONSOLE_MAX_ROWS); reaching that is said (``truncated``), never silently cut."""
    since = _start_of(wanted.date_from) if wanted.date_from else None
    status = QuarantineStatus(wanted.status) if wanted.status else None
    # When the store does all the filtering (one status, no text, verdict or end date), a page
    # needs only the rows up to it; otherwise up to max_rows are read and filtered here.
    pushed = status is not None and not (
        wanted.sender or wanted.recipient or wanted.subject or wanted.date_to or wanted.needs_verdicts
    )
    limit = min(max_rows, offset + size + 1) if pushed else max_rows
    entries = runtime.stores.quarantine.list(tenant_id, status=status, since=since, limit=limit)
    truncated = len(entries) >= max_rows
    candidates = [e for e in entries if wanted.matches_entry(e)]
    end = offset + size + 1  # one more than shown: is there a next page?
    if wanted.needs_verdicts:
        rows: list[HeldRow] = []
        # Verdicts read a batch at a time until the page (and one more) is filled.
        batch = max(size * 2, 20)
        for start in range(0, len(candidates), batch):
            chunk = candidates[start : start + batch]
            rows += [
                HeldRow(e, v)
                for e, v in zip(chunk, _read_verdicts(runtime, tenant_id, chunk), strict=True)
                if wanted.matches_verdict(v)
            ]
            if len(rows) >= end:
                break
        shown = rows[offset : offset + size]
        return HeldPage(shown, len(rows) > offset + size, truncated, len(entries))
    page = candidates[offset : offset + size]
    verdicts = _read_verdicts(runtime, tenant_id, page)
    return HeldPage(
        [HeldRow(e, v) for e, v in zip(page, verdicts, strict=True)],
        len(candidates) > offset + size,
        truncated,
        len(entries),
    )


def find_row(runtime: Runtime, tenant_id: str, mailbox: str, message_id: str) -> HeldRow | None:
    """The entry (in the caller's tenant only) and its verdict record."""
    entry = runtime.stores.quarantine.get(tenant_id, mailbox, message_id)
    if entry is None:
        return None
    return HeldRow(entry, runtime.stores.verdicts.get_verdict(tenant_id, message_id))


# -- actions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What an action did: ``done`` False when it changed nothing (refused, or done before)."""

    done: bool
    #: A short key the console maps to a fixed sentence ("released", "already_released"...).
    key: str
    detail: str = ""
    count: int = 0
    failures: list[str] = field(default_factory=list)


#: Records an action in the tenant's audit trail: (action, target, reason, details). The console
#: passes its ``Context.audit`` (the person's UPN as actor, their name in the details).
Audit = Callable[[str, str, str, Mapping[str, Any]], Any]


async def release(runtime: Runtime, tenant_id: str, mailbox: str, message_id: str, actor: str) -> Outcome:
    """Back to where it was delivered, through the admin API's release (audited there by ``actor``)."""
    entry = runtime.stores.quarantine.get(tenant_id, mailbox, message_id)
    if entry is None:
        return Outcome(False, "not_found")
    if entry.status is QuarantineStatus.DELETED:
        return Outcome(False, "deleted_message", f"deleted by {entry.updated_by}")
    if entry.status is QuarantineStatus.RELEASED:
        return Outcome(False, "already_released")

    async def work() -> Outcome:
        try:
            result = await AdminApi(runtime).release(tenant_id, entry.mailbox, message_id, actor)
        except ConcurrencyError:
            return Outcome(False, "changed", "someone else changed this message at the same moment")
        data = _body(result.body)
        if result.status != 200:
            return Outcome(False, "failed", str(data.get("error", result.status)))
        if data.get("already"):
            return Outcome(False, "already_released")
        return Outcome(True, "released", count=1)

    return await _once(runtime, entry, actor, work)


#: What a second attempt is told once the first one's outcome is recorded.
_ALREADY = {"released": "already_released", "deleted": "already_deleted"}


async def _once(
    runtime: Runtime, entry: QuarantineEntry, actor: str, work: Callable[[], Awaitable[Outcome]]
) -> Outcome:
    """``work`` (a release or a delete) run by one attempt only: the quarantine entry's own
    conditional update compares with what each attempt read, so two clicks at the same moment would
    both move and audit. A journal claim per message and listing (a later re-hold is a new one)
    lets one through; the other is told it is done or under way."""
    journal = runtime.stores.journal
    key = f"console|{entry.mailbox}|{entry.message_id}|{entry.at.isoformat()}"
    claim = journal.claim(entry.tenant_id, key, _WORKER, runtime.settings.claim_lease_seconds)
    if claim is None:
        done = journal.get(entry.tenant_id, key)
        if done is not None and done.step == "done":
            return Outcome(False, _ALREADY.get(str(done.data.get("done", {}).get("key")), "changed"))
        return Outcome(False, "changed", "someone else is acting on this message right now")
    try:
        outcome = await work()
    except BaseException:
        journal.release(claim)
        raise
    if outcome.done:
        journal.record_step(claim, "done", {"key": outcome.key, "by": actor})
    else:
        journal.release(claim)
    return outcome


def _body(body: Any) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


async def release_all(
    runtime: Runtime, tenant_id: str, mailbox: str, message_id: str, actor: str, *, max_rows: int
) -> Outcome:
    """The same message (same internetMessageId) released for every recipient it is held for in
    this tenant. Entries are searched among the newest ``max_rows`` of the list."""
    row = find_row(runtime, tenant_id, mailbox, message_id)
    if row is None:
        return Outcome(False, "not_found")
    internet_id = internet_message_id(row.verdict)
    if not internet_id:
        return Outcome(
            False, "no_internet_id", "the verdict record does not name the message's internetMessageId"
        )
    copies = same_message(runtime, tenant_id, row.entry, internet_id, max_rows=max_rows)
    released, failures = 0, []
    for copy in copies:
        outcome = await release(runtime, tenant_id, copy.mailbox, copy.message_id, actor)
        if outcome.done:
            released += 1
        elif outcome.key not in ("already_released",):
            failures.append(f"{copy.mailbox}: {outcome.detail or outcome.key}")
            log.warning(
                "release to all of %s: %s not released: %s",
                internet_id[:200],
                copy.mailbox,
                outcome.detail or outcome.key,
            )
    if not released and not failures:
        return Outcome(False, "already_released", count=0)
    return Outcome(
        released > 0, "released_all" if not failures else "released_some", count=released, failures=failures
    )


def internet_message_id(verdict: VerdictRecord | None) -> str:
    return str((verdict.details.get("internet_message_id") if verdict else "") or "")


def same_message(
    runtime: Runtime, tenant_id: str, entry: QuarantineEntry, internet_id: str, *, max_rows: int
) -> list[QuarantineEntry]:
    """Every held, quarantined or converted entry of the tenant with ``internet_id``; the same
    message to many people has one sender and subject, so only those entries' verdicts are read."""
    entries = runtime.stores.quarantine.list(tenant_id, limit=max_rows)
    candidates = [
        e
        for e in entries
        if e.status in OPEN_STATUSES and e.sender == entry.sender and e.subject == entry.subject
    ]
    verdicts = _read_verdicts(runtime, tenant_id, candidates)
    return [e for e, v in zip(candidates, verdicts, strict=True) if internet_message_id(v) == internet_id]


async def delete(
    runtime: Runtime, tenant_id: str, mailbox: str, message_id: str, actor: str, audit: Audit
) -> Outcome:
    """Deleted for good from the hidden folder (Graph ``permanentDelete``: not to Deleted Items,
    where the person would find it), then the entry marked deleted. A retry after the delete went
    through finds the message gone (404) and completes the record."""
    entry = runtime.stores.quarantine.get(tenant_id, mailbox, message_id)
    if entry is None:
        return Outcome(False, "not_found")
    if entry.status is QuarantineStatus.DELETED:
        return Outcome(False, "already_deleted", f"deleted by {entry.updated_by}")
    if entry.status not in (QuarantineStatus.HELD, QuarantineStatus.QUARANTINED):
        return Outcome(
            False,
            "not_deletable",
            f"this message is {entry.status.value}: it is in the person's mailbox, not ours to delete",
        )

    async def work() -> Outcome:
        rem = runtime.remediator(tenant_id)
        try:
            await rem.graph.request("POST", f"{message_path(entry.mailbox, message_id)}/permanentDelete")
        except GraphApiError as exc:
            if exc.status != 404:  # 404: gone already (an earlier attempt's delete went through)
                return Outcome(False, "failed", f"Graph refused the delete: {exc.status} {exc.code}")
        try:
            runtime.stores.quarantine.update_status(
                tenant_id, entry.mailbox, message_id, QuarantineStatus.DELETED, by=actor
            )
        except ConcurrencyError:
            return Outcome(False, "changed", "someone else changed this message at the same moment")
        audit(
            "deleted",
            f"{entry.mailbox}/{message_id}",
            f"was {entry.status.value}: {entry.reason}",
            {"subject": entry.subject[:200], "sender": entry.sender},
        )
        return Outcome(True, "deleted", count=1)

    return await _once(runtime, entry, actor, work)


async def block_sender(
    runtime: Runtime,
    tenant_id: str,
    mailbox: str,
    message_id: str,
    actor: str,
    audit: Audit,
    *,
    whole_domain: bool = False,
) -> Outcome:
    """The message's sender (or its domain) added to the tenant policy's ``blocked_senders``, under
    the policy's ETag; a concurrent edit is read again and the entry added to it."""
    entry = runtime.stores.quarantine.get(tenant_id, mailbox, message_id)
    if entry is None:
        return Outcome(False, "not_found")
    address = entry.sender.strip().lower()
    if "@" not in address:
        return Outcome(False, "no_sender", "the message has no sender address to block")
    wanted = address.rpartition("@")[2] if whole_domain else address
    policies = runtime.stores.policies
    for _ in range(_POLICY_ATTEMPTS):
        doc = policies.get_policy(tenant_id)
        document: dict[str, Any] = dict(doc.document) if doc else {}
        try:
            current = parse_policy(document, name="policy")
        except PolicyError as exc:  # a stored policy no longer valid: the editor must fix it first
            return Outcome(False, "failed", str(exc))
        # A domain is covered when it or a parent domain is listed (an address entry is not enough).
        covered = (
            blocked_entry("@" + wanted, current.blocked_senders)
            if whole_domain
            else blocked_entry(address, current.blocked_senders)
        )
        if covered is not None:
            return Outcome(False, "already_blocked", covered)
        document["blocked_senders"] = [*current.blocked_senders, wanted]
        parsed = parse_policy(document, name="policy")
        try:
            saved = policies.put_policy(
                tenant_id,
                parsed.model_dump(mode="json", exclude_defaults=True),
                etag=doc.etag if doc else None,
                updated_by=actor,
            )
        except PolicyConflict:
            continue
        runtime.forget_policy(tenant_id)
        audit(
            "sender_blocked",
            "policy",
            f"{wanted} added to blocked_senders (version {saved.version})",
            {"message": f"{entry.mailbox}/{message_id}", "entry": wanted},
        )
        return Outcome(True, "blocked", wanted)
    return Outcome(False, "changed", "the policy kept changing meanwhile; try again")


def feedback_store(runtime: Runtime) -> TableFeedbackStore:
    """The false-positive table (``<p>feedback``, one of the service's stores)."""
    return runtime.stores.feedback


def report_false_positive(
    runtime: Runtime, tenant_id: str, mailbox: str, message_id: str, actor: str, audit: Audit, note: str = ""
) -> Outcome:
    """Recorded once per message for the detection engine's feedback: the message, what the
    engine found (finding names and weights), the person and when."""
    row = find_row(runtime, tenant_id, mailbox, message_id)
    if row is None:
        return Outcome(False, "not_found")
    verdict = row.verdict
    weights: dict[str, float] = {}
    if verdict is not None:
        recorded = verdict.details.get("weights") or {}
        for name in finding_names(verdict):
            weights[name] = float(recorded.get(name, 0.0)) if isinstance(recorded, Mapping) else 0.0
    stored, recorded_now = feedback_store(runtime).report(
        FalsePositive(
            tenant_id=tenant_id,
            mailbox=row.entry.mailbox,
            message_id=message_id,
            reported_by=actor,
            at=datetime.now(UTC),
            internet_message_id=internet_message_id(verdict),
            verdict=verdict.verdict if verdict else "",
            findings=weights,
            note=" ".join(note.split())[:1000],
        )
    )
    if not recorded_now:
        return Outcome(
            False, "already_reported", f"by {stored.reported_by} at {stored.at.isoformat(timespec='minutes')}"
        )
    audit(
        "false_positive_reported",
        f"{row.entry.mailbox}/{message_id}",
        f"findings: {', '.join(weights) or 'none recorded'}"[:500],
        {"verdict": stored.verdict},
    )
    return Outcome(True, "reported")
