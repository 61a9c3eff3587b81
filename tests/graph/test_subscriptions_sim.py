"""Subscriptions, notifications and delta sync against m365sim, with a local receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.graph import GraphApp, SubscriptionManager, delta_sync, fetch_message
from connectors.graph.config import GraphSettings
from connectors.graph.notifications import (
    ChangeNotification,
    LifecycleNotification,
    SubscriptionRecord,
    parse_notifications,
    validate,
)
from m365sim.testing import Receiver, SimHandle

from .conftest import ADELE, mail, run

# msgraph-sdk's generated request builders warn about their own deprecated classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph")


def _sim_subscription(sim: SimHandle, sub_id: str) -> dict[str, Any] | None:
    return next((s for s in sim.control("GET", "/subscriptions") if s["id"] == sub_id), None)


def test_subscription_lifecycle(
    sim: SimHandle, settings: GraphSettings, tenant_id: str, receiver: Receiver
) -> None:
    records: dict[str, SubscriptionRecord] = {}

    async def go() -> None:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            manager = SubscriptionManager(graph, receiver.url, receiver.lifecycle_url)
            sub = await manager.create(ADELE)
            assert receiver.validations  # Graph's handshake reached the receiver before 201
            assert 0 < len(sub.client_state) <= 128
            assert sub.expiration is not None
            assert sub.expiration <= datetime.now(UTC) + timedelta(minutes=4231)
            records[sub.id] = SubscriptionRecord(tenant_id, sub.client_state)

            # A new message: the notification validates and its id fetches the message.
            delivered = sim.deliver(ADELE, mail("Notified"))
            items = receiver.wait_for(1)
            batch = parse_notifications({"value": items})
            accepted, rejected = validate(batch.notifications, records.get)
            assert not rejected
            (note,) = accepted
            assert isinstance(note, ChangeNotification)
            assert note.message_id == delivered["immutableId"]
            fetched = await fetch_message(graph, ADELE, note.message_id)
            assert fetched.message.subject == "Notified"

            # Renew: Graph's expiry is used.
            sim.advance_clock(7200)  # our token expires too: the 401 is answered with a fresh one
            renewed = await manager.renew(sub.id)
            assert renewed.expiration is not None and renewed.expiration > sub.expiration

            # reauthorizationRequired -> reauthorize.
            sim.lifecycle(sub.id, "reauthorizationRequired")
            life = parse_notifications({"value": receiver.wait_for(1, lifecycle=True)}).notifications
            assert isinstance(life[0], LifecycleNotification)
            assert life[0].event == "reauthorizationRequired"
            assert validate(life, records.get)[0] == life
            await manager.reauthorize(sub.id)
            state = _sim_subscription(sim, sub.id)
            assert state is not None and not state["needsReauthorization"]

            # subscriptionRemoved -> recreate (new id and new secret).
            sim.lifecycle(sub.id, "subscriptionRemoved")
            receiver.wait_for(2, lifecycle=True)
            again = await manager.recreate(sub)
            assert again.id != sub.id and again.client_state != sub.client_state
            assert again.mailbox.lower() == ADELE
            listed = await manager.list_all()
            assert [s.id for s in listed] == [again.id]
            assert await manager.delete(again.id) is True
            assert await manager.delete(again.id) is False
            assert await manager.list_all() == []

    run(go())


def test_notification_with_wrong_client_state_is_rejected(
    sim: SimHandle, settings: GraphSettings, tenant_id: str, receiver: Receiver
) -> None:
    async def go() -> str:
        async with GraphApp(settings) as app:
            manager = SubscriptionManager(app.tenant(tenant_id), receiver.url, receiver.lifecycle_url)
            return (await manager.create(ADELE)).id

    sub_id = run(go())
    sim.deliver(ADELE, mail("Forged?"))
    batch = parse_notifications({"value": receiver.wait_for(1)})
    accepted, rejected = validate(batch.notifications, {sub_id: SubscriptionRecord(tenant_id, "x")}.get)
    assert not accepted and rejected[0].reason == "client_state_mismatch"


def test_delta_after_missed_and_restart_after_410(
    sim: SimHandle, settings: GraphSettings, tenant_id: str, receiver: Receiver
) -> None:
    first = sim.deliver(ADELE, mail("Before"))["immutableId"]

    async def go() -> None:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            manager = SubscriptionManager(graph, receiver.url, receiver.lifecycle_url)
            sub = await manager.create(ADELE)
            initial = await delta_sync(graph, ADELE, "inbox")
            assert first in initial.added and initial.delta_link

            receiver.status = 500  # the endpoint is down: Graph will report "missed"
            later = sim.deliver(ADELE, mail("While down"))["immutableId"]
            receiver.status = 202
            sim.lifecycle(sub.id, "missed")
            life = parse_notifications({"value": receiver.wait_for(1, lifecycle=True)}).notifications
            assert isinstance(life[0], LifecycleNotification) and life[0].event == "missed"

            caught_up = await delta_sync(graph, ADELE, "inbox", initial.delta_link)
            assert caught_up.added == [later] and not caught_up.restarted

            sim.control("POST", "/delta/expire")  # the sync state is gone: 410
            restarted = await delta_sync(graph, ADELE, "inbox", caught_up.delta_link)
            assert restarted.restarted
            assert set(restarted.added) >= {first, later}
            assert restarted.delta_link

    run(go())


def test_delta_pages_and_ignores_our_own_edits(sim: SimHandle, settings: GraphSettings, tenant_id: str) -> None:
    from connectors.graph import Remediator

    old = sim.deliver(ADELE, mail("Old"), received="2026-01-01T00:00:00Z")["immutableId"]
    ids = [sim.deliver(ADELE, mail(f"D{i}"))["immutableId"] for i in range(3)]

    async def go() -> None:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            since = datetime(2026, 6, 1, tzinfo=UTC)
            first = await delta_sync(graph, ADELE, "inbox", page_size=2, received_since=since)
            assert sorted(first.added) == sorted(ids) and old not in first.added
            assert first.requests == 2  # two pages
            await Remediator(graph).add_categories(ADELE, ids[0], ["TAP: clean"])
            quiet = await delta_sync(graph, ADELE, "inbox", first.delta_link)
            assert quiet.added == []  # our category edit is not a new message
            newer = sim.deliver(ADELE, mail("Newer"))["immutableId"]
            after = await delta_sync(graph, ADELE, "inbox", quiet.delta_link)
            assert after.added == [newer]

    run(go())
