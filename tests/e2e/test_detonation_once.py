"""The sandbox outcome's effects happen once: a detonation item that fails half way (the move
refused after the warning was written) resumes on retry without writing the warning again."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.service.detonation import WARNING_CATEGORY
from connectors.service.processing import MessageProcessor
from connectors.service.worker import run_queue_item
from connectors.storage.interfaces import QuarantineStatus
from tests.e2e.processor_harness import ADELE, MOVE, PATCH, Service, mail
from tests.e2e.test_holds import _blank_pdf

TOKEN = "once-cape-token"


@pytest.fixture
def cape_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[list[str]], Any]]:
    """Start the CAPE simulator with a status progression, as the service's TAP365_SANDBOX_URL."""
    import uvicorn

    from tests.sandbox.cape_sim import CapeSimulator
    from tests.sandbox.conftest import _free_port

    servers: list[tuple[Any, threading.Thread]] = []

    def start(progression: list[str]) -> Any:
        sim = CapeSimulator(token=TOKEN, progression=progression)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(sim.app(), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        monkeypatch.setenv("TAP365_SANDBOX_URL", f"http://127.0.0.1:{port}/apiv2")
        return sim

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def _sandbox_item(service: Service) -> dict[str, Any]:
    """The detonation item processing queued (visible after its one-second delay)."""
    queue = service.runtime.stores.delayed
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for item in queue.receive(max_messages=32, visibility_timeout=60):
            queue.delete(item)
            content: dict[str, Any] = json.loads(item.content)
            if content["kind"] == "sandbox":
                return content
        time.sleep(0.2)
    raise AssertionError("no sandbox item was queued")


def test_a_detonation_that_fails_before_the_move_resumes_without_a_second_warning(
    service_factory: Callable[..., Service], cape_sim: Callable[[list[str]], Any]
) -> None:
    cape_sim(["failed_analysis"])  # every task fails: not analysed, so timeout_action (tag) applies
    service = service_factory(sandbox_token=TOKEN)
    delivered = service.deliver(mail("cape-once@partner.example", files={"minutes.pdf": _blank_pdf()}))
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    assert outcome.action == "hold"
    item = _sandbox_item(service)
    patches, moves = service.route(PATCH), service.route(MOVE)
    delayed = service.runtime.stores.delayed

    service.sim.faults(error_rate=1.0, error_status=500, routes=[MOVE])
    with pytest.raises(Exception, match="500"):
        service.run(run_queue_item(service.runtime, json.dumps(item), 1, delayed, 5))
    service.sim.faults()
    result = service.run(run_queue_item(service.runtime, json.dumps(item), 2, delayed, 5))
    assert str(result).startswith("tag")

    folder, message = service.folder_of("<cape-once@partner.example>")
    assert folder == "Inbox" and WARNING_CATEGORY in message["categories"]
    assert message["body"].count("could not be fully analysed") == 1
    # One warning body and one category write in all; the retry only moved it.
    assert service.route(PATCH) - patches == 2
    assert service.route(MOVE) - moves == 2  # the refused move and the one that went through
    entry = service.runtime.stores.quarantine.get(service.tenant_id, ADELE, delivered["immutableId"])
    assert entry is not None and entry.status is QuarantineStatus.RELEASED
    # A duplicate of the item afterwards changes nothing.
    assert service.run(run_queue_item(service.runtime, json.dumps(item), 1, delayed, 5)) == "not held any more"
    assert service.route(PATCH) - patches == 2


def test_a_clean_sandbox_verdict_does_not_release_a_message_held_for_its_score(
    service_factory: Callable[..., Service],
    cape_sim: Callable[[list[str]], Any],
    pages: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAP365_SCAN_ALLOW_NETWORKS", "127.0.0.1/32")  # the click analyzer's SSRF guard
    cape_sim(["reported"])  # the file is clean at the first poll
    service = service_factory(sandbox_token=TOKEN, hold_recheck_minutes=0)
    raw = mail(
        "cape-lure@parcel-notice.example",
        sender="Shipping <noreply@parcel-notice.example>",
        subject="Delivery failed - print your label",
        html=f'<p>Delivery failed. Download your label: <a href="{pages}/label">label</a></p>',
        files={"label.pdf": _blank_pdf()},
    )
    delivered = service.deliver(raw)
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    assert outcome.action == "hold"
    item = _sandbox_item(service)
    delayed = service.runtime.stores.delayed
    result = service.run(run_queue_item(service.runtime, json.dumps(item), 1, delayed, 5))
    assert str(result).startswith("held: sandbox: clean") and "still held" in str(result)
    assert service.folder_of("<cape-lure@parcel-notice.example>")[0] == "Hold"
    entry = service.runtime.stores.quarantine.get(service.tenant_id, ADELE, delivered["immutableId"])
    assert entry is not None and entry.status is QuarantineStatus.HELD
    # Held now for its score alone: the second look is queued.
    later = [json.loads(i.content) for i in delayed.receive(max_messages=32, visibility_timeout=60)]
    [recheck] = [i for i in later if i["kind"] == "recheck"]
    # The second look settles it (the page is harmless, its address a bare IP: released with the
    # warning); the files are not held for the sandbox again.
    settled = service.run(run_queue_item(service.runtime, json.dumps(recheck), 1, delayed, 5))
    assert str(settled).startswith("re-check tag"), settled
    assert service.folder_of("<cape-lure@parcel-notice.example>")[0] == "Inbox"
