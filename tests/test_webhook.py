"""The admin webhook over real HTTP: a loopback receiver, the SSRF-safe fetcher, the signature."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.service.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookFailed,
    deliver,
    malicious_attachment_event,
)
from connectors.settings import Settings
from tests.webhook_receiver import WebhookReceiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as state:
        yield state


def _event(subject: str = 'Invoice "Q3"\r\nBcc: x@evil.test </script> ü') -> dict[str, Any]:
    return malicious_attachment_event(
        tenant_id="t1",
        mailbox="adele@contoso.test",
        message_id="AAMk=",
        sender="billing@vendor.example",
        subject=subject,
        action="quarantine",
        reasons=["invoice.docm: malicious (vba_autoexec_shell)"],
        sha256=["ab" * 32, "ab" * 32],
    )


def test_event_is_signed_and_carries_no_content(receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAP365_SCAN_ALLOW_NETWORKS", "127.0.0.1/32")
    settings = Settings(admin_webhook_url=receiver.url, admin_webhook_secret="s3cret")
    event = _event()
    assert asyncio.run(deliver(settings, event)) == 204
    ((headers, body),) = receiver.requests
    assert headers["content-type"] == "application/json"
    expected = hmac.new(b"s3cret", headers[TIMESTAMP_HEADER.lower()].encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], f"sha256={expected.hexdigest()}")
    assert abs(int(headers[TIMESTAMP_HEADER.lower()]) - time.time()) < 60
    assert body.isascii() and b"\r\n" not in body and b"</script>" in body  # JSON-escaped, one line
    data = json.loads(body)
    assert data["subject"] == event["subject"] and data["verdict"] == "malicious"
    assert data["sha256"] == ["ab" * 32] and data["tenant_id"] == "t1" and data["message_id"] == "AAMk="
    assert set(data) == {
        "type",
        "id",
        "time",
        "tenant_id",
        "mailbox",
        "message_id",
        "internet_message_id",
        "sender",
        "subject",
        "verdict",
        "action",
        "reasons",
        "sha256",
    }
    assert "s3cret" not in body.decode()
    assert _event()["id"] == event["id"]  # stable: a receiver can drop a duplicate


def test_unsigned_without_a_secret(receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAP365_SCAN_ALLOW_NETWORKS", "127.0.0.1/32")
    asyncio.run(deliver(Settings(admin_webhook_url=receiver.url), _event()))
    ((headers, _),) = receiver.requests
    assert SIGNATURE_HEADER.lower() not in headers


def test_private_address_refused_unless_allowed(receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAP365_SCAN_ALLOW_NETWORKS", raising=False)
    with pytest.raises(WebhookFailed, match=r"non-public address 127\.0\.0\.1"):
        asyncio.run(deliver(Settings(admin_webhook_url=receiver.url), _event()))
    monkeypatch.setenv("TAP365_SCAN_ALLOW_NETWORKS", "0.0.0.0/0")  # even then: no metadata endpoint
    with pytest.raises(WebhookFailed, match="metadata"):
        asyncio.run(deliver(Settings(admin_webhook_url="http://169.254.169.254/latest"), _event()))
    assert receiver.requests == []


def test_refusal_and_timeout_raise_for_the_queue_to_retry(
    receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAP365_SCAN_ALLOW_NETWORKS", "127.0.0.1/32")
    settings = Settings(admin_webhook_url=receiver.url)
    receiver.status = 500
    with pytest.raises(WebhookFailed, match="HTTP 500"):
        asyncio.run(deliver(settings, _event()))
    receiver.status, receiver.delay = 200, 2.0
    with pytest.raises(WebhookFailed, match="timeout"):
        asyncio.run(deliver(settings, _event(), timeout=0.5))
    receiver.status = 302  # a redirect is not followed
    receiver.delay = 0.0
    with pytest.raises(WebhookFailed, match="HTTP 302"):
        asyncio.run(deliver(settings, _event()))


def test_no_url_means_no_request(receiver: WebhookReceiver) -> None:
    assert asyncio.run(deliver(Settings(admin_webhook_url=""), _event())) == 0
    assert receiver.requests == []
