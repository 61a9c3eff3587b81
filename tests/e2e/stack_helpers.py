"""Helpers for tests against the running local stack (`connectors.devstack.stack.running_stack`):
waiting, finding a message in the simulated tenant, delivering a sample, and the journal's word
that a message is done. Shared by the e2e and the console browser tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.devstack.stack import Stack

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def find_message(stack: Stack, upn: str, internet_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    for folder in stack.sim.mailbox(upn)["folders"]:
        for message in folder["messages"]:
            if message.get("internetMessageId") == internet_id:
                return folder, message
    return None


def deliver(stack: Stack, upn: str, name: str, message_id: str) -> str:
    raw = (MAIL / name).read_bytes()
    raw = raw.replace(raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0], f"<{message_id}>".encode(), 1)
    stack.sim.deliver(upn, raw)
    return f"<{message_id}>"


def journal_done(stack: Stack, upn: str, internet_id: str) -> bool:
    """The service's journal records the message as done (every effect reached the tenant)."""
    from connectors.service.runtime import Runtime

    found = find_message(stack, upn, internet_id)
    if not found:
        return False
    entry = Runtime.create().stores.journal.get(stack.tenant_id, found[1]["immutableId"])
    return bool(entry and entry.done)
