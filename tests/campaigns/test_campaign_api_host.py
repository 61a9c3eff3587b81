"""The campaign admin API through the local Functions host running function_app.py (Azurite and
the simulated tenant in their own processes): a lure mailed to six people is processed by the
service's own queue workers, found by the API, purged once each (a second request moves
nothing) and released again."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.devstack.azurite import AzuriteUnavailable
from connectors.devstack.stack import Stack, running_stack
from connectors.service.runtime import Runtime
from tests.e2e.test_service import FAST_HOST

ROOT = Path(__file__).resolve().parents[2]
KEY = "campaign-admin-key"
SENDER = "payroll@salary-update.example"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    app_root = tmp_path_factory.mktemp("app")
    shutil.copy(ROOT / "function_app.py", app_root / "function_app.py")
    (app_root / "host.json").write_text(json.dumps(FAST_HOST))  # queues polled and retried fast
    try:
        with running_stack(app_root=app_root, extra_env={"TAP365_FUNCTION_KEYS": KEY}) as running:
            running.onboard()
            yield running
    except AzuriteUnavailable as exc:
        pytest.skip(str(exc))


def _wait(check: Any, what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _where(stack: Stack, upn: str, internet_id: str) -> tuple[str, str] | None:
    for folder in stack.sim.mailbox(upn)["folders"]:
        for message in folder["messages"]:
            if message.get("internetMessageId") == internet_id:
                return str(folder["displayName"]), str(message["immutableId"])
    return None


def _api(stack: Stack, method: str, tail: str, **kwargs: Any) -> dict[str, Any]:
    r = requests.request(method, f"{stack.functions_url}/api/manage/tenants/{stack.tenant_id}/campaigns{tail}",
                         headers={"x-functions-key": KEY, "x-ms-client-principal-name": "it-admin@contoso.test"},
                         timeout=120, **kwargs)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_campaign_purge_and_release_through_the_host(stack: Stack) -> None:
    users = stack.users[:6]
    assert len(users) == 6
    internet_ids = {}
    for n, upn in enumerate(users):
        msg = EmailMessage()
        msg["From"], msg["To"] = f"Payroll <{SENDER}>", upn
        msg["Subject"], msg["Message-ID"] = f"Salary update {n}", f"<salary-{n}@salary-update.example>"
        msg.set_content("<p>See your new salary: <a href='https://salary-update.example/view'>view</a></p>",
                        subtype="html")
        stack.sim.deliver(upn, msg.as_bytes())
        internet_ids[upn] = msg["Message-ID"]
    runtime = Runtime.create()

    def processed() -> bool:
        for upn, iid in internet_ids.items():
            found = _where(stack, upn, iid)
            entry = found and runtime.stores.journal.get(stack.tenant_id, found[1])
            if not (entry and entry.done):
                return False
        return True

    _wait(processed, "the six copies processed")
    found = _api(stack, "GET", "", params={"subject": "SALARY UPDATE 99"})
    assert found["mailboxes"] == 6 and len(found["value"]) == 6

    purged = _api(stack, "POST", "/purge", json={"sender": SENDER})
    assert len(purged["quarantined"]) == 6 and not purged["errors"]
    assert {_where(stack, u, i)[0] for u, i in internet_ids.items()} == {"Quarantine"}  # type: ignore[index]
    again = _api(stack, "POST", "/purge", params={"sender": SENDER})
    assert again["quarantined"] == []

    released = _api(stack, "POST", "/release", params={"sender": SENDER})
    assert len(released["released"]) == 6
    assert {_where(stack, u, i)[0] for u, i in internet_ids.items()} == {"Inbox"}  # type: ignore[index]
    r = requests.get(f"{stack.functions_url}/api/manage/tenants/{stack.tenant_id}/campaigns",
                     params={"sender": SENDER}, timeout=30)
    assert r.status_code == 401  # no function key
