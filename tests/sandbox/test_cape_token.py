"""``TAP365_SANDBOX_TOKEN``: the CAPE API token goes from the settings to the CAPE client, which
sends ``Authorization: Token <key>`` on every request; a missing or wrong token fails the CAPE
call with a clear error, which the detonation flow treats like any other provider error (the
queue item is retried, then poisoned with the reason; the held message is left alone)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import pytest

from connectors.sandbox.dispatcher import LocalSandbox, run_to_completion
from connectors.service.worker import run_queue_item
from connectors.settings import Settings
from connectors.storage.interfaces import QuarantineStatus
from tap_core.attachments.policy import AttachmentPolicy
from tap_core.attachments.sandbox import SandboxError, Unanalysed, start_job
from tests.sandbox.cape_sim import CapeSimulator

SAMPLE = b"%PDF-1.7\n% pretend sample\n"  # not PE or script: the dispatcher sends it to CAPE
TOKEN = "cape-api-token-0123456789abcdef"
KV_REFERENCE = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/sandbox-token/)"


@pytest.fixture
def cape_with_token(cape_sim: tuple[CapeSimulator, str], monkeypatch: pytest.MonkeyPatch) -> CapeSimulator:
    """The simulator with token auth on, as the service's ``TAP365_SANDBOX_URL``."""
    sim, url = cape_sim
    sim.token = TOKEN
    monkeypatch.setenv("TAP365_SANDBOX_URL", url)
    monkeypatch.delenv("TAP365_SANDBOX_TOKEN", raising=False)
    return sim


def test_the_token_is_a_secret_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().sandbox_token == ""
    monkeypatch.setenv("TAP365_SANDBOX_TOKEN", TOKEN)
    settings = Settings()
    assert settings.sandbox_token == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)


def test_the_settings_token_reaches_cape(cape_with_token: CapeSimulator, caplog: pytest.LogCaptureFixture) -> None:
    sandbox = LocalSandbox.from_environment(settings=Settings(sandbox_token=TOKEN))
    try:
        with caplog.at_level(logging.DEBUG):  # httpx and httpcore log every request at DEBUG
            report = run_to_completion(sandbox, "a.pdf", SAMPLE, 30, poll_seconds=0.01)
    finally:
        sandbox.close()
    assert report.provider == "cape"
    # Every call carried the token (the simulator answers 401 otherwise): submit, polls, report.
    assert cape_with_token.requests[0] == "POST /apiv2/tasks/create/file/"
    assert cape_with_token.requests[-1].startswith("GET /apiv2/tasks/get/report/")
    assert caplog.records and TOKEN not in caplog.text


def test_the_token_is_read_from_the_environment_without_settings(
        cape_with_token: CapeSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAP365_SANDBOX_TOKEN", TOKEN)
    sandbox = LocalSandbox.from_environment()
    try:
        assert run_to_completion(sandbox, "a.pdf", SAMPLE, 30, poll_seconds=0.01).provider == "cape"
    finally:
        sandbox.close()


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("", "CAPE refused the request without an API token (HTTP 401): set TAP365_SANDBOX_TOKEN"),
        ("wrong", "CAPE refused the token (HTTP 401): check TAP365_SANDBOX_TOKEN"),
        # App Service passes the reference text when the secret sandbox-token does not exist.
        (KV_REFERENCE, "CAPE refused the request without an API token (HTTP 401)"),
    ],
    ids=["missing", "wrong", "unresolved-key-vault-reference"],
)
def test_missing_or_wrong_token_is_a_clear_provider_error(
        cape_with_token: CapeSimulator, caplog: pytest.LogCaptureFixture, token: str, error: str) -> None:
    sandbox = LocalSandbox.from_environment(settings=Settings(sandbox_token=token))
    try:
        with pytest.raises(SandboxError) as raised:
            sandbox.submit("a.pdf", SAMPLE, 60)
        # The orchestration's provider error path keeps the message as the reason.
        step = start_job(sandbox, "a.pdf", SAMPLE, "ee" * 32, datetime.now(UTC), AttachmentPolicy())
    finally:
        sandbox.close()
    assert str(raised.value).startswith(error)
    assert isinstance(step, Unanalysed) and step.reason == f"sandbox unavailable: {raised.value}"
    assert cape_with_token.tasks == {}
    if token == KV_REFERENCE:
        assert "unresolved Key Vault reference" in caplog.text and "sandbox-token" in caplog.text
        assert "kv.vault.azure.net" not in caplog.text


