"""Safe File applied against m365sim: a retry after a lost response adopts the copy it finds
instead of adding a second one, and a repeat of a finished run makes no request."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from connectors.graph import GraphApp, Remediator, fetch_message
from connectors.graph.config import GraphSettings
from connectors.graph.remediation import MemoryFolderCache
from connectors.service.safefile import apply_safe_file, plan_safe_file
from connectors.storage.interfaces import Claim, JournalEntry
from m365sim.testing import SimHandle
from tests.safefile.test_safefile_plan import DictArtefacts

from .conftest import ADELE, graph_requests, run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph")


class ListJournal:
    """The IdempotencyJournal interface in memory, keeping every recorded step (the Azure table
    journal is tested against Azurite in tests/storage)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def claim(self, tenant_id: str, message_id: str, worker_id: str, lease_seconds: int) -> Claim | None:
        now = datetime.now(UTC)
        return Claim(tenant_id, message_id, worker_id, "decided", {}, now, lease_seconds, 1, etag="1")

    def record_step(self, claim: Claim, step: str, data: Mapping[str, Any] | None = None) -> Claim:
        self.records.append((step, dict(data or {})))
        return dataclasses.replace(claim, step=step, data={**claim.data, step: dict(data or {})})

    def release(self, claim: Claim) -> None:
        pass

    def get(self, tenant_id: str, message_id: str) -> JournalEntry | None:
        return None


def test_retry_adopts_the_copy_a_lost_response_added(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    raw = EmailMessage()
    raw["From"], raw["To"], raw["Subject"] = "board@partner.example", ADELE, "Safe File retry"
    raw.set_content("Minutes attached.")
    raw.add_attachment(
        b"Minutes of the board meeting.\n", maintype="text", subtype="plain", filename="minutes.txt"
    )
    msg_id = sim.deliver(ADELE, raw.as_bytes())["immutableId"]
    store, journal = DictArtefacts(), ListJournal()

    async def go() -> None:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            rem = Remediator(graph, MemoryFolderCache())
            fetched = await fetch_message(graph, ADELE, msg_id)
            plan = await plan_safe_file(store, tenant_id, msg_id, fetched)
            (item,) = plan.items
            # The first attempt's POST went through but its answer (and the journal write) was lost.
            pdf = store.get(tenant_id, item["pdf_artefact"])
            assert pdf is not None
            lost_id = await rem.add_file_attachment(ADELE, msg_id, item["pdf_name"], pdf, "application/pdf")

            # The redelivered queue message: fetch again, apply the recorded plan.
            claim = journal.claim(tenant_id, msg_id, "w2", 60)
            assert claim is not None
            refetched = await fetch_message(graph, ADELE, msg_id)
            mark = graph_requests(sim)
            claim, made = await apply_safe_file(
                rem, journal, store, claim, ADELE, msg_id, refetched, plan.items
            )
            assert made == 1 and graph_requests(sim) - mark == 1  # the DELETE only: no second copy
            assert claim.data["safe_file"]["items"][0]["added"] == lost_id

            # Once more (e.g. a crash before "done"): everything is recorded, nothing to do.
            final = await fetch_message(graph, ADELE, msg_id)
            mark = graph_requests(sim)
            _, made = await apply_safe_file(rem, journal, store, claim, ADELE, msg_id, final, plan.items)
            assert made == 0 and graph_requests(sim) == mark
            assert [a["name"] for a in final.raw["attachments"]] == ["minutes.txt.pdf"]

    run(go())
