"""The issue's quadratic attachments through the worker: each message is analysed within the
analysis time limit, so it gets its own verdict (not the limit's hold) and is acted on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.service.processing import MessageProcessor
from tests.e2e.processor_harness import ADELE, Service, mail
from tests.test_hostile_patterns import HOSTILE_ATTACHMENTS

ISSUE_INPUTS = ["url shortcut, 51,200 newlines", "docx relationship run"]


@pytest.mark.parametrize("case", ISSUE_INPUTS)
def test_a_hostile_attachment_is_analysed_in_the_worker_within_its_limit(service: Service, case: str) -> None:
    name, data, _ = HOSTILE_ATTACHMENTS[case]
    internet_id = f"<hostile-{name}@partner.example>"
    delivered = service.deliver(mail(internet_id[1:-1], files={name: data}))
    outcome = service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, delivered["immutableId"]))
    assert outcome.status == "processed" and outcome.verdict
    since = datetime.now(UTC) - timedelta(hours=1)
    records = [v for v in service.runtime.stores.verdicts.list_verdicts(service.tenant_id, since)
               if v.details.get("internet_message_id") == internet_id]
    assert len(records) == 1
    assert not any("did not finish" in r for r in records[0].reasons), records[0].reasons
    # Acted on, not left untouched: its links rewritten, or the message moved.
    folder, message = service.folder_of(internet_id)
    assert "/api/r/1." in message["body"] or folder != "Inbox", (folder, outcome)
