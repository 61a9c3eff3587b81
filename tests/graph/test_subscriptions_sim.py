"""Subscriptions, notifications and delta sync against m365sim. Notifications reach the
service's intake (Azurite-backed subscription store and queue) or, where only Graph's side is
under test, m365sim's receiver."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.graph import GraphApp, SubscriptionManager, delta_sync, fetch_message
from connectors.graph.config import GraphSettings
from connectors.graph.notifications import LifecycleNotification, parse_notifications
from connectors.service.tenancy import store_subscription
from connectors.storage.tenants import new_client_state
from m365sim.testing import Receiver, SimHandle

from .conftest import ADELE, IntakeEndpoint, drain, mail, run

# msgraph-sdk's generated request builders warn about their own deprecated classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph")


def _sim_subscription(sim: SimHandle, sub_id: str) -> dict[str, Any] | None:
    return next((s for s in sim.control("GET", "/subscriptions") if s["id"] == sub_id), None)


def test_subscription_lifecycle(
    sim: SimHandle, settings: GraphSettings, tenant_id: str, intake: IntakeEndpoint
) -> None:
    queue = intake.stores.notifications

    async def go() -> None:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            manager = SubscriptionManager(graph, intake.url, intake.lifecycle_url)
            sub = await manager.create(ADELE)
            assert intake.handshakes()  # Graph's handshake reached the intake before 201
            assert 0 < len(sub.client_state) <= 128
            assert sub.expiration is not None
            assert sub.expiration <= datetime.now(UTC) + timedelta(minutes=4231)
            store_subscription(intake.stores.subscriptions, sub, ADELE)

            # A new message: the notification is authenticated and queued; its id fetches it.
            delivered = sim.deliver(ADELE, mail("Notified"))
            (answer,) = intake.wait_for(1)
            assert answer.result.status == 202 and answer.counts == {"queued": 1, "rejected": 0}
            (item,) = drain(queue)
            assert item["kind"] == "message" and item["subscription_id"] == sub.id
            assert item["message_id"] == delivered["immutableId"]
            fetched = await fetch_message(graph, item["mailbox"], item["message_id"])
            assert fetched.message.subject == "Notified"

            # Renew: Graph's expiry is used.
            sim.advance_clock(7200)  # our token expires too: the 401 is answered with a fresh one
            renewed = await manager.renew(sub.id)
            assert renewed.expiration is not None and renewed.expiration > sub.expiration

            # reauthorizationRequired reaches the queue as a lifecycle item -> reauthorize.
            sim.lifecycle(sub.id, "reauthorizationRequired")
            (life,) = intake.wait_for(1, "/lifecycle")
            assert life.result.status == 202 and life.counts == {"queued": 1, "rejected": 0}
            assert drain(queue) == [{"kind": "lifecycle", "event": "reauthorizationRequired",
                                     "tenant_id": tenant_id, "subscription_id": sub.id, "mailbox": ADELE}]
            await manager.reauthorize(sub.id)
            state = _sim_subscription(sim, sub.id)
            assert state is not None and not state["needsReauthorization"]

            # subscriptionRemoved -> recreate (new id and new secret).
            sim.lifecycle(sub.id, "subscriptionRemoved")
            removed = intake.wait_for(2, "/lifecycle")[1]
            assert removed.counts == {"queued": 1, "rejected": 0}
            (item,) = drain(queue)
            assert item["kind"] == "lifecycle" and item["event"] == "subscriptionRemoved"
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
    sim: SimHandle, settings: GraphSettings, tenant_id: str, intake: IntakeEndpoint
) -> None:
    async def go() -> None:
        async with GraphApp(settings) as app:
            manager = SubscriptionManager(app.tenant(tenant_id), intake.url, intake.lifecycle_url)
            sub = await manager.create(ADELE)
            # Stored with another secret than the one Graph holds: Graph's notifications must
            # then look forged to the intake.
            other = replace(sub, client_state=new_client_state().get_secret_value())
            store_subscription(intake.stores.subscriptions, other, ADELE)

    run(go())
    sim.deliver(ADELE, mail("Forged?"))
    (answer,) = intake.wait_for(1)
    assert answer.result.status == 202 and answer.counts == {"queued": 0, "rejected": 1}
    assert drain(intake.stores.notifications) == []


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
