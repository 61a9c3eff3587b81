"""Notification parsing, the service's intake authenticating them (Azurite-backed subscription
store and queue), and rich-notification crypto, with data encrypted here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from connectors.graph.notifications import (
    GRAPH_CHANGE_TRACKING_APP_ID,
    ChangeNotification,
    DecryptionError,
    LifecycleNotification,
    NotificationError,
    decrypt_resource_data,
    parse_notifications,
    validation_token,
    verify_validation_tokens,
)
from connectors.graph.subscriptions import SubscriptionInfo
from connectors.service.intake import IntakeLimits, handle_lifecycle, handle_notifications
from connectors.service.tenancy import store_subscription
from connectors.storage.azure import AzureStores
from connectors.storage.interfaces import ClientStateCheck, Subscription, SubscriptionStore

from .conftest import drain

TENANT = "a1b2c3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"
APP = "9d3e5f7a-1b2c-4d6e-8f0a-b1c2d3e4f5a6"
MSG = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AAAA="
USER = "0b6f2a3c-1d4e-4f5a-8b6c-7d8e9f0a1b2c"
OTHER_TENANT = "f0e1d2c3-b4a5-4697-8877-665544332211"


def _body(*items: Mapping[str, object], tokens: list[str] | None = None) -> bytes:
    data: dict[str, object] = {"value": list(items)}
    if tokens is not None:
        data["validationTokens"] = tokens
    return json.dumps(data).encode()


def _change(sub: str = "sub-1", state: str = "s3cret", tenant: str = TENANT) -> dict[str, object]:
    return {
        "subscriptionId": sub,
        "subscriptionExpirationDateTime": "2026-12-02T10:00:00.0000000Z",
        "changeType": "created",
        "resource": f"Users/{USER}/Messages/{MSG}",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Message",
            "id": MSG,
        },
        "clientState": state,
        "tenantId": tenant,
    }


def test_validation_token_handshake() -> None:
    assert validation_token({"validationToken": "Validation: Testing client application"}) == (
        "Validation: Testing client application"
    )
    assert validation_token({"other": "x"}) is None


def test_parse_change_and_lifecycle() -> None:
    lifecycle = {
        "subscriptionId": "sub-2",
        "subscriptionExpirationDateTime": "2026-12-02T10:00:00Z",
        "tenantId": TENANT,
        "clientState": "s3cret",
        "lifecycleEvent": "reauthorizationRequired",
    }
    batch = parse_notifications(_body(_change(), lifecycle))
    change, life = batch.notifications
    assert isinstance(change, ChangeNotification)
    assert change.mailbox == "0b6f2a3c-1d4e-4f5a-8b6c-7d8e9f0a1b2c"
    assert change.message_id == MSG
    assert change.subscription_expiration is not None
    assert isinstance(life, LifecycleNotification) and life.event == "reauthorizationRequired"
    assert "s3cret" not in repr(change)  # the secret never reaches logs through repr


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"value": [{"x": 1}]}', b"[]", b'{"value": [], "validationTokens": 1}'],
)
def test_parse_rejects_malformed(body: bytes) -> None:
    with pytest.raises(NotificationError):
        parse_notifications(body)


@pytest.fixture
def subscribed(stores: AzureStores) -> AzureStores:
    """sub-1 for USER in TENANT with clientState "s3cret", saved as the service saves the
    subscriptions it creates (only a keyed hash of the clientState is kept)."""
    info = SubscriptionInfo(
        id="sub-1",
        tenant_id=TENANT,
        resource=f"users/{USER}/messages",
        change_type="created",
        expiration=datetime.now(UTC) + timedelta(days=2),
        notification_url="https://tap.example/api/graph/notifications",
        client_state="s3cret",
    )
    store_subscription(stores.subscriptions, info, USER)
    return stores


def _intake(stores: AzureStores, body: bytes, lifecycle: bool = False) -> tuple[int, dict[str, object]]:
    handle = handle_lifecycle if lifecycle else handle_notifications
    result = handle({}, body, subscriptions=stores.subscriptions, queue=stores.notifications)
    return result.status, json.loads(result.body)


def test_intake_authenticates_client_state_subscription_and_tenant(
    subscribed: AzureStores, caplog: pytest.LogCaptureFixture
) -> None:
    body = _body(
        _change(),
        _change(state="wrong"),
        _change(sub="unknown"),
        _change(tenant=OTHER_TENANT),
        _change(tenant=""),  # a missing tenantId fails too
    )
    with caplog.at_level(logging.WARNING, logger="tap365.intake"):
        status, counts = _intake(subscribed, body)
    assert status == 202 and counts == {"queued": 1, "rejected": 4}
    # The reasons, counted (the log never carries the clientState itself).
    assert "{'mismatch': 1, 'unknown_subscription': 1, 'tenant_mismatch': 2}" in caplog.text
    assert "s3cret" not in caplog.text and "wrong" not in caplog.text
    (item,) = drain(subscribed.notifications)
    assert item["kind"] == "message" and item["message_id"] == MSG
    assert item["subscription_id"] == "sub-1" and item["tenant_id"] == TENANT
    assert item["mailbox"] == USER


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (_change(state="wrong"), "mismatch"),
        (_change(state=""), "mismatch"),
        (_change(tenant=OTHER_TENANT), "tenant_mismatch"),
    ],
    ids=["client_state", "no_client_state", "tenant"],
)
def test_intake_rejects_forged_notification_alone(
    subscribed: AzureStores, caplog: pytest.LogCaptureFixture, item: dict[str, object], reason: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="tap365.intake"):
        status, counts = _intake(subscribed, _body(item))
    assert status == 202 and counts == {"queued": 0, "rejected": 1}
    assert f"{{'{reason}': 1}}" in caplog.text
    assert drain(subscribed.notifications) == []


def test_intake_unknown_subscription_alone_asks_graph_to_retry(subscribed: AzureStores) -> None:
    # It may have overtaken the storing of a new subscription: 503, nothing queued.
    status, _ = _intake(subscribed, _body(_change(sub="unknown")))
    assert status == 503
    assert drain(subscribed.notifications) == []


def test_intake_queues_lifecycle_events(subscribed: AzureStores) -> None:
    def event(name: str, state: str = "s3cret", sub: str = "sub-1") -> dict[str, object]:
        return {"subscriptionId": sub, "tenantId": TENANT, "clientState": state, "lifecycleEvent": name}

    body = _body(
        event("reauthorizationRequired"),
        event("missed"),
        event("subscriptionRemoved", state="wrong"),
        event("subscriptionRemoved", sub="unknown"),
    )
    status, counts = _intake(subscribed, body, lifecycle=True)
    assert status == 202 and counts == {"queued": 2, "rejected": 2}
    items = drain(subscribed.notifications)
    assert sorted(items, key=lambda i: i["event"]) == [
        {"kind": "lifecycle", "event": name, "tenant_id": TENANT, "subscription_id": "sub-1", "mailbox": USER}
        for name in ("missed", "reauthorizationRequired")
    ]


def test_intake_endpoints_take_only_their_kind(subscribed: AzureStores) -> None:
    lifecycle = {"subscriptionId": "sub-1", "tenantId": TENANT, "clientState": "s3cret",
                 "lifecycleEvent": "missed"}
    assert _intake(subscribed, _body(lifecycle)) == (202, {"queued": 0, "rejected": 0})
    assert _intake(subscribed, _body(_change()), lifecycle=True) == (202, {"queued": 0, "rejected": 0})
    assert drain(subscribed.notifications) == []


def test_intake_answers_handshake_and_refuses_malformed(subscribed: AzureStores) -> None:
    for handle in (handle_notifications, handle_lifecycle):
        token = "Validation: Testing client application"
        result = handle({"validationToken": token}, b"", subscriptions=subscribed.subscriptions,
                        queue=subscribed.notifications)
        assert (result.status, result.body, result.content_type) == (200, token, "text/plain")
        assert result.headers == {"X-Content-Type-Options": "nosniff"}  # the token is caller text
        bad = handle({}, b"not json", subscriptions=subscribed.subscriptions, queue=subscribed.notifications)
        assert bad.status == 400


class CountingReads:
    """The Azurite-backed subscription store, with its reads counted (everything else is its own)."""

    def __init__(self, store: SubscriptionStore) -> None:
        self.store = store
        self.reads: list[str] = []

    def authenticate(self, subscription_id: str, client_state: str) -> tuple[ClientStateCheck, Subscription | None]:
        self.reads.append(subscription_id)
        return self.store.authenticate(subscription_id, client_state)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def _counted(stores: AzureStores, body: bytes, limits: IntakeLimits | None = None,
             lifecycle: bool = False) -> tuple[int, dict[str, object], list[str]]:
    counting = CountingReads(stores.subscriptions)
    handle = handle_lifecycle if lifecycle else handle_notifications
    result = handle({}, body, subscriptions=counting, queue=stores.notifications,  # type: ignore[arg-type]
                    limits=limits)
    return result.status, json.loads(result.body), counting.reads


def _message(i: int) -> dict[str, object]:
    return {**_change(), "resource": f"Users/{USER}/Messages/m{i}", "resourceData": {"id": f"m{i}"}}


def test_flood_of_unknown_ids_stops_reading_and_never_asks_for_a_retry(
    subscribed: AzureStores, caplog: pytest.LogCaptureFixture
) -> None:
    # 1,000 random subscription ids (what an anonymous caller can post): a few reads, then none.
    flood = [_change(sub=str(uuid.uuid4())) for _ in range(1000)]
    limits = IntakeLimits()
    with caplog.at_level(logging.WARNING, logger="tap365.intake"):
        status, counts, reads = _counted(subscribed, _body(*flood))
    assert status == 202 and counts == {"queued": 0, "rejected": 1000}
    assert len(reads) == limits.max_unknown
    assert f"'unknown_subscription': {limits.max_unknown}, 'unchecked': {1000 - limits.max_unknown}" in caplog.text
    # What Graph sent before the flood is still queued, and answered 202.
    status, counts, reads = _counted(subscribed, _body(_change(), *flood[1:]), IntakeLimits(max_unknown=3))
    assert status == 202 and counts == {"queued": 1, "rejected": 999} and len(reads) == 4
    assert len(drain(subscribed.notifications)) == 1


def test_few_unknown_ids_alone_still_ask_graph_to_retry(subscribed: AzureStores) -> None:
    few = [_change(sub=str(uuid.uuid4())) for _ in range(3)]
    assert _counted(subscribed, _body(*few), IntakeLimits(max_unknown=3))[0] == 503
    assert _counted(subscribed, _body(*few, _change(sub=str(uuid.uuid4()))), IntakeLimits(max_unknown=3))[0] == 202


def test_each_subscription_id_is_read_once_per_request(subscribed: AzureStores) -> None:
    status, counts, reads = _counted(subscribed, _body(*(_message(i) for i in range(50))))
    assert status == 202 and counts == {"queued": 50, "rejected": 0} and reads == ["sub-1"]
    assert len(drain(subscribed.notifications)) == 50
    # Graph sends one clientState per subscription: another one beside it in the request is forged.
    status, counts, reads = _counted(subscribed, _body(_change(), _change(state="wrong"), _change(sub="x")))
    assert counts == {"queued": 1, "rejected": 2} and reads == ["sub-1", "x"]
    drain(subscribed.notifications)
    status, counts, reads = _counted(subscribed, _body(_change(state="wrong"), _change()))
    assert status == 202 and counts == {"queued": 0, "rejected": 2} and reads == ["sub-1"]


def test_too_many_notifications_or_bytes_are_refused_unread(subscribed: AzureStores) -> None:
    limits = IntakeLimits()
    flood = _body(*(_change(sub=str(uuid.uuid4())) for _ in range(limits.max_notifications + 1)))
    for lifecycle in (False, True):
        status, answer, reads = _counted(subscribed, flood, lifecycle=lifecycle)
        assert status == 413 and "at most 1000" in str(answer["error"]) and reads == []
    status, answer, reads = _counted(subscribed, _body(_change()), IntakeLimits(max_notifications=1))
    assert status == 202 and answer == {"queued": 1, "rejected": 0}
    drain(subscribed.notifications)
    big = _body({**_change(), "resourceData": {"id": MSG, "pad": "x" * limits.max_body_bytes}})
    status, answer, reads = _counted(subscribed, big)
    assert status == 413 and reads == [] and drain(subscribed.notifications) == []
    status, answer, reads = _counted(subscribed, big, IntakeLimits(max_body_bytes=len(big)))
    assert status == 202 and answer == {"queued": 1, "rejected": 0}
    drain(subscribed.notifications)


@pytest.mark.parametrize(
    "body",
    [
        b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"value": [{"subscriptionId": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}]}",
        json.dumps({"value": [{**_change(), "subscriptionId": "s" * 129}]}).encode(),
    ],
    ids=["deep_array", "deep_object", "long_subscription_id"],
)
def test_deep_or_malformed_json_is_a_400(subscribed: AzureStores, body: bytes) -> None:
    status, answer, reads = _counted(subscribed, body)
    assert status == 400 and answer["error"] and reads == []


def _encrypt(resource: Mapping[str, object], public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """What Graph does for a rich notification, done independently of the code under test."""
    key = os.urandom(32)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(json.dumps(resource).encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    data = enc.update(plain) + enc.finalize()
    sha1 = hashes.SHA1()  # noqa: S303 - Graph's documented RSA-OAEP suite
    oaep = asym_padding.OAEP(mgf=asym_padding.MGF1(sha1), algorithm=sha1, label=None)
    data_key = public_key.encrypt(key, oaep)
    return {
        "data": base64.b64encode(data).decode(),
        "dataKey": base64.b64encode(data_key).decode(),
        "dataSignature": base64.b64encode(hmac.new(key, data, hashlib.sha256).digest()).decode(),
        "encryptionCertificateId": "cert-1",
        "encryptionCertificateThumbprint": "AB" * 20,
    }


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_decrypt_rich_notification(rsa_key: rsa.RSAPrivateKey) -> None:
    resource = {"id": "AAk=", "subject": "Invoice", "body": {"content": "<p>pay</p>"}}
    content = _encrypt(resource, rsa_key.public_key())
    item = {**_change(), "encryptedContent": content}
    (note,) = parse_notifications(_body(item)).notifications
    assert isinstance(note, ChangeNotification) and note.encrypted_content is not None
    keys = {"cert-1": rsa_key}
    assert decrypt_resource_data(note.encrypted_content, keys.get) == resource


def test_decrypt_rejects_tampering_and_wrong_key(rsa_key: rsa.RSAPrivateKey) -> None:
    content = _encrypt({"id": "x"}, rsa_key.public_key())
    tampered = dict(content)
    raw = bytearray(base64.b64decode(content["data"]))
    raw[0] ^= 1
    tampered["data"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(DecryptionError, match="dataSignature"):
        decrypt_resource_data(tampered, {"cert-1": rsa_key}.get)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(DecryptionError, match="dataKey"):
        decrypt_resource_data(content, {"cert-1": other}.get)
    nothing: dict[str, rsa.RSAPrivateKey] = {}
    with pytest.raises(DecryptionError, match="no private key"):
        decrypt_resource_data(content, nothing.get)


def _jwks(key: rsa.RSAPrivateKey, kid: str) -> dict[str, object]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig"})
    return {"keys": [jwk]}


def _token(key: rsa.RSAPrivateKey, **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "aud": APP,
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "azp": GRAPH_CHANGE_TRACKING_APP_ID,
        "tid": TENANT,
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def test_validation_tokens(rsa_key: rsa.RSAPrivateKey) -> None:
    jwks = _jwks(rsa_key, "k1")
    verify_validation_tokens([_token(rsa_key)], jwks, APP, [TENANT])
    for bad in (
        _token(rsa_key, aud="someone-else"),
        _token(rsa_key, exp=int(time.time()) - 4000),
        _token(rsa_key, azp="not-graph"),
        _token(rsa_key, tid="f0e1d2c3-b4a5-4697-8877-665544332211"),
    ):
        with pytest.raises(DecryptionError):
            verify_validation_tokens([bad], jwks, APP, [TENANT])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(DecryptionError):
        verify_validation_tokens([_token(other)], jwks, APP, [TENANT])
