"""The doctor report against m365sim."""

from __future__ import annotations

import pytest

from connectors.graph import GraphApp, Remediator, SubscriptionManager
from connectors.graph.config import GraphSettings
from connectors.graph.doctor import doctor, format_report, run_doctor
from m365sim.testing import Receiver, SimHandle

from .conftest import ADELE, make_settings, run

# msgraph-sdk's generated request builders warn about their own deprecated classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph")


def test_doctor_all_good(sim: SimHandle, settings: GraphSettings, tenant_id: str, receiver: Receiver) -> None:
    async def prepare() -> None:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            await SubscriptionManager(graph, receiver.url, receiver.lifecycle_url).create(ADELE)
            await Remediator(graph).ensure_folders(ADELE)

    run(prepare())
    report = run_doctor(settings, tenant_id, [ADELE])
    assert report.token_ok and not report.missing_roles and report.ok
    assert len(report.subscriptions) == 1
    assert report.mailboxes[0].quarantine and report.mailboxes[0].hold
    text = format_report(report)
    assert "[ok]   Mail-Advanced.ReadWrite" in text and "hidden Quarantine and Hold folders present" in text


def test_doctor_reports_missing_roles_and_folders(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    sim.grant(["Mail.ReadWrite", "User.Read.All"])
    report = run(doctor(settings, tenant_id, first_users=2))
    assert report.missing_roles == ["Mail-Advanced.ReadWrite"]
    assert report.missing_optional_roles == ["Mail.Send", "Organization.Read.All"]
    assert len(report.mailboxes) == 2 and not report.mailboxes[0].quarantine
    text = format_report(report)
    assert "[FAIL] Mail-Advanced.ReadWrite not granted" in text
    assert "no subscriptions" in text and "not created yet" in text


def test_doctor_reports_token_error(sim: SimHandle, tenant_id: str) -> None:
    report = run_doctor(make_settings(sim, client_secret="nope"), tenant_id)
    assert not report.token_ok and "AADSTS7000215" in report.token_error
    assert "[FAIL] token" in format_report(report)
