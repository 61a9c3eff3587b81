"""The SIEM pull API through the local Functions host running the real function_app.py (Azurite,
the simulated tenant, the workers): mail delivered and processed by the service shows up at
/api/v2/siem/... for the tenant's principal, over HTTP basic auth, and for no one else."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from connectors.devstack.demo import siem_totals
from connectors.devstack.stack import Stack, running_stack, siem_login
from connectors.service.runtime import Runtime
from connectors.siem.events import COLUMNS
from connectors.siem.sentinel import queue_pushes
from tests.siem_receiver import SiemReceiver, siem_receiver

DCR = "dcr-00112233445566778899aabbccddeeff"
STREAM = "Custom-TAP365Events_CL"
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def receiver() -> Iterator[SiemReceiver]:
    with siem_receiver(DCR, STREAM, {column: kind for column, kind in COLUMNS.values()}) as state:
        yield state


@pytest.fixture(scope="module")
def stack(receiver: SiemReceiver) -> Iterator[Stack]:
    # The stack's own SIEM principals: siem-0 for the first simulated tenant, siem-1 the second;
    # Sentinel is the loopback receiver, the managed identity its token endpoint.
    env = {"TAP365_SENTINEL_DCE": receiver.url, "TAP365_SENTINEL_DCR_ID": DCR, "TAP365_SENTINEL_STREAM": STREAM,
           "TAP365_SENTINEL_SETTLE_SECONDS": "0", "IDENTITY_ENDPOINT": receiver.identity_endpoint,
           "IDENTITY_HEADER": receiver.identity_header}
    with running_stack(extra_env=env) as running:  # no Azurite: an error, never a skip
        running.onboard()
        yield running


def _wait(check: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.5)
    raise AssertionError("timed out waiting for the SIEM API to list the message")


def _get(stack: Stack, path: str, auth: tuple[str, str] | None, **params: str) -> requests.Response:
    return requests.get(f"{stack.functions_url}/api/v2/siem/{path}", params=params, auth=auth, timeout=30)


def _eicar_mail(upn: str, message_id: str) -> bytes:
    return (f"From: Billing <billing@vendor.example>\r\nTo: {upn}\r\nSubject: Invoice Q3\r\n"
            f"Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSee it.\r\n'
            '--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="i.com"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n").encode() + base64.encodebytes(EICAR) + b"--B--\r\n"


def test_processed_mail_is_listed_for_the_tenants_principal_only(stack: Stack) -> None:
    upn = stack.users[2]
    stack.sim.deliver(upn, _eicar_mail(upn, "siem-stack-eicar@x.test"))
    auth, other_auth = siem_login(stack.env, 0), siem_login(stack.env, 1)
    assert auth[1] and other_auth[1] and auth[1] != other_auth[1]

    def listed() -> dict[str, Any] | None:
        answer = _get(stack, "messages/blocked", auth, sinceSeconds="3600")
        assert answer.status_code == 200, answer.text
        messages = answer.json()["messagesBlocked"]
        return next((m for m in messages if m["messageID"] == "<siem-stack-eicar@x.test>"), None)

    message = _wait(listed)
    assert message["recipient"] == [upn] and message["sender"] == "billing@vendor.example"
    assert message["subject"] == "Invoice Q3" and message["threatsInfoMap"][0]["classification"] == "malware"
    everything = _get(stack, "all", auth, sinceSeconds="3600").json()
    assert set(everything) == {"queryEndTime", "messagesDelivered", "messagesBlocked", "clicksPermitted",
                               "clicksBlocked"}

    other = _get(stack, "all", other_auth, sinceSeconds="3600")
    assert other.status_code == 200 and "siem-stack-eicar" not in other.text
    for wrong in (None, (auth[0], other_auth[1]), (other_auth[0], auth[1])):
        refused = _get(stack, "all", wrong, sinceSeconds="3600")
        assert refused.status_code == 401 and "siem-stack-eicar" not in refused.text
    too_long = _get(stack, "all", auth, sinceSeconds="3601")
    assert too_long.status_code == 400 and "sinceSeconds" in too_long.text
    # What tap365 demo reports of a run.
    totals = siem_totals(stack)
    assert totals["status"] == 200 and totals["messagesBlocked"] >= 1 and "queryEndTime" in totals


def test_the_host_pushes_to_sentinel_and_survives_it_being_down(stack: Stack, receiver: SiemReceiver) -> None:
    runtime = Runtime.create()  # the stack's storage, from the environment it set
    upn = stack.users[3]

    def pushed(internet_id: str) -> bool:
        return any(r["InternetMessageId"] == f"<{internet_id}>" for r in list(receiver.rows.values()))

    def processed_and_queued(internet_id: str) -> bool:
        # The push only sends what is stored: queue it until the verdict is there and sent.
        if pushed(internet_id):
            return True
        queue_pushes(runtime.stores, runtime.settings)
        time.sleep(2)
        return pushed(internet_id)

    stack.sim.deliver(upn, _eicar_mail(upn, "siem-push-1@x.test"))
    _wait(lambda: processed_and_queued("siem-push-1@x.test"))
    receiver.down = True
    refused = len(receiver.refused)
    stack.sim.deliver(upn, _eicar_mail(upn, "siem-push-2@x.test"))
    _wait(lambda: queue_pushes(runtime.stores, runtime.settings) and len(receiver.refused) > refused + 1)
    assert not pushed("siem-push-2@x.test")
    receiver.down = False  # the queue's next attempt (or the next timer's item) gets through
    _wait(lambda: pushed("siem-push-2@x.test"))
    assert receiver.duplicates == 0
    rows = [r for r in receiver.rows.values() if r["EventType"] == "message_blocked"]
    assert {r["Recipient"] for r in rows} >= {upn} and all(r["TenantId"] == stack.tenant_id for r in rows)

