"""Exactly once inside one process: two attempts at the same message never share a claim."""

from __future__ import annotations

import asyncio

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
