"""The triage list of user-reported messages (issue 20), on Azure Tables.

Partition = tenant. Row = ``t|<key>``: one entry per reported message, the key being its
``internetMessageId`` (else a fingerprint of sender, subject and day; see
``tap_core.parsing.reported.report_key``). Each report adds its reporter to the entry; a second
report of the same message by the same report (a retry) changes nothing. Changes are
conditional on the ETag and retried, so three people reporting at once are all listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError

from connectors.storage import _keys
from connectors.storage.interfaces import ConcurrencyError
from connectors.storage.tables import TableStore, as_utc, is_precondition_failed

#: Reporters listed on one entry (the count goes on past it).
MAX_REPORTERS = 200
#: Findings kept on one entry.
MAX_FINDINGS = 20
_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Reporter:
    address: str
    #: The report's own message id (in the reporting mailbox): a retry adds no second reporter.
    report_id: str
    at: datetime
    #: attached / msg / forward / none
    format: str
    #: What the reporter was told (confirmed / safe / under_review / a problem's name).
    outcome: str = ""


@dataclass(frozen=True, slots=True)
class TriageEntry:
    tenant_id: str
    key: str
    internet_message_id: str = ""
    sender: str = ""
    subject: str = ""
    #: clean / suspicious / malicious ... of the re-analysis; "" when nothing could be analysed.
    verdict: str = ""
    #: confirmed / safe / under_review / report_of_report / attachment_too_large / ...
    outcome: str = ""
    #: Where the analysed copy came from: "mailbox" (found by internetMessageId) or "attached".
    analysed: str = ""
    findings: tuple[Mapping[str, Any], ...] = ()
    reasons: tuple[str, ...] = ()
    reporters: tuple[Reporter, ...] = ()
    count: int = 0
    first_reported: datetime | None = None
    last_reported: datetime | None = None
    etag: str = field(default="", compare=False)


def _row(key: str) -> str:
    return "t|" + _keys.escape(key.lower())


class TableReports:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    def ensure(self) -> None:
        self._store.ensure()

    def get(self, tenant_id: str, key: str) -> TriageEntry | None:
        entity = self._store.read(_keys.escape(tenant_id), _row(key))
        return None if entity is None else _entry(tenant_id, entity)

    def list(self, tenant_id: str, *, limit: int = 100) -> list[TriageEntry]:
        """The tenant's entries, most recently reported first (at most ``limit`` read)."""
        found = self._store.query("PartitionKey eq @p and RowKey gt @lo and RowKey lt @hi",
                                  {"p": _keys.escape(tenant_id), "lo": "t|", "hi": "t}"}, limit=limit)
        entries = [_entry(tenant_id, e) for e in found]
        return sorted(entries, key=lambda e: e.last_reported or e.first_reported or _keys.now(), reverse=True)

    def add_report(self, entry: TriageEntry, reporter: Reporter) -> tuple[TriageEntry, bool]:
        """Record ``reporter``'s report of the message ``entry`` describes: creates the entry or
        adds the reporter, and sets the verdict, outcome and findings of this analysis (the
        newest analysis stands: it used the newest intelligence). Returns the stored entry and
        whether this report was new (False for a retry of one already recorded)."""
        partition, row = _keys.escape(entry.tenant_id), _row(entry.key)
        for _ in range(_ATTEMPTS):
            current = self._store.read(partition, row)
            stored = _entry(entry.tenant_id, current) if current else None
            reporters = list(stored.reporters) if stored else []
            if any(r.report_id == reporter.report_id for r in reporters):
                assert stored is not None
                return stored, False
            if len(reporters) < MAX_REPORTERS:
                reporters.append(reporter)
            count = (stored.count if stored else 0) + 1
            first = stored.first_reported if stored and stored.first_reported else reporter.at
            analysed = bool(entry.verdict) or stored is None
            source = entry if analysed else stored
            assert source is not None
            entity = {
                "PartitionKey": partition, "RowKey": row, "Key": entry.key[:1000],
                "InternetMessageId": (entry.internet_message_id
                                      or (stored.internet_message_id if stored else ""))[:1000],
                "Sender": (entry.sender or (stored.sender if stored else ""))[:500],
                "Subject": (entry.subject or (stored.subject if stored else ""))[:1000],
                "Verdict": source.verdict, "Outcome": source.outcome, "Analysed": source.analysed,
                "Findings": _keys.dumps([dict(f) for f in source.findings[:MAX_FINDINGS]], what="findings"),
                "Reasons": _keys.dumps([r[:400] for r in source.reasons[:20]], what="reasons"),
                "Reporters": _keys.dumps([_reporter_json(r) for r in reporters], what="reporters"),
                "Count": count, "FirstReported": _keys.utc(first), "LastReported": _keys.utc(reporter.at),
            }
            try:
                if current is None:
                    self._store.insert(entity)
                else:
                    self._store.replace_if_match(entity, current["_etag"])
            except ResourceExistsError:
                continue  # someone else's report created it first: add ours to theirs
            except HttpResponseError as error:
                if is_precondition_failed(error):
                    continue
                raise
            done = self.get(entry.tenant_id, entry.key)
            assert done is not None
            return done, True
        raise ConcurrencyError(f"the triage entry {entry.key!r} kept changing; try the report again")

    def cleanup(self, older_than: datetime) -> int:
        """Delete entries last reported before ``older_than`` (the daily retention timer)."""
        return self._store.delete_matching("LastReported lt @t", {"t": _keys.utc(older_than)})


def _reporter_json(r: Reporter) -> dict[str, Any]:
    return {"address": r.address, "report_id": r.report_id, "at": _keys.utc(r.at).isoformat(),
            "format": r.format, "outcome": r.outcome}


def _reporters(raw: Sequence[Mapping[str, Any]]) -> tuple[Reporter, ...]:
    return tuple(
        Reporter(address=str(r.get("address", "")), report_id=str(r.get("report_id", "")),
                 at=datetime.fromisoformat(str(r["at"])), format=str(r.get("format", "")),
                 outcome=str(r.get("outcome", "")))
        for r in raw
    )


def _entry(tenant_id: str, e: Mapping[str, Any]) -> TriageEntry:
    return TriageEntry(
        tenant_id=tenant_id, key=str(e.get("Key", "")),
        internet_message_id=str(e.get("InternetMessageId", "")),
        sender=str(e.get("Sender", "")), subject=str(e.get("Subject", "")), verdict=str(e.get("Verdict", "")),
        outcome=str(e.get("Outcome", "")), analysed=str(e.get("Analysed", "")),
        findings=tuple(_keys.loads(e.get("Findings")) or ()),
        reasons=tuple(_keys.loads(e.get("Reasons")) or ()),
        reporters=_reporters(_keys.loads(e.get("Reporters")) or ()), count=int(e.get("Count", 0)),
        first_reported=as_utc(e["FirstReported"]) if e.get("FirstReported") else None,
        last_reported=as_utc(e["LastReported"]) if e.get("LastReported") else None,
        etag=str(e.get("_etag", "")),
    )


__all__ = ["MAX_REPORTERS", "Reporter", "TableReports", "TriageEntry"]
