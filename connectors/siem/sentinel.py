"""Push SIEM events to Microsoft Sentinel through the Azure Monitor Logs Ingestion API.

A timer (``sentinel_push`` in function_app.py, every five minutes) queues one delayed-queue item
per active tenant (``kind: sentinel``, :func:`queue_pushes`); the worker runs :func:`push_one`:
the events since the tenant's cursor (a row of its own table) go to
``POST {TAP365_SENTINEL_DCE}/dataCollectionRules/{TAP365_SENTINEL_DCR_ID}/streams/
{TAP365_SENTINEL_STREAM}?api-version=2023-01-01`` as JSON arrays of at most 1 MB (the API's
limit per call), gzip-compressed, with a bearer token for ``https://monitor.azure.com/.default``
from the app's managed identity (``azure-identity``).

At least once: the cursor (the time of the last event sent and the ids sent at that time) moves
only after a 2xx, batch by batch. A push that stops raises, so the queue retries the item (and
poisons it with the reason on its last attempt; the next timer queues the tenant again): each
attempt resumes after the batches that were taken, nothing lost and nothing sent twice. An event is
only sent once it is ``TAP365_SENTINEL_SETTLE_SECONDS`` old, so a record written a moment after
its own time is not left behind the cursor. The push reads the stores and nothing else: it never
runs on the mail path, and a SIEM that is down holds up nothing but itself.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from connectors.settings import Settings
from connectors.siem.events import SiemEvent, TooManyEvents, read_events
from connectors.storage import _keys
from connectors.storage.azure import AzureStores
from connectors.storage.tables import TableStore, as_utc, is_precondition_failed

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

log = logging.getLogger("tap365.sentinel")
API_VERSION = "2023-01-01"
SCOPE = "https://monitor.azure.com/.default"
#: The Logs Ingestion API takes at most 1 MB per call; the uncompressed body stays under it.
MAX_BATCH_BYTES = 1_000_000
TIMEOUT_SECONDS = 30.0
#: Windows one run pushes per tenant at most (a window over the record limit is halved; the rest
#: of the way waits for the next run).
MAX_WINDOWS_PER_RUN = 64
_PARTITION = "sentinel"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: How long one push of a tenant holds its cursor; a push that dies is taken over after it.
LEASE_SECONDS = 300


class SentinelFailed(RuntimeError):
    """The ingestion endpoint did not take a batch (network error, non-2xx): retried next run."""


@dataclass(frozen=True, slots=True)
class Cursor:
    at: datetime | None
    sent_at_time: frozenset[str]  # ids of the events already sent whose time is ``at``
    etag: str | None
    lease_until: datetime = _EPOCH


@dataclass(frozen=True, slots=True)
class PushResult:
    tenant_id: str
    sent: int
    batches: int
    error: str = ""
    busy: bool = False  # another push of the tenant held the cursor: nothing done


class CursorStore:
    """One row per tenant: where its push stands, and a lease so that one push of a tenant runs
    at a time (two would send the same batch). Every write is conditional (ETag)."""

    def __init__(self, stores: AzureStores) -> None:
        self._table = TableStore(stores.config.table_service(), stores.config.table_name("siemcursor"))
        self._table.ensure()

    def get(self, tenant_id: str) -> Cursor:
        row = self._table.read(_PARTITION, _keys.escape(tenant_id))
        if row is None:
            return Cursor(None, frozenset(), None)
        at = as_utc(row["At"]) if row.get("At") else None
        lease_until = as_utc(row["LeaseUntil"]) if row.get("LeaseUntil") else _EPOCH
        return Cursor(at, frozenset(json.loads(row.get("Ids") or "[]")), row["_etag"], lease_until)

    def lease(self, tenant_id: str) -> Cursor | None:
        """The cursor, leased for :data:`LEASE_SECONDS`; None while another push holds it."""
        now = datetime.now(UTC)
        cursor = self.get(tenant_id)
        if cursor.lease_until > now:
            return None
        try:
            return self._write(tenant_id, cursor, cursor.at, cursor.sent_at_time,
                               now + timedelta(seconds=LEASE_SECONDS))
        except ResourceExistsError:
            return None
        except HttpResponseError as error:
            if is_precondition_failed(error):
                return None
            raise

    def put(self, tenant_id: str, cursor: Cursor, at: datetime, ids: frozenset[str]) -> Cursor:
        return self._write(tenant_id, cursor, at, ids, cursor.lease_until)

    def release(self, tenant_id: str, cursor: Cursor) -> None:
        self._write(tenant_id, cursor, cursor.at, cursor.sent_at_time, _EPOCH)

    def _write(self, tenant_id: str, cursor: Cursor, at: datetime | None, ids: frozenset[str],
               lease_until: datetime) -> Cursor:
        entity: dict[str, object] = {"PartitionKey": _PARTITION, "RowKey": _keys.escape(tenant_id),
                                     "Ids": _keys.dumps(sorted(ids), what="sentinel cursor ids"),
                                     "LeaseUntil": lease_until}
        if at is not None:
            entity["At"] = at
        if cursor.etag is None:
            etag = self._table.insert(entity)  # ResourceExistsError: another push started first
        else:
            etag = self._table.replace_if_match(entity, cursor.etag)
        return Cursor(at, ids, etag, lease_until)


def ingestion_url(settings: Settings) -> str:
    return (f"{settings.sentinel_dce.rstrip('/')}/dataCollectionRules/{settings.sentinel_dcr_id}"
            f"/streams/{settings.sentinel_stream}?api-version={API_VERSION}")


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def batches(events: Sequence[SiemEvent], max_bytes: int = MAX_BATCH_BYTES) -> Iterator[list[SiemEvent]]:
    """Consecutive runs of events whose JSON array stays within ``max_bytes``."""
    batch: list[SiemEvent] = []
    size = 2  # the brackets
    for event in events:
        length = len(_json(event.row())) + 1  # and its comma
        if length + 2 > max_bytes:
            raise SentinelFailed(f"event {event.event_id} is {length} bytes of JSON, over {max_bytes}")
        if batch and size + length > max_bytes:
            yield batch
            batch, size = [], 2
        batch.append(event)
        size += length
    if batch:
        yield batch


def _read(stores: AzureStores, tenant_id: str, start: datetime, end: datetime,
          max_events: int) -> tuple[list[SiemEvent], datetime]:
    """The events in ``[start, end)``; a window over the limit is halved until it fits."""
    while True:
        try:
            return read_events(stores, tenant_id, start, end, max_events=max_events), end
        except TooManyEvents:
            # Records sharing one microsecond over the limit cannot be split by time: reported, and
            # the tenant's push waits there (raise TAP365_SIEM_MAX_EVENTS).
            if end - start <= timedelta(microseconds=1):
                raise
            end = start + (end - start) / 2


def push_tenant(stores: AzureStores, settings: Settings, tenant_id: str, *, client: httpx.Client,
                token: str, cursors: CursorStore, now: datetime | None = None,
                max_batch_bytes: int = MAX_BATCH_BYTES) -> PushResult:
    """Everything from the tenant's cursor to now (less the settle time), window by window: a
    window over ``TAP365_SIEM_MAX_EVENTS`` records is halved, and the run goes on with the next."""
    now = now or datetime.now(UTC)
    leased = cursors.lease(tenant_id)
    if leased is None:
        return PushResult(tenant_id, 0, 0, busy=True)  # another push of this tenant is under way
    holder = [leased]  # the latest cursor, for the release below
    try:
        return _push_leased(stores, settings, tenant_id, client=client, token=token, cursors=cursors,
                            holder=holder, now=now, max_batch_bytes=max_batch_bytes)
    finally:
        try:
            cursors.release(tenant_id, holder[0])
        except Exception as exc:  # lost to a takeover, or storage trouble: the lease runs out
            log.warning("sentinel cursor of %s not released: %s: %s", tenant_id, type(exc).__name__, exc)


def _push_leased(stores: AzureStores, settings: Settings, tenant_id: str, *, client: httpx.Client,
                 token: str, cursors: CursorStore, holder: list[Cursor], now: datetime,
                 max_batch_bytes: int) -> PushResult:
    cursor = holder[0]
    target = now - timedelta(seconds=settings.sentinel_settle_seconds)
    url = ingestion_url(settings)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Content-Encoding": "gzip"}
    sent = count = 0
    for _ in range(MAX_WINDOWS_PER_RUN):
        start = cursor.at or now - timedelta(hours=settings.sentinel_backfill_hours)
        if target <= start:
            break
        events, end = _read(stores, tenant_id, start, target, settings.siem_max_events)
        events = [e for e in events if not (e.time == cursor.at and e.event_id in cursor.sent_at_time)]
        for batch in batches(events, max_batch_bytes):
            body = _json([e.row() for e in batch])
            try:
                response = client.post(url, content=gzip.compress(body), headers=headers)
            except httpx.HTTPError as exc:
                return PushResult(tenant_id, sent, count, f"{type(exc).__name__}: {exc}"[:500])
            if not 200 <= response.status_code < 300:
                # The batches before this one are taken and behind the cursor; the rest waits.
                why = f"HTTP {response.status_code}: {response.text[:300]}"
                return PushResult(tenant_id, sent, count, why)
            last = batch[-1].time
            ids = frozenset(e.event_id for e in batch if e.time == last)
            if last == cursor.at:
                ids |= cursor.sent_at_time
            cursor = holder[0] = cursors.put(tenant_id, cursor, last, ids)
            sent += len(batch)
            count += 1
        # Everything in the window went: the next window starts at its end.
        if cursor.at is None or cursor.at < end:
            cursor = holder[0] = cursors.put(tenant_id, cursor, end, frozenset())
    return PushResult(tenant_id, sent, count)


def push_all(stores: AzureStores, settings: Settings, *, credential: TokenCredential | None = None,
             now: datetime | None = None, max_batch_bytes: int = MAX_BATCH_BYTES) -> list[PushResult]:
    """One push for each active tenant; a tenant whose push fails is reported and retried by the
    next run from its cursor, and does not stop the others."""
    if not _configured(settings):
        return []
    credential = credential or stores.config.credential()
    results: list[PushResult] = []
    cursors = CursorStore(stores)
    with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
        token: str | None = None
        for tenant in stores.tenants.list_tenants(status="active"):
            try:
                token = token or credential.get_token(SCOPE).token
                result = push_tenant(stores, settings, tenant.tenant_id, client=client, token=token,
                                     cursors=cursors, now=now, max_batch_bytes=max_batch_bytes)
                if result.error:
                    log.warning("sentinel push for %s stopped after %d events: %s", tenant.tenant_id,
                                result.sent, result.error)
                results.append(result)
            except (SentinelFailed, TooManyEvents, ResourceExistsError, HttpResponseError) as exc:
                if isinstance(exc, HttpResponseError) and not is_precondition_failed(exc):
                    raise
                log.warning("sentinel push for %s stopped: %s", tenant.tenant_id, exc)
                results.append(PushResult(tenant.tenant_id, 0, 0, str(exc)[:500]))
            except Exception as exc:  # a token or store failure: this tenant waits for the next run
                log.error("sentinel push for %s failed: %s: %s", tenant.tenant_id, type(exc).__name__, exc)
                results.append(PushResult(tenant.tenant_id, 0, 0, f"{type(exc).__name__}: {exc}"[:500]))
    return results


def _configured(settings: Settings) -> bool:
    return bool(settings.sentinel_dce and settings.sentinel_dcr_id and settings.sentinel_stream)


def queue_pushes(stores: AzureStores, settings: Settings) -> int:
    """One delayed-queue item per active tenant; returns how many were queued."""
    if not _configured(settings):
        return 0
    tenants = stores.tenants.list_tenants(status="active")
    for tenant in tenants:
        stores.delayed.send({"kind": "sentinel", "tenant_id": tenant.tenant_id}, visibility_timeout=0)
    return len(tenants)


def push_one(stores: AzureStores, settings: Settings, tenant_id: str, *,
             credential: TokenCredential | None = None) -> PushResult:
    """The queue item's work: one tenant's push. Raises :class:`SentinelFailed` when it stopped
    (the queue retries; the cursor keeps what was taken)."""
    if not _configured(settings):
        return PushResult(tenant_id, 0, 0)  # switched off since the item was queued
    credential = credential or stores.config.credential()
    token, cursors = credential.get_token(SCOPE).token, CursorStore(stores)
    with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
        result = push_tenant(stores, settings, tenant_id, client=client, token=token, cursors=cursors)
    if result.error:
        raise SentinelFailed(f"{result.sent} events sent in {result.batches} batches, then {result.error}")
    return result