class _Poison:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def poison(self, content: str, reason: str, *, dequeue_count: int = 0, **_: Any) -> None:
        self.items.append((content, reason))


def _runtime(token: str) -> SimpleNamespace:
    """What ``run_detonation`` uses of the runtime: a held message with one PDF attachment."""
    entry = SimpleNamespace(status=QuarantineStatus.HELD, original_folder_id="inbox")
    fetched = SimpleNamespace(
        folder_id="hold", message=SimpleNamespace(attachments=[SimpleNamespace(name="a.pdf", data=SAMPLE)])
    )

    async def fetch_message(*_: Any) -> SimpleNamespace:
        return fetched

    return SimpleNamespace(
        settings=Settings(sandbox_token=token),
        stores=SimpleNamespace(quarantine=MagicMock(get=MagicMock(return_value=entry)), delayed=MagicMock(),
                               audit=MagicMock()),
        policy=lambda _tenant: (SimpleNamespace(attachments=AttachmentPolicy()), 1),
        graph=SimpleNamespace(fetch_message=fetch_message),
        remediator=MagicMock(),
    )


ITEM = json.dumps({"kind": "sandbox", "tenant_id": "t1", "mailbox": "ann@contoso.com", "message_id": "m1"})


def test_detonation_with_the_right_token_submits_and_polls(cape_with_token: CapeSimulator) -> None:
    runtime = _runtime(TOKEN)
    result = asyncio.run(run_queue_item(runtime, ITEM, 1, _Poison(), 3))  # type: ignore[arg-type]
    assert result == "polling the sandbox (poll 1)"
    assert len(cape_with_token.tasks) == 1
    (queued,), _ = runtime.stores.delayed.send.call_args
    assert list(queued["remote"].values()) == ["cape:1001"]


@pytest.mark.parametrize(
    ("token", "fail_next", "error"),
    [
        ("", 0, "SandboxError: CAPE refused the request without an API token (HTTP 401): set TAP365_SANDBOX_TOKEN"),
        ("wrong", 0, "SandboxError: CAPE refused the token (HTTP 401): check TAP365_SANDBOX_TOKEN"),
        (TOKEN, 99, "SandboxError: CAPE answered HTTP 500 to POST tasks/create/file/"),  # another provider error
    ],
    ids=["missing-token", "wrong-token", "http-500"],
)
def test_detonation_token_errors_go_the_provider_error_way(
        cape_with_token: CapeSimulator, token: str, fail_next: int, error: str) -> None:
    cape_with_token.fail_next = fail_next
    runtime, poison = _runtime(token), _Poison()
    # Not the last attempt: the error reaches the host, which retries the item.
    with pytest.raises(SandboxError, match=re.escape(error.removeprefix("SandboxError: "))):
        asyncio.run(run_queue_item(runtime, ITEM, 1, poison, 3))  # type: ignore[arg-type]
    # The last attempt: poisoned with the reason, which says what to fix.
    assert asyncio.run(run_queue_item(runtime, ITEM, 3, poison, 3)) is None  # type: ignore[arg-type]
    ((content, reason),) = poison.items
    assert content == ITEM and reason.startswith(error)
    # The held message is not lost: nothing released, quarantined or re-queued; an admin decides.
    runtime.remediator.assert_not_called()
    runtime.stores.quarantine.update_status.assert_not_called()
    runtime.stores.delayed.send.assert_not_called()
    assert cape_with_token.tasks == {}
