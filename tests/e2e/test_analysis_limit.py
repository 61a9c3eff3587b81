"""Analysis runs off the event loop under a hard limit: a slow message is stopped and held with
the reason, and the same worker process meanwhile finishes other mail."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from connectors.graph.errors import GraphApiError
from connectors.service.processing import MessageProcessor, Outcome
from connectors.storage.interfaces import QuarantineStatus
from tests.e2e.processor_harness import ADELE, Service, mail

#: A real slow input: an HTML attachment of 150,000 links takes several seconds to analyse here
#: (every link is extracted, normalised and scored), far over the 1 s limit the test sets.
SLOW_HTML = b"<html><body>" + b"<a href='https://x.example.com/a'>x</a>\n" * 150_000 + b"</body></html>"


def test_slow_analysis_is_stopped_and_held_while_other_mail_is_processed(
    service_factory: Callable[..., Service],
) -> None:
    service = service_factory(analysis_timeout_seconds=1.0)
    slow = service.deliver(mail("slow@partner.example", files={"links.html": SLOW_HTML}))
    quick = service.deliver(mail("quick@partner.example"))
    processor = MessageProcessor(service.runtime)

    async def both() -> tuple[Outcome, Outcome, bool]:
        slow_task = asyncio.create_task(processor.process(service.tenant_id, ADELE, slow["immutableId"]))
        await asyncio.sleep(0)  # the slow one starts first
        quick_outcome = await processor.process(service.tenant_id, ADELE, quick["immutableId"])
        still_analysing = not slow_task.done()
        return await slow_task, quick_outcome, still_analysing

    slow_outcome, quick_outcome, still_analysing = service.run(both())
    # The quick message was fetched, analysed and delivered while the slow one was being analysed.
    assert quick_outcome.status == "processed" and quick_outcome.action != "hold"
    assert still_analysing
    # The slow one was stopped at the limit and held, with the reason; never left untouched.
    assert slow_outcome.action == "hold"
    folder, _ = service.folder_of("<slow@partner.example>")
    assert folder == "Hold"
    entry = service.runtime.stores.quarantine.get(service.tenant_id, ADELE, slow["immutableId"])
    assert entry is not None and entry.status is QuarantineStatus.HELD
    assert "analysis did not finish within 1 s" in entry.reason


def test_a_tiny_limit_holds_a_message_with_many_attachments(service_factory: Callable[..., Service]) -> None:
    service = service_factory(analysis_timeout_seconds=0.001)
    files = {f"report-{i}.pdf": b"%PDF-1.4\n%%EOF\n" + bytes([i]) * 2048 for i in range(20)}
    delivered = service.deliver(mail("many@partner.example", files=files))
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    assert outcome.action == "hold"
    assert service.folder_of("<many@partner.example>")[0] == "Hold"
    verdict = service.runtime.stores.verdicts.get_verdict(service.tenant_id, delivered["immutableId"])
    assert verdict is not None and any("analysis did not finish within 0.001 s" in r for r in verdict.reasons)


def test_a_retry_whose_analysis_is_stopped_applies_the_recorded_decision_with_the_fallback_category(
    service_factory: Callable[..., Service],
) -> None:
    from connectors.service.processing import FALLBACK_CATEGORY

    first = service_factory()
    delivered = first.deliver(mail("retry-slow@partner.example"))
    # The first attempt decides (rewrite) and then fails at the body PATCH.
    first.sim.faults(error_rate=1.0, error_status=500, routes=["PATCH /v1.0/users/{id}/messages/{id}"])
    with pytest.raises(GraphApiError):
        first.run(MessageProcessor(first.runtime).process(first.tenant_id, ADELE, delivered["immutableId"]))
    first.sim.faults()
    # The retry's analysis is stopped at once: it still applies the recorded decision.
    retry = service_factory(analysis_timeout_seconds=0.001)
    outcome = retry.run(MessageProcessor(retry.runtime).process(retry.tenant_id, ADELE, delivered["immutableId"]))
    assert outcome.status == "processed" and outcome.action == "rewrite"
    folder, message = retry.folder_of("<retry-slow@partner.example>")
    assert folder == "Inbox" and FALLBACK_CATEGORY in message["categories"]
    assert "/api/r/1." not in message["body"]
