"""Notification parsing/validation and rich-notification crypto, with data encrypted here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping

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
    SubscriptionRecord,
    decrypt_resource_data,
    parse_notifications,
    validate,
    validation_token,
    verify_validation_tokens,
)

TENANT = "a1b2c3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"
APP = "9d3e5f7a-1b2c-4d6e-8f0a-b1c2d3e4f5a6"
MSG = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0AAAA="


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
        "resource": f"Users/0b6f2a3c-1d4e-4f5a-8b6c-7d8e9f0a1b2c/Messages/{MSG}",
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


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"value": [{"x": 1}]}', b"[]"])
def test_parse_rejects_malformed(body: bytes) -> None:
    with pytest.raises(NotificationError):
        parse_notifications(body)


def test_validate_client_state_subscription_and_tenant() -> None:
    records = {"sub-1": SubscriptionRecord(TENANT, "s3cret")}
    batch = parse_notifications(
        _body(
            _change(),
            _change(state="wrong"),
            _change(sub="unknown"),
            _change(tenant="f0e1d2c3-b4a5-4697-8877-665544332211"),
        )
    )
    accepted, rejected = validate(batch.notifications, records.get)
    assert len(accepted) == 1
    reasons = [r.reason for r in rejected]
    assert reasons == ["client_state_mismatch", "unknown_subscription", "tenant_mismatch"]


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
