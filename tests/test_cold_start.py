"""A cold instance loads only what it needs: importing ``function_app`` registers every function
without the Graph SDK, the storage SDKs, YARA or the file readers, and the first notification
is answered without loading the mail pipeline or the attachment scanners. Each runs in a fresh
interpreter (this one has imported everything long ago). Speed is measured in
``bench/cold_start.py``, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from connectors.storage.azure import AzureStores
from connectors.storage.config import StorageConfig
from connectors.storage.interfaces import Subscription
from tests.storage.azurite import Azurite

ROOT = Path(__file__).resolve().parent.parent

#: Loaded by the functions that use them, never by the import of the app.
HEAVY = (
    "msgraph", "msal", "azure.identity", "kiota_http", "azure.storage.blob", "azure.data.tables",
    "azure.storage.queue", "aiohttp", "requests", "yara", "pypdf", "pypdfium2", "oletools", "numpy",
    "py7zr", "PIL", "zxingcpp", "selectolax", "unicorn", "speakeasy", "tldextract",
    "connectors.service.runtime", "tap_core.pipeline", "tap_core.attachments.engine", "jinja2", "connectors.console",
)
#: Not even the first notification needs these (they serve messages, clicks and timers).
NOT_FOR_A_NOTIFICATION = (
    "msgraph", "msal", "azure.identity", "yara", "pypdf", "pypdfium2", "oletools", "numpy",
    "py7zr", "PIL", "zxingcpp", "selectolax", "unicorn", "speakeasy",
    "tap_core.pipeline", "tap_core.attachments.engine", "tap_core.urls.extract",
    "connectors.graph.client", "connectors.intel_feeds", "azure.storage.blob", "tap_core.policy",
)

FUNCTIONS = {
    "graph_notifications", "graph_lifecycle", "process_notification", "process_delayed",
    "renew_subscriptions", "resync_subscriptions", "users_delta", "refresh_intel", "overdue_holds",
    "cleanup", "consent_begin", "consent", "redirect", "admin_quarantine", "admin_release",
    "admin_policy", "admin_records", "admin_status", "health", "console", "daily_digests",
    "admin_reports", "admin_campaign", "admin_campaign_action", "siem_api", "sentinel_push",
}


def _fresh(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run ``code`` in a new interpreter; it leaves its answer in ``out``; returns it with the
    modules loaded by then."""
    probe = (f"import json, sys\nout = {{}}\n{code}\n"
             "print(json.dumps({'out': out, 'modules': sorted(sys.modules)}))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _loaded(modules: object, names: tuple[str, ...]) -> list[str]:
    assert isinstance(modules, list)
    return [name for name in names if name in modules]


def test_importing_the_app_registers_every_function_and_loads_nothing_heavy() -> None:
    got = _fresh("import function_app\n"
                 "out['functions'] = [f.get_function_name() for f in function_app.app.get_functions()]")
    assert set(got["out"]["functions"]) == FUNCTIONS  # type: ignore[index]
    assert _loaded(got["modules"], HEAVY) == []


def test_a_cold_instance_answers_its_first_notification_without_the_pipeline(
    azurite_instance: Azurite,
) -> None:
    prefix = f"c{uuid.uuid4().hex[:8]}"
    # A fresh deployment: only the subscription is stored (its table made), nothing else exists yet.
    config = StorageConfig(connection_string=SecretStr(azurite_instance.connection_string), prefix=prefix)
    stores = AzureStores.open(config, create=False)
    stores.subscriptions.ensure()
    sub = Subscription(str(uuid.uuid4()), str(uuid.uuid4()), "u@example.org", "users/u/messages",
                       datetime.now(UTC) + timedelta(days=1))
    stores.subscriptions.put_subscription(sub, SecretStr("our-state"))
    env = {
        **os.environ,
        "AzureWebJobsStorage": azurite_instance.connection_string,
        "TAP365_STORAGE_PREFIX": prefix,
        "TAP365_GRAPH_CLIENT_ID": str(uuid.uuid4()),
        "TAP365_GRAPH_CLIENT_SECRET": "unused",
    }
    env.pop("TAP365_STORAGE_CONNECTION_STRING", None)
    body = json.dumps({"value": [{"subscriptionId": sub.subscription_id, "clientState": "our-state",
                                  "tenantId": sub.tenant_id, "changeType": "created",
                                  "resource": "users/u/messages/m"}]})
    code = f"""
import azure.functions as func
import function_app
handler = function_app.graph_notifications._function.get_user_function()
handshake = handler(func.HttpRequest("POST", "/api/graph/notifications", body=b"",
                                     params={{"validationToken": "tok en"}}))
out["handshake"] = [handshake.status_code, handshake.get_body().decode()]
out["handshake_modules"] = sorted(sys.modules)
answer = handler(func.HttpRequest("POST", "/api/graph/notifications", body={body!r}.encode()))
out["status"] = answer.status_code
"""
    got = _fresh(code, env)
    out = got["out"]
    assert isinstance(out, dict)
    assert out["handshake"] == [200, "tok en"]
    # The handshake touches neither storage nor Graph.
    assert _loaded(out["handshake_modules"], ("azure.data.tables", "azure.storage.queue", "msal")) == []
    assert out["status"] == 202, out
    assert stores.notifications.receive()  # queued for the workers (its first send made the queue)
    assert _loaded(got["modules"], NOT_FOR_A_NOTIFICATION) == []
    # Answering created no other store (the other functions create them, once per process).
    tables = {t.name for t in config.table_service().list_tables() if t.name.startswith(prefix)}
    assert tables == {f"{prefix}subscriptions"}, tables
