"""A small chaos soak in CI: ``tap365 demo --chaos`` on 24 messages through the real stack.

Azurite, m365sim and the local host (its own process, SIGKILLed and restarted twice), Azurite
restarted once, Graph answering 429/5xx and hanging past the client, notifications duplicated
and dropped. The verdict comes from the tenant (m365sim's per-message effect counts), not from
the service's journal; each kind of fault must have fired, so the run cannot pass by luck.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connectors.devstack.chaos import ChaosOptions
from connectors.devstack.demo import BUNDLED, MessageReport, check_tenant, run_demo
from connectors.devstack.stack import SimClient
from m365sim.testing import run_sim

ADELE = "adele.vance@contoso.test"

#: Higher rates than the demo's profile, so that 24 messages see every kind of fault.
OPTIONS = ChaosOptions(
    seed=7,
    kills=2,
    processing_visibility=20,
    graph_error_rate=0.15,
    timeout_rate=0.05,
    duplicate_rate=0.3,
    drop_rate=0.2,
    timeout_after_effect_rate=0.1,
    # A loaded CI machine may answer 10 % of notifications late by its own scheduling; Graph's
    # 10-minute hold for slow endpoints would then outlast the test (the 300-message soak keeps it).
    slow_endpoint_policy=False,
)


def test_the_tenant_check_finds_doubled_and_missing_effects() -> None:
    """The check the soak relies on, against a tenant where effects were doubled and missed."""
    raw = (BUNDLED / "02-paypal-lookalike-phish.eml").read_bytes()
    with run_sim() as sim:
        token = sim.token()
        reports = []
        for _ in range(4):
            delivered = sim.deliver(ADELE, raw)
            report = MessageReport(source="x", mailbox=ADELE, verdict="suspicious", action="rewrite",
                                   final_folder="Inbox", immutable_id=delivered["immutableId"],
                                   journal={"body_patched": {"applied": True}})
            reports.append((delivered["id"], report))
        patch = {"body": {"contentType": "html", "content": "<p>rewritten</p>"}}
        (twice, doubled), (once, clean), (_, untouched), (moved_id, moved) = reports
        for message_id in (twice, twice, once, moved_id):
            assert sim.graph("PATCH", f"/users/{ADELE}/messages/{message_id}", token, json=patch).ok
        moved.journal["moved"] = {"folder_id": "x"}  # the journal says moved; the tenant says no move
        check_tenant(SimClient(sim.base_url, sim.ca_path), [r for _, r in reports])
    assert doubled.doubled and doubled.body_patches == 2 and not doubled.untouched
    assert not clean.doubled and not clean.untouched and clean.tenant_folder == "Inbox"
    assert untouched.untouched and "body PATCH" in untouched.untouched
    assert moved.untouched and "move" in moved.untouched


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_chaos_run_loses_nothing_and_applies_no_effect_twice(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    mail.mkdir()
    samples = sorted(BUNDLED.glob("*.eml"))
    for n in range(4):  # each delivery gets its own Message-ID: 24 distinct messages
        for sample in samples:
            shutil.copy(sample, mail / f"{n}-{sample.name}")
    report = tmp_path / "chaos.json"

    code = run_demo(mail=mail, report_path=report, timeout=240, clicks=1, rate=5, chaos=OPTIONS)

    document = json.loads(report.read_text())
    totals = document["totals"]
    unhappy = [m for m in document["messages"] if m["untouched"] or m["doubled"] or m["error"]]
    assert totals["messages"] == 4 * len(samples) == 24
    assert totals["processed"] == 24, unhappy
    assert totals["lost"] == 0, unhappy
    assert totals["doubled_effects"] == 0, unhappy
    assert totals["not_in_final_folder"] == 0, unhappy
    assert code == 0, totals
    # The tenant was acted on (links rewritten, mail held or quarantined) ...
    assert totals["tenant_effects"]["body_patches"] >= 1 and totals["tenant_effects"]["moves"] >= 1
    # ... under every kind of fault.
    faults = totals["faults"]
    assert faults["host_kills"] == 2 and faults["azurite_restarts"] == 1, faults
    for kind in ("throttled_429", "timeout", "timeout_after_effect", "notification_duplicated",
                 "notification_dropped", "missed_sent"):
        assert faults.get(kind, 0) >= 1, (kind, faults)
    assert any(k.startswith("server_error_") for k in faults), faults
    assert "chaos_errors" not in totals


#: Only the effect requests (body/category PATCH, move), applied by Graph and then timed out.
EFFECT_ROUTES = ["PATCH /v1.0/users/{id}/messages/{id}", "POST /v1.0/users/{id}/messages/{id}/move"]


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_an_effect_whose_answer_timed_out_is_not_applied_again(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    mail.mkdir()
    for n in range(2):
        for sample in sorted(BUNDLED.glob("*.eml")):
            shutil.copy(sample, mail / f"{n}-{sample.name}")
    options = ChaosOptions(seed=3, kills=0, processing_visibility=20, graph_error_rate=0.0, timeout_rate=0.0,
                           duplicate_rate=0.0, drop_rate=0.0, timeout_after_effect_rate=0.5,
                           routes=EFFECT_ROUTES)
    report = tmp_path / "chaos.json"
    run_demo(mail=mail, report_path=report, timeout=240, clicks=0, rate=5, chaos=options)
    totals = json.loads(report.read_text())["totals"]
    assert totals["faults"].get("timeout_after_effect", 0) >= 1, totals["faults"]
    assert totals["processed"] == 12 and totals["lost"] == 0
    assert totals["doubled_effects"] == 0
