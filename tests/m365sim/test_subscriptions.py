"""Subscriptions and change notifications against a real local HTTP(S) receiver."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from m365sim.testing import Receiver, SimHandle

from .conftest import ADELE, IMMUTABLE, sample_mail

INBOX_RESOURCE = f"users/{ADELE}/mailFolders('inbox')/messages"


def _expiry(minutes: float = 60) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _subscribe(
    sim: SimHandle, token: str, receiver: Receiver, headers: dict[str, str] | None = None, **overrides: object
) -> dict:
    body = {
        "changeType": "created",
        "notificationUrl": receiver.url,
        "lifecycleNotificationUrl": receiver.lifecycle_url,
        "resource": INBOX_RESOURCE,
        "expirationDateTime": _expiry(),
        "clientState": "s3cret-state",
        **overrides,
    }
    response = sim.graph("POST", "/subscriptions", token, json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_runs_the_validation_handshake(sim: SimHandle, token: str, receiver: Receiver) -> None:
    sub = _subscribe(sim, token, receiver)
    assert sub["resource"] == INBOX_RESOURCE and sub["changeType"] == "created"
    assert sub["clientState"] == "s3cret-state" and sub["applicationId"] == sim.app(0)["clientId"]
    assert sub["lifecycleNotificationUrl"] == receiver.lifecycle_url
    assert len(receiver.validations) == 2  # notification URL and lifecycle URL
    assert receiver.validations[0].startswith("Validation: Testing client application reachability")
    assert sim.graph("GET", f"/subscriptions/{sub['id']}", token).json()["id"] == sub["id"]
    listed = sim.graph("GET", "/subscriptions", token).json()["value"]
    assert [s["id"] for s in listed] == [sub["id"]]
    other_tenant = sim.token(tenant="fabrikam.test")
    assert sim.graph("GET", f"/subscriptions/{sub['id']}", other_tenant).status_code == 404
    assert sim.graph("DELETE", f"/subscriptions/{sub['id']}", token).status_code == 204
    assert sim.graph("GET", f"/subscriptions/{sub['id']}", token).status_code == 404


@pytest.mark.parametrize("mode", ["wrong", "error", "html", "slow"])
def test_failed_handshake_creates_nothing(sim: SimHandle, token: str, receiver: Receiver, mode: str) -> None:
    sim.configure(validation_timeout_seconds=0.3)
    receiver.validation = mode
    receiver.validation_delay = 1.0
    response = sim.graph(
        "POST",
        "/subscriptions",
        token,
        json={
            "changeType": "created",
            "notificationUrl": receiver.url,
            "resource": INBOX_RESOURCE,
            "expirationDateTime": _expiry(),
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ValidationError"
    assert sim.graph("GET", "/subscriptions", token).json()["value"] == []


def test_subscription_rules(sim: SimHandle, token: str, receiver: Receiver) -> None:
    def create(**overrides: object) -> object:
        body = {
            "changeType": "created",
            "notificationUrl": receiver.url,
            "resource": INBOX_RESOURCE,
            "expirationDateTime": _expiry(),
            **overrides,
        }
        return sim.graph("POST", "/subscriptions", token, json=body)

    assert create(clientState="x" * 128).status_code == 201
    assert create(clientState="x" * 129).status_code == 400
    too_long = create(expirationDateTime=_expiry(4231))
    assert too_long.status_code == 400
    assert "4230 minutes" in too_long.json()["error"]["message"]
    assert create(expirationDateTime=_expiry(4229)).status_code == 201
    assert create(expirationDateTime=_expiry(-5)).status_code == 400
    assert create(resource="me/mailFolders('inbox')/messages").status_code == 400
    assert create(resource="users/nobody@contoso.test/messages").status_code == 404
    assert create(resource=f"users/{ADELE}/events").status_code == 400
    assert create(changeType="created,exploded").status_code == 400
    assert create(notificationUrl="http://example.test/hook").status_code == 400
    assert (
        create(resource=f"/users/{ADELE}/messages", changeType="created,updated,deleted").status_code == 201
    )
    reader_without_mail = sim.grant(["User.Read.All"]) and sim.token()
    assert (
        sim.graph(
            "POST",
            "/subscriptions",
            reader_without_mail,
            json={
                "changeType": "created",
                "notificationUrl": receiver.url,
                "resource": INBOX_RESOURCE,
                "expirationDateTime": _expiry(),
            },
        ).status_code
        == 403
    )


def test_patch_rules(sim: SimHandle, token: str, receiver: Receiver) -> None:
    sub = _subscribe(sim, token, receiver)
    path = f"/subscriptions/{sub['id']}"
    renewed = sim.graph("PATCH", path, token, json={"expirationDateTime": _expiry(4000)})
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"] != sub["expirationDateTime"]
    assert sim.graph("PATCH", path, token, json={"expirationDateTime": _expiry(5000)}).status_code == 400
    refused = sim.graph("PATCH", path, token, json={"lifecycleNotificationUrl": receiver.lifecycle_url})
    assert refused.status_code == 400
    assert sim.graph("PATCH", path, token, json={"clientState": "new"}).status_code == 400


def test_notification_on_delivery(sim: SimHandle, token: str, receiver: Receiver) -> None:
    sub = _subscribe(sim, token, receiver)
    delivered = sim.deliver(ADELE, sample_mail())
    [notification] = receiver.wait_for(1)
    assert notification["subscriptionId"] == sub["id"]
    assert notification["changeType"] == "created"
    assert notification["clientState"] == "s3cret-state"
    assert notification["tenantId"] == sim.tenant(0)["id"]
    user_id = delivered["userId"]
    assert notification["resource"] == f"Users/{user_id}/Messages/{delivered['id']}"
    data = notification["resourceData"]
    assert data["@odata.type"] == "#Microsoft.Graph.Message" and data["id"] == delivered["id"]
    assert data["@odata.etag"].startswith('W/"')
    assert notification["subscriptionExpirationDateTime"] == sub["expirationDateTime"]
    sim.deliver("alex.wilber@contoso.test", sample_mail(to="alex.wilber@contoso.test"))
    sim.drain()
    assert len(receiver.notifications) == 1  # other mailbox: not this subscription
    stats = sim.stats()["notifications"]["by_subscription"][sub["id"]]
    assert stats["delivered"] == 1 and stats["attempts"] == 1


def test_immutable_subscription_and_update_delete_events(
    sim: SimHandle, token: str, receiver: Receiver
) -> None:
    sub = _subscribe(
        sim,
        token,
        receiver,
        changeType="created,updated,deleted",
        resource=f"users/{ADELE}/messages",
        headers=IMMUTABLE,
    )
    delivered = sim.deliver(ADELE, sample_mail())
    sim.graph("PATCH", f"/users/{ADELE}/messages/{delivered['id']}", token, json={"isRead": True})
    sim.graph("POST", f"/users/{ADELE}/messages/{delivered['id']}/permanentDelete", token)
    notifications = receiver.wait_for(3)
    # Like Graph, the sim does not promise delivery order.
    assert sorted(n["changeType"] for n in notifications) == ["created", "deleted", "updated"]
    assert {n["resourceData"]["id"] for n in notifications} == {delivered["immutableId"]}
    assert all(n["subscriptionId"] == sub["id"] for n in notifications)


def test_retry_after_failures(sim: SimHandle, token: str, receiver: Receiver) -> None:
    sub = _subscribe(sim, token, receiver)
    receiver.fail_first = 2
    sim.deliver(ADELE, sample_mail())
    assert len(receiver.wait_for(1)) == 1
    sim.drain()
    stats = sim.stats()["notifications"]["by_subscription"][sub["id"]]
    assert stats["attempts"] == 3 and stats["failures"] == 2 and stats["retries"] == 2
    assert stats["delivered"] == 1


def test_slow_receiver_counts_and_timeouts_retry(sim: SimHandle, token: str, receiver: Receiver) -> None:
    sim.configure(notification_timeout_seconds=0.6, slow_notification_seconds=0.15)
    sub = _subscribe(sim, token, receiver)
    receiver.delay = 0.3  # answered in time, but slow
    sim.deliver(ADELE, sample_mail())
    sim.drain()
    stats = sim.stats()["notifications"]["by_subscription"][sub["id"]]
    assert stats["slow"] == 1 and stats["delivered"] == 1 and stats["failures"] == 0
    receiver.delay = 1.0  # beyond the timeout: a failure, then retried
    sim.deliver(ADELE, sample_mail())
    time.sleep(0.8)
    receiver.delay = 0.0
    sim.drain()
    stats = sim.stats()["notifications"]["by_subscription"][sub["id"]]
    assert stats["delivered"] == 2 and stats["failures"] >= 1 and stats["retries"] >= 1
    assert stats["slow"] >= 2  # a timeout is slow too


def test_gives_up_after_retry_window(sim: SimHandle, token: str, receiver: Receiver) -> None:
    sim.configure(retry_window_seconds=60)  # x time scale 0.001 = 60 ms
    sub = _subscribe(sim, token, receiver)
    receiver.status = 503
    sim.deliver(ADELE, sample_mail())
    sim.drain()
    stats = sim.stats()["notifications"]["by_subscription"][sub["id"]]
    assert stats["gave_up"] == 1 and stats["delivered"] == 0 and stats["attempts"] >= 2


def test_lifecycle_events(sim: SimHandle, token: str, receiver: Receiver) -> None:
    sub = _subscribe(sim, token, receiver)
    assert sim.lifecycle(sub["id"], "reauthorizationRequired")["sent"] is True
    [event] = receiver.wait_for(1, lifecycle=True)
    assert event["lifecycleEvent"] == "reauthorizationRequired" and event["subscriptionId"] == sub["id"]
    assert event["clientState"] == "s3cret-state"
    sim.deliver(ADELE, sample_mail())
    sim.drain()
    assert receiver.notifications == []  # paused until reauthorized
    assert sim.graph("POST", f"/subscriptions/{sub['id']}/reauthorize", token).status_code == 204
    sim.deliver(ADELE, sample_mail())
    assert len(receiver.wait_for(1)) == 1
    sim.lifecycle(sub["id"], "missed")
    assert receiver.wait_for(2, lifecycle=True)[1]["lifecycleEvent"] == "missed"
    sim.lifecycle(sub["id"], "subscriptionRemoved")
    assert receiver.wait_for(3, lifecycle=True)[2]["lifecycleEvent"] == "subscriptionRemoved"
    assert sim.graph("GET", f"/subscriptions/{sub['id']}", token).status_code == 404


def test_renewal_reauthorizes_and_expiry_stops_delivery(
    sim: SimHandle, token: str, receiver: Receiver
) -> None:
    sub = _subscribe(sim, token, receiver)
    sim.lifecycle(sub["id"], "reauthorizationRequired")
    sim.graph("PATCH", f"/subscriptions/{sub['id']}", token, json={"expirationDateTime": _expiry(120)})
    sim.deliver(ADELE, sample_mail())
    assert len(receiver.wait_for(1)) == 1
    sim.advance_clock(3 * 3600)  # past the expiry
    sim.deliver(ADELE, sample_mail())
    sim.drain()
    assert len(receiver.notifications) == 1
    assert sim.graph("GET", f"/subscriptions/{sub['id']}", sim.token()).status_code == 404


def test_notification_faults(sim: SimHandle, token: str, receiver: Receiver) -> None:
    sub = _subscribe(sim, token, receiver)
    sim.faults(drop_notifications_rate=1.0)
    sim.deliver(ADELE, sample_mail())
    sim.drain()
    assert receiver.notifications == []
    sim.faults(duplicate_notifications_rate=1.0, delay_notifications_ms=20)
    sim.deliver(ADELE, sample_mail())
    assert len(receiver.wait_for(2)) == 2
    stats = sim.stats()["notifications"]["by_subscription"][sub["id"]]
    assert stats["dropped_by_fault"] == 1 and stats["duplicates_by_fault"] == 1


def test_https_receiver_with_sim_issued_certificate(sim: SimHandle, token: str) -> None:
    with Receiver(https_ca_dir=sim.state_dir) as secure:
        assert secure.url.startswith("https://")
        sub = _subscribe(sim, token, secure, lifecycleNotificationUrl=None)
        sim.deliver(ADELE, sample_mail())
        assert secure.wait_for(1)[0]["subscriptionId"] == sub["id"]
