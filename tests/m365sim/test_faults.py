"""The chaos fault profile and the per-message effect counts (``GET /_sim/effects``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from m365sim.testing import Receiver, SimHandle

from .conftest import ADELE, IMMUTABLE, sample_mail

INBOX_RESOURCE = f"/users/{ADELE}/mailFolders('inbox')/messages"


def _subscribe(sim: SimHandle, token: str, receiver: Receiver) -> dict:
    body = {
        "changeType": "created",
        "notificationUrl": receiver.url,
        "lifecycleNotificationUrl": receiver.lifecycle_url,
        "resource": INBOX_RESOURCE,
        "expirationDateTime": (datetime.now(UTC) + timedelta(minutes=60)).isoformat().replace("+00:00", "Z"),
        "clientState": "s3cret-state",
    }
    response = sim.graph("POST", "/subscriptions", token, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _effects(sim: SimHandle, **params: str) -> dict:
    return sim.control("GET", "/effects", params=params)  # type: ignore[no-any-return]


def test_effects_count_patches_and_moves_per_message_across_id_changes(sim: SimHandle, token: str) -> None:
    delivered = sim.deliver(ADELE, sample_mail())
    rest_id, immutable_id = delivered["id"], delivered["immutableId"]
    base = f"/users/{ADELE}/messages"
    assert sim.graph("PATCH", f"{base}/{rest_id}", token, json={"body": {"contentType": "html",
                                                                         "content": "<p>x</p>"}}).ok
    assert sim.graph("PATCH", f"{base}/{rest_id}", token, json={"categories": ["A"]}).ok
    assert sim.graph("PATCH", f"{base}/{rest_id}", token, json={"isRead": True}).ok  # not an effect we count
    moved = sim.graph("POST", f"{base}/{rest_id}/move", token, json={"destinationId": "junkemail"})
    assert moved.status_code == 201
    new_rest = moved.json()["id"]
    assert new_rest != rest_id  # a move changes the REST id ...
    # ... and the counts stay on the message: a second body PATCH through the new id adds up.
    assert sim.graph("PATCH", f"{base}/{new_rest}", token, json={"body": {"contentType": "html",
                                                                          "content": "<p>y</p>"}}).ok
    # A move by immutable id, and a refused request (unknown destination) that counts nothing.
    assert sim.graph("POST", f"{base}/{immutable_id}/move", token, json={"destinationId": "inbox"},
                     headers=IMMUTABLE).status_code == 201
    assert sim.graph("POST", f"{base}/{immutable_id}/move", token, json={"destinationId": "x" * 60},
                     headers=IMMUTABLE).status_code == 404
    entry = _effects(sim, user=ADELE)["messages"][immutable_id]
    assert entry["body_patches"] == 2 and entry["category_writes"] == 1
    assert entry["moves"] == {"Junk Email": 1, "Inbox": 1}
    assert entry["folder"] == "Inbox" and entry["user"] == ADELE


def test_untouched_messages_are_listed_with_zero_effects(sim: SimHandle) -> None:
    delivered = sim.deliver(ADELE, sample_mail())
    entry = _effects(sim)["messages"][delivered["immutableId"]]
    assert (entry["body_patches"], entry["category_writes"], entry["moves"]) == (0, 0, {})
    assert entry["folder"] == "Inbox"


def test_chaos_mix_fires_each_kind_and_faulted_requests_have_no_effect(sim: SimHandle, token: str) -> None:
    delivered = sim.deliver(ADELE, sample_mail())
    path = f"/users/{ADELE}/messages/{delivered['id']}"
    sim.faults(throttle_rate=0.3, server_error_rate=0.3, timeout_rate=0.1, timeout_seconds=0.05,
               retry_after_seconds=2, seed=7)
    statuses = []
    for _ in range(60):
        response = sim.graph("PATCH", path, token, json={"categories": ["A"]})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "2"
    fired = sim.stats()["faults_fired"]
    assert fired["throttled_429"] == statuses.count(429)
    assert fired["timeout"] >= 1 and sum(v for k, v in fired.items() if k.startswith("server_error_")) >= 1
    entry = _effects(sim)["messages"][delivered["immutableId"]]
    assert entry["category_writes"] == statuses.count(200)  # only the requests that got through
    assert 0 < statuses.count(200) < 60


def test_timeout_hangs_past_the_client_and_applies_nothing(sim: SimHandle, token: str) -> None:
    delivered = sim.deliver(ADELE, sample_mail())
    sim.faults(timeout_rate=1.0, timeout_seconds=1.5)
    with pytest.raises(requests.Timeout):
        sim.session.patch(f"{sim.graph_url}/users/{ADELE}/messages/{delivered['id']}",
                          json={"categories": ["A"]}, headers={"Authorization": f"Bearer {token}"},
                          timeout=0.3)
    sim.faults()
    sim.drain()
    assert _effects(sim)["messages"][delivered["immutableId"]]["category_writes"] == 0
    assert sim.stats()["faults_fired"]["timeout"] == 1


def test_duplicates_up_to_max_copies_and_drops_send_missed(sim: SimHandle, token: str,
                                                           receiver: Receiver) -> None:
    sub = _subscribe(sim, token, receiver)
    sim.faults(duplicate_notifications_rate=1.0, duplicate_max_copies=3, seed=3)
    for _ in range(6):
        sim.deliver(ADELE, sample_mail())
    sim.drain()
    copies = len(receiver.notifications)
    fired = sim.stats()["faults_fired"]
    assert fired["notification_duplicated"] == 6
    assert 12 <= copies <= 18 and copies > 12  # 2 or 3 copies each; seed 3 gives some threes
    sim.faults(drop_notifications_rate=1.0, missed_on_drop=True)
    sim.deliver(ADELE, sample_mail())
    missed = receiver.wait_for(1, lifecycle=True)
    assert missed[0]["lifecycleEvent"] == "missed" and missed[0]["subscriptionId"] == sub["id"]
    assert len(receiver.notifications) == copies  # the change notification itself was dropped
    fired = sim.stats()["faults_fired"]
    assert fired["notification_dropped"] == 1 and fired["missed_sent"] == 1


@pytest.mark.parametrize("body", [{"throttle_rate": 2}, {"server_error_statuses": [404]},
                                  {"duplicate_max_copies": 1}, {"timeout_seconds": -1}, {"nope": 1}])
def test_bad_fault_profiles_are_refused(sim: SimHandle, body: dict) -> None:
    response = sim.session.post(f"{sim.base_url}/_sim/faults", json=body, timeout=10)
    assert response.status_code == 400


def test_timeout_after_effect_applies_the_request_and_fails_the_answer(sim: SimHandle, token: str) -> None:
    delivered = sim.deliver(ADELE, sample_mail())
    sim.faults(timeout_after_effect_rate=1.0, timeout_seconds=0.05)
    response = sim.graph("PATCH", f"/users/{ADELE}/messages/{delivered['id']}", token,
                         json={"categories": ["A"]})
    assert response.status_code == 504
    assert _effects(sim)["messages"][delivered["immutableId"]]["category_writes"] == 1
    assert sim.stats()["faults_fired"]["timeout_after_effect"] == 1
