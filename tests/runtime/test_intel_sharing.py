"""Intelligence off the request path: a failing feed never stops the service, the last good copy
stands in for it, and every instance picks up a new version from storage without the timer.
Real parts: Azurite for storage, the simulated tenant for Graph, the service's own entry points."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from connectors.service.admin import AdminApi
from connectors.service.clicks import handle_click
from connectors.service.intake import handle_notifications
from connectors.service.processing import MessageProcessor
from connectors.service.runtime import Runtime
from connectors.storage.interfaces import Subscription, Tenant
from tap_core.urls.links import LinkContext, message_ref
from tests.e2e.processor_harness import ADELE, Service, drain, mail

#: Nothing listens on the discard port: the download fails at once. The query carries a fake key
#: that must never be shown.
DEAD_FEED = "https://127.0.0.1:9/urlhaus/feed.txt?auth-key=SECRET-KEY"
BAD = "https://evil-login.example/owa/signin"
ROOT = Path(__file__).resolve().parents[2]


def _until(check: Callable[[], bool]) -> None:
    # No wall-clock assertion: pytest-timeout is the backstop if the version never arrives.
    while not check():
        time.sleep(0.05)


def test_a_feed_unreachable_at_start_never_stops_the_service(service_factory: Callable[..., Service]) -> None:
    service = service_factory(intel_feeds=DEAD_FEED)  # Runtime.create reads no feed: no raise
    rt = service.runtime
    assert rt.intel is None and rt.intel_version == ""

    # Notification intake answers and queues.
    sub_id = "5f0c8d7e-0000-4000-8000-000000000001"
    rt.stores.subscriptions.put_subscription(
        Subscription(sub_id, service.tenant_id, ADELE, f"users/{ADELE}/messages", datetime.now(UTC) + timedelta(days=1)),
        SecretStr("state-1"),
    )
    note = {"value": [{"subscriptionId": sub_id, "clientState": "state-1", "changeType": "created",
                       "resource": f"users/{ADELE}/messages/AAA", "tenantId": service.tenant_id}]}
    answer = handle_notifications({}, json.dumps(note).encode(), subscriptions=rt.stores.subscriptions,
                                  queue=rt.stores.notifications)
    assert answer.status == 202 and drain(rt.stores.notifications)

    # The redirector answers a signed link.
    ctx = LinkContext(service.tenant_id, ADELE, message_ref("m1"), int(time.time()))
    click = asyncio.run(handle_click(rt, "GET", rt.codec.wrap("https://partner.example/notes", ctx), {}))
    assert click.status < 500

    # The worker processes mail.
    delivered = service.deliver(mail("feed-down@partner.example"))
    outcome = asyncio.run(MessageProcessor(rt).process(service.tenant_id, ADELE, delivered["immutableId"]))
    assert outcome.status == "processed"

    # The timer records the failure instead of raising; status and its JSON say which, when, why.
    assert rt.refresh_intel() == set()
    rt.stores.tenants.put_tenant(Tenant(service.tenant_id, "Contoso", datetime.now(UTC)))
    status = AdminApi(rt).status(service.tenant_id)
    assert status.status == 200
    intel = json.loads(status.body)["intelligence"]
    assert intel["failing"] == 1 and intel["configured"] == 1
    (feed,) = intel["feeds"]
    assert feed["feed"] == "https://127.0.0.1:9/urlhaus/feed.txt" and not feed["ok"]
    assert "download failed" in feed["error"] and feed["checked_at"] and feed["source"] == "none"
    assert "SECRET-KEY" not in status.body


def test_a_failing_source_falls_back_to_its_last_good_copy(
    service_factory: Callable[..., Service], tmp_path: Path
) -> None:
    source = tmp_path / "feed.txt"
    source.write_text(f"# feed\n{BAD}\n")
    service = service_factory(intel_feeds=str(source))
    rt = service.runtime
    rt.refresh_intel()
    assert rt.intel is not None and rt.intel.match(BAD)
    good = rt.intel_version

    source.unlink()  # the source goes away
    assert rt.refresh_intel() == set()
    assert rt.intel_version == good and rt.intel.match(BAD)
    (feed,) = rt.intel_health()["feeds"]
    assert not feed["ok"] and feed["source"] == "last good copy" and feed["last_success"]

    # A fresh instance loads the copy although the source is gone (and reads no source itself).
    other = Runtime.create(rt.settings, graph_settings=rt.graph_settings, storage=rt.stores.config)
    assert other.sync_intel()
    assert other.intel_version == good and other.intel is not None and other.intel.match(BAD)


def test_another_instance_sees_a_new_version_without_running_the_timer(
    service_factory: Callable[..., Service], tmp_path: Path
) -> None:
    source = tmp_path / "feed.txt"
    source.write_text("# feed\nhttps://old-bad.example/x\n")
    timer_side = service_factory(intel_feeds=str(source)).runtime
    assert timer_side.refresh_intel() == set()  # the first version: nothing to purge
    other = Runtime.create(timer_side.settings.model_copy(update={"intel_check_seconds": 0}),
                           graph_settings=timer_side.graph_settings, storage=timer_side.stores.config)
    # On first use the instance loads the published version on its background thread.
    other.pipeline("t1")
    _until(lambda: other.intel_version == timer_side.intel_version)

    source.write_text(f"# feed\nhttps://old-bad.example/x\n{BAD}\n")
    new_keys = timer_side.refresh_intel()
    assert new_keys and any("evil-login.example" in k for k in new_keys)  # the purge still gets them
    # What the other instance loads is the published version, not the source: change the source
    # again without publishing, and it must still arrive at the timer's version.
    source.write_text("# feed\nhttps://never-published.example/\n")
    _until(lambda: other.current_intel() is not None and other.intel_version == timer_side.intel_version)
    pipeline = other.pipeline("t1")
    assert other.intel is not None and other.intel.match(BAD)
    assert not other.intel.match("https://never-published.example/")
    assert other.pipeline("t1") is pipeline  # rebuilt once for the new version, then reused


def test_doctor_reports_a_failing_feed(service_factory: Callable[..., Service]) -> None:
    service = service_factory(intel_feeds=DEAD_FEED)
    service.runtime.refresh_intel()  # the timer ran and recorded the failure
    sim, config = service.sim, service.runtime.stores.config
    assert config.connection_string is not None
    app = sim.app(0)
    env = {**os.environ, "TAP365_GRAPH_AUTHORITY_HOST": sim.base_url, "TAP365_GRAPH_BASE_URL": sim.graph_url,
           "TAP365_GRAPH_CLIENT_ID": app["clientId"], "TAP365_GRAPH_CLIENT_SECRET": app["secrets"][0],
           "TAP365_GRAPH_CA_BUNDLE": sim.ca_path, "TAP365_INTEL_FEEDS": DEAD_FEED,
           "TAP365_STORAGE_CONNECTION_STRING": config.connection_string.get_secret_value(),
           "TAP365_STORAGE_PREFIX": config.prefix}

    def doctor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "connectors.cli", "doctor", "--tenant", service.tenant_id,
                               *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)

    as_json = doctor("--json")
    assert as_json.returncode == 1
    (feed,) = json.loads(as_json.stdout)["feeds"]
    assert not feed["ok"] and "download failed" in feed["error"] and feed["checked_at"]
    text = doctor().stdout
    assert "[FAIL] feed https://127.0.0.1:9/urlhaus/feed.txt failed" in text and "SECRET-KEY" not in text
