"""The service's notification intake behind a loopback endpoint, against m365sim: Graph's
handshake and a real delivery go through ``connectors.service.intake`` with the subscription
stored (Azurite) the way the service stores it."""

from __future__ import annotations

import pytest

from connectors.graph import GraphApp, SubscriptionManager
from connectors.graph.config import GraphSettings
from connectors.service.tenancy import store_subscription
from m365sim.testing import SimHandle

from .conftest import ADELE, IntakeEndpoint, drain, mail, run

# msgraph-sdk's generated request builders warn about their own deprecated classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph")


def test_handshake_and_notification_through_the_intake(
    sim: SimHandle, settings: GraphSettings, tenant_id: str, intake: IntakeEndpoint
) -> None:
    async def go() -> str:
        async with GraphApp(settings) as app:
            manager = SubscriptionManager(app.tenant(tenant_id), intake.url, intake.lifecycle_url)
            sub = await manager.create(ADELE)
            store_subscription(intake.stores.subscriptions, sub, ADELE)
            return sub.id

    sub_id = run(go())
    # Graph's handshake was answered by the intake itself (200, text/plain, the token).
    (handshake, *_) = intake.handshakes("/notify")
    assert handshake.result.status == 200 and handshake.result.body
    assert intake.handshakes("/lifecycle")  # the lifecycle URL is validated too
    delivered = sim.deliver(ADELE, mail("Through our endpoint"))
    (answer,) = intake.wait_for(1)
    sim.drain()
    assert answer.result.status == 202 and answer.counts == {"queued": 1, "rejected": 0}
    (item,) = drain(intake.stores.notifications)
    assert item["kind"] == "message"
    assert item["message_id"] == delivered["immutableId"]
    assert item["subscription_id"] == sub_id
    assert item["tenant_id"] == tenant_id and item["mailbox"] == ADELE
