"""The Sentinel push over real HTTP: a loopback Logs Ingestion API that checks each request as
Azure would (tests/siem_receiver.py), the token from its managed-identity endpoint through
azure-identity, events from mail the processor really handled (Azurite, the simulated tenant).
The receiver down for a while, then up: every event arrives, once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connectors.service.admin import AdminApi
from connectors.service.processing import MessageProcessor
from connectors.service.worker import run_queue_item
from connectors.settings import Settings
from connectors.siem.events import COLUMNS, read_events
from connectors.siem.sentinel import CursorStore, SentinelFailed, push_all, queue_pushes
from connectors.storage.interfaces import AuditRecord, ClickRecord, Tenant
from tests.e2e.processor_harness import ADELE, Service, drain, mail
from tests.siem_receiver import SiemReceiver, siem_receiver

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
DCR = "dcr-0123456789abcdef0123456789abcdef"
STREAM = "Custom-TAP365Events_CL"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[SiemReceiver]:
    with siem_receiver(DCR, STREAM, {column: kind for column, kind in COLUMNS.values()}) as state:
        # App Service's managed identity endpoint: azure-identity asks it for the token.
        monkeypatch.setenv("IDENTITY_ENDPOINT", state.identity_endpoint)
        monkeypatch.setenv("IDENTITY_HEADER", state.identity_header)
        for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "MSI_ENDPOINT"):
            monkeypatch.delenv(name, raising=False)
        yield state


def _settings(receiver: SiemReceiver) -> Settings:
    return Settings(sentinel_dce=receiver.url, sentinel_dcr_id=DCR, sentinel_stream=STREAM,
                    sentinel_settle_seconds=0)


def _seed(service: Service) -> dict[str, str]:
    """Mail processed (quarantined, delivered), an admin release, clicks; returns internet ids ->
    message ids."""
    runtime = service.runtime
    runtime.stores.tenants.put_tenant(Tenant(service.tenant_id, "Contoso", datetime.now(UTC)))
    changed = AdminApi(runtime).put_policy(service.tenant_id, b"{}", None, "policy-admin@contoso.test")
    assert changed.status == 200, changed.body
    ids = {}
    for internet_id, raw in (
        ("siem-bad@vendor.example", mail("siem-bad@vendor.example", subject="Invoice", files={"invoice.com": EICAR})),
        ("siem-good@partner.example", mail("siem-good@partner.example", subject="Minutes")),
    ):
        delivered = service.deliver(raw)
        service.run(MessageProcessor(runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
        ids[internet_id] = delivered["immutableId"]
    answer = service.run(AdminApi(runtime).release(service.tenant_id, ADELE, ids["siem-bad@vendor.example"],
                                                   "it-admin@contoso.test"))
    assert answer.status == 200, answer.body
    # A user report as connectors/service/reports.py records it (the reporter acting on a message).
    runtime.stores.audit.append(service.tenant_id, AuditRecord(
        actor=ADELE, action="report", target=f"{ADELE}/{ids['siem-bad@vendor.example']}",
        reason="report_button: malicious (k1)", at=datetime.now(UTC)))
    now = datetime.now(UTC)
    for n in range(5):
        runtime.stores.clicks.append(ClickRecord(service.tenant_id, ADELE, f"https://site{n}.example/", "clean",
                                                 "redirect", now - timedelta(milliseconds=10 - n), (), "Mozilla/5.0",
                                                 "198.51.100.9"))
    return ids


def _every_event_id(service: Service) -> set[str]:
    events = read_events(service.runtime.stores, service.tenant_id, datetime(2000, 1, 1, tzinfo=UTC),
                         datetime.now(UTC), max_events=10_000)
    return {event.event_id for event in events}


def _push(service: Service, receiver: SiemReceiver, **kw: object) -> list[object]:
    return list(push_all(service.runtime.stores, _settings(receiver), **kw))  # type: ignore[arg-type]


def test_down_then_up_every_event_arrives_once_with_the_streams_columns(
        service: Service, receiver: SiemReceiver) -> None:
    receiver.down = True
    _seed(service)  # mail is processed while the SIEM is down: nothing waits for it
    (failed,) = _push(service, receiver)
    assert failed.error and failed.sent == 0 and receiver.rows == {}  # type: ignore[attr-defined]
    assert any(status == 503 for status, _ in receiver.refused)
    (again,) = _push(service, receiver)  # still down: the cursor has not moved
    assert again.error  # type: ignore[attr-defined]

    receiver.down = False
    (result,) = _push(service, receiver)
    assert not result.error and result.sent == len(receiver.rows)  # type: ignore[attr-defined]
    assert receiver.duplicates == 0 and not [r for r in receiver.refused if r[0] != 503]
    rows = list(receiver.rows.values())
    assert all(set(row) == {column for column, _ in COLUMNS.values()} for row in rows)
    kinds = sorted(row["EventType"] for row in rows)
    assert kinds.count("message_blocked") == 1 and kinds.count("message_delivered") == 1
    assert kinds.count("click_permitted") == 5 and kinds.count("release") == 1
    (admin,) = [r for r in rows if r["EventType"] == "admin_action"]
    assert admin["Actor"] == "policy-admin@contoso.test" and admin["Action"] == "policy_updated"
    (blocked,) = [r for r in rows if r["EventType"] == "message_blocked"]
    assert blocked["InternetMessageId"] == "<siem-bad@vendor.example>" and blocked["Recipient"] == ADELE
    assert blocked["ThreatPipelines"] and blocked["Verdict"] == "malicious" and blocked["TenantId"] == service.tenant_id
    (report,) = [r for r in rows if r["EventType"] == "report"]
    assert report["Actor"] == ADELE and report["MessageId"] == blocked["MessageId"]
    (release,) = [r for r in rows if r["EventType"] == "release"]
    assert release["Actor"] == "it-admin@contoso.test" and release["MessageId"]
    assert receiver.token_requests >= 1
    assert set(receiver.rows) == _every_event_id(service)  # nothing lost

    # Nothing new: nothing sent. A new click: only it.
    (idle,) = _push(service, receiver)
    assert idle.sent == 0 and receiver.duplicates == 0  # type: ignore[attr-defined]
    service.runtime.stores.clicks.append(ClickRecord(service.tenant_id, ADELE, "https://later.example/", "malicious",
                                                     "block", datetime.now(UTC)))
    (one,) = _push(service, receiver)
    assert one.sent == 1 and receiver.duplicates == 0  # type: ignore[attr-defined]
    assert [r["Url"] for r in receiver.rows.values() if r["EventType"] == "click_blocked"] == ["https://later.example/"]


def test_batches_stay_under_the_limit_and_a_failure_midway_resumes_after_the_taken_batches(
        service: Service, receiver: SiemReceiver) -> None:
    _seed(service)
    limit = 3000  # bytes per call, for the test (Azure's is 1 MB): two or three events a batch
    receiver.down_after = 2  # takes two batches, then fails
    (partial,) = _push(service, receiver, max_batch_bytes=limit)
    assert partial.error and partial.sent == sum(receiver.batches) and len(receiver.batches) == 2  # type: ignore[attr-defined]
    taken = len(receiver.rows)
    receiver.down_after = None
    (rest,) = _push(service, receiver, max_batch_bytes=limit)
    assert not rest.error and rest.batches >= 1  # type: ignore[attr-defined]
    assert receiver.duplicates == 0 and len(receiver.rows) == taken + rest.sent  # type: ignore[attr-defined]
    assert all(size <= limit for size in receiver.body_sizes) and max(receiver.batches) >= 2
    assert set(receiver.rows) == _every_event_id(service)


def test_a_window_over_the_record_limit_is_halved_until_it_fits(service: Service, receiver: SiemReceiver) -> None:
    _seed(service)
    settings = Settings(**{**_settings(receiver).model_dump(), "siem_max_events": 10})
    (result,) = push_all(service.runtime.stores, settings)
    assert not result.error and result.batches >= 2  # several windows, none over the limit
    assert receiver.duplicates == 0 and set(receiver.rows) == _every_event_id(service)


def test_through_the_delayed_queue_retried_poisoned_and_queued_again_until_the_receiver_is_back(
        service_factory: Callable[..., Service], receiver: SiemReceiver) -> None:
    service = service_factory(sentinel_dce=receiver.url, sentinel_dcr_id=DCR, sentinel_stream=STREAM,
                              sentinel_settle_seconds=0)
    runtime = service.runtime
    receiver.down = True
    _seed(service)  # processed while the SIEM is down: the mail path never waits for it
    assert queue_pushes(runtime.stores, runtime.settings) == 1
    (item,) = drain(runtime.stores.delayed)
    assert item == {"kind": "sentinel", "tenant_id": service.tenant_id}
    body = json.dumps(item)
    for attempt in range(1, 5):  # the host retries the item while the receiver is down
        with pytest.raises(SentinelFailed):
            service.run(run_queue_item(runtime, body, attempt, runtime.stores.delayed, 5))
    # The last attempt poisons the item with the reason; the next timer queues the tenant again.
    assert service.run(run_queue_item(runtime, body, 5, runtime.stores.delayed, 5)) is None
    assert receiver.rows == {}
    receiver.down = False
    assert queue_pushes(runtime.stores, runtime.settings) == 1
    (again,) = drain(runtime.stores.delayed)
    done = service.run(run_queue_item(runtime, json.dumps(again), 1, runtime.stores.delayed, 5))
    assert str(done).startswith("sentinel: ")
    assert set(receiver.rows) == _every_event_id(service) and receiver.duplicates == 0


def test_one_push_of_a_tenant_at_a_time(service: Service, receiver: SiemReceiver) -> None:
    _seed(service)
    cursors = CursorStore(service.runtime.stores)
    other = cursors.lease(service.tenant_id)  # another worker's push holds the tenant's cursor
    assert other is not None and cursors.lease(service.tenant_id) is None
    (busy,) = _push(service, receiver)
    assert busy.busy and busy.sent == 0 and not busy.error and receiver.rows == {}  # type: ignore[attr-defined]
    cursors.release(service.tenant_id, other)
    (done,) = _push(service, receiver)
    assert not done.busy and set(receiver.rows) == _every_event_id(service)  # type: ignore[attr-defined]
    assert cursors.lease(service.tenant_id) is not None  # released after the push


def test_no_endpoint_configured_pushes_nothing(service: Service) -> None:
    assert push_all(service.runtime.stores, Settings()) == []
