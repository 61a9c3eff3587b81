"""Exactly once inside one process: two attempts at the same message never share a claim."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from connectors.graph.errors import GraphApiError
from connectors.service.processing import MessageProcessor, Outcome, RetryLater
from tests.e2e.processor_harness import ADELE, MOVE, PATCH, Service, mail


async def _twice(service: Service, message_id: str) -> list[Outcome | BaseException]:
    processor = MessageProcessor(service.runtime)
    return list(
        await asyncio.gather(
            processor.process(service.tenant_id, ADELE, message_id),
            processor.process(service.tenant_id, ADELE, message_id),
            return_exceptions=True,
        )
    )


def test_two_concurrent_attempts_in_one_process_patch_the_body_once(service: Service) -> None:
    delivered = service.deliver(mail("twice@partner.example"))
    patches, moves = service.route(PATCH), service.route(MOVE)
    results = service.run(_twice(service, delivered["immutableId"]))
    # One attempt processes it; the other is told to come back (or finds it done).
    processed = [r for r in results if isinstance(r, Outcome) and r.status == "processed"]
    assert len(processed) == 1, results
    others = [r for r in results if r is not processed[0]]
    assert all(isinstance(r, RetryLater) or (isinstance(r, Outcome) and r.status == "duplicate") for r in others)
    assert service.route(PATCH) - patches == 1
    assert service.route(MOVE) - moves <= 1
    folder, message = service.folder_of("<twice@partner.example>")
    assert folder == "Inbox" and "/api/r/1." in message["body"]
    # A retry after both finished finds it done and touches nothing.
    again = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    assert again.status == "duplicate" and service.route(PATCH) - patches == 1


def test_a_body_patch_applied_whose_answer_was_lost_is_not_applied_again(
    service_factory: Callable[..., Service], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.test_holds import _blank_pdf

    monkeypatch.delenv("TAP365_SANDBOX_URL", raising=False)
    # No client-side retries: the attempt fails on the lost answer, and the queue's retry is
    # the next attempt (the case the journal must get right).
    service = service_factory(graph={"max_retries": 0})
    # Tagged (a PDF no sandbox can run): a warning banner that a second run would write again.
    delivered = service.deliver(mail("lost-answer@partner.example", files={"notes.pdf": _blank_pdf()}))
    patches = service.route(PATCH)
    service.sim.faults(timeout_after_effect_rate=1.0, timeout_seconds=0.2, routes=[PATCH])
    with pytest.raises(GraphApiError):
        service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    service.sim.faults()
    assert service.route(PATCH) - patches == 1  # Graph applied it: the links are rewritten
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    assert outcome.status == "processed"
    # The retry saw the body changed and did not PATCH it again (its one PATCH is the category).
    assert service.route(PATCH) - patches == 2
    folder, message = service.folder_of("<lost-answer@partner.example>")
    assert folder == "Inbox" and message["body"].count("could not be fully analysed") == 1
    # The tenant itself says so: one body PATCH for this message, and the fault did fire.
    effects = service.sim.control("GET", "/effects", params={"user": ADELE})
    counts = effects["messages"][delivered["immutableId"]]
    assert (counts["body_patches"], counts["category_writes"]) == (1, 1)
    assert effects["faults_fired"].get("timeout_after_effect", 0) >= 1
