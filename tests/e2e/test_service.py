"""The whole service over real HTTP: Azurite, the simulated tenant (its own process) and the
local Functions host running function_app.py. Nothing of ours is faked."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.devstack.azurite import AzuriteUnavailable
from connectors.devstack.stack import Stack, running_stack
from connectors.service.purge import purge
from connectors.service.runtime import Runtime
from connectors.service.tenancy import TenantService
from m365sim.directory import default_seed
from tests.e2e.stack_helpers import MAIL, deliver, find_message, journal_done, wait_for
from tests.webhook_receiver import WebhookReceiver, webhook_receiver

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

FAST_HOST = {
    "version": "2.0",
    "functionTimeout": "00:02:00",
    "extensions": {
        "http": {"routePrefix": "api"},
        "queues": {
            "batchSize": 4,
            "maxDequeueCount": 3,
            "visibilityTimeout": "00:00:01",
            "maxPollingInterval": "00:00:00.200",
        },
    },
}


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("intel") / "feed.txt"
    path.write_text("# test feed\n")
    return path


#: The CAPE simulator's API token, given to the service as TAP365_SANDBOX_TOKEN.
CAPE_TOKEN = "e2e-cape-token"


#: The admin webhook's signing secret, given to the service as TAP365_ADMIN_WEBHOOK_SECRET.
WEBHOOK_SECRET = "e2e-webhook-secret"


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookReceiver]:
    with webhook_receiver("/tap365-events") as state:
        yield state


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, feed: Path, hook: WebhookReceiver) -> Iterator[Stack]:
    # The real function_app.py, with a host.json that retries fast.
    app_root = tmp_path_factory.mktemp("app")
    shutil.copy(ROOT / "function_app.py", app_root / "function_app.py")
    (app_root / "host.json").write_text(json.dumps(FAST_HOST))
    try:
        env = {"TAP365_INTEL_FEEDS": str(feed), "TAP365_SCAN_ALLOW_NETWORKS": "127.0.0.1/32",
               "TAP365_ADMIN_WEBHOOK_URL": hook.url, "TAP365_ADMIN_WEBHOOK_SECRET": WEBHOOK_SECRET,
               # Read once with the service's settings; harmless while no TAP365_SANDBOX_URL is set.
               "TAP365_SANDBOX_TOKEN": CAPE_TOKEN,
               # The second simulated tenant may onboard too (the first is the app's home tenant).
               "TAP365_ALLOWED_TENANTS": default_seed()["tenants"][1]["id"]}
        with running_stack(app_root=app_root, extra_env=env) as running:
            running.onboard()
            yield running
    except AzuriteUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(autouse=True)
def no_faults(stack: Stack) -> Iterator[None]:
    stack.sim.faults()
    yield
    stack.sim.faults()


def route_count(stack: Stack, key: str) -> int:
    return int(stack.sim.stats()["requests"]["by_route"].get(key, 0))


@contextmanager
def tenant_policy(stack: Stack, document: dict[str, Any]) -> Iterator[Runtime]:
    """The tenant's policy set to ``document`` for the block, and back to the default after."""
    from connectors.service.runtime import get_runtime

    runtime = Runtime.create()
    policies = runtime.stores.policies

    def put(doc: dict[str, Any]) -> None:
        current = policies.get_policy(stack.tenant_id)  # another test may have left one
        policies.put_policy(stack.tenant_id, doc, etag=current.etag if current else None, updated_by="test")
        get_runtime().forget_policy(stack.tenant_id)  # the host runs in this process

    put(document)
    try:
        yield runtime
    finally:
        put({})


def delivered_link(stack: Stack, upn: str, message_id: str, html: str) -> str:
    """Deliver an HTML message, wait for its processing and return its first rewritten link."""
    raw = (
        f"From: Docs <docs@partner.example>\nTo: {upn}\nSubject: notes\nMessage-ID: <{message_id}>\n"
        f"Content-Type: text/html\n\n{html}\n"
    ).encode()
    stack.sim.deliver(upn, raw)
    wait_for(lambda: journal_done(stack, upn, f"<{message_id}>"), what="processing")
    _, message = find_message(stack, upn, f"<{message_id}>")
    body = json.dumps(message)
    start = body.index(f"{stack.functions_url}/api/r/1.")
    return body[start : body.index('\\"', start)].replace("&amp;", "&")


def browser_get(link: str) -> requests.Response:
    """A click as a browser makes it (not a link scanner's request)."""
    headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)", "Accept-Language": "en"}
    return requests.get(link, allow_redirects=False, timeout=60, headers=headers)


def test_handshake_answers_the_token(stack: Stack) -> None:
    for path in ("graph/notifications", "graph/lifecycle"):
        r = requests.post(
            f"{stack.functions_url}/api/{path}", params={"validationToken": "A b&c<"}, timeout=10
        )
        assert r.status_code == 200 and r.text == "A b&c<"
        assert r.headers["content-type"].startswith("text/plain")
    # One subscription per mailbox, over every folder (users/{id}/messages).
    subs = stack.sim.control("GET", "/subscriptions")
    assert all(s["resource"].count("/") == 2 and s["resource"].endswith("/messages") for s in subs)
    subscribed = {s["resource"].split("/")[1].lower() for s in subs}
    assert {u["id"].lower() for u in stack.sim.seed()["tenants"][0]["users"]} <= subscribed


def test_forged_notification_is_not_queued(stack: Stack) -> None:
    sub = stack.sim.control("GET", "/subscriptions")[0]
    body = {
        "value": [
            {
                "subscriptionId": sub["id"],
                "clientState": "wrong",
                "tenantId": stack.tenant_id,
                "changeType": "created",
                "resource": "Users/x/Messages/y",
                "resourceData": {"id": "y"},
            }
        ]
    }
    r = requests.post(f"{stack.functions_url}/api/graph/notifications", json=body, timeout=10)
    assert r.status_code == 202 and r.json() == {"queued": 0, "rejected": 1}


def test_notification_processed_end_to_end(stack: Stack) -> None:
    upn = stack.users[0]
    gets, patches = (
        route_count(stack, "GET /v1.0/users/{id}/messages/{id}"),
        route_count(stack, "PATCH /v1.0/users/{id}/messages/{id}"),
    )
    internet_id = deliver(stack, upn, "01-newsletter-clean.eml", "e2e-1@contoso.test")
    wait_for(lambda: journal_done(stack, upn, internet_id), what="processing")
    _, message = find_message(stack, upn, internet_id)
    assert (
        "/api/r/1." in message["body"]["content"]
        if isinstance(message.get("body"), dict)
        else "/api/r/1." in json.dumps(message)
    )
    assert route_count(stack, "GET /v1.0/users/{id}/messages/{id}") - gets == 1
    assert route_count(stack, "PATCH /v1.0/users/{id}/messages/{id}") - patches == 1


def test_the_service_reaches_the_same_verdict_as_the_pipeline(stack: Stack) -> None:
    """function_app.py's path scores a message with the one engine and the shipped learned model:
    what the service recorded for a delivered lure is what ``Pipeline.run`` decides for the same
    bytes, finding by finding; the service only knows more (the tenant's history, domain ages)."""
    from tap_core.attachments import AttachmentEngine
    from tap_core.detect.model import shipped_model
    from tap_core.parsing.mime import parse_eml
    from tap_core.pipeline import Pipeline

    upn = stack.users[0]
    internet_id = deliver(stack, upn, "02-paypal-lookalike-phish.eml", "e2e-verdict@contoso.test")
    wait_for(lambda: journal_done(stack, upn, internet_id), what="processing")
    _, message = find_message(stack, upn, internet_id)
    record = Runtime.create().stores.verdicts.get_verdict(stack.tenant_id, message["immutableId"])
    assert record is not None
    raw = (MAIL / "02-paypal-lookalike-phish.eml").read_bytes()
    local = Pipeline(attachment_engine=AttachmentEngine()).run(parse_eml(raw), recipient=upn)
    weights = record.details["weights"]
    # The same findings weigh the same; the service's extra ones are what only a tenant knows.
    extra = set(weights) - set(local.weights)
    tenant_only = {"newly_observed_sender", "org_first_seen_sender_domain", "org_first_seen_sender_address",
                   "org_first_seen_link_domain", "domain_registered_recently", "domain_age_unknown"}
    assert extra <= tenant_only, extra
    assert {k: weights[k] for k in local.weights} == local.weights
    assert record.details["score"] == pytest.approx(local.score + sum(weights[k] for k in extra))
    model = shipped_model()
    assert record.details["score"] == pytest.approx(model.bias + sum(weights.values()), abs=1e-3)
    assert (record.verdict, record.action) == (local.verdict.value, local.action.value)
    strongest = max(weights, key=lambda name: weights[name])
    assert record.reasons[0].split(" ", 1)[0] == strongest  # the finding that weighed most first


def test_duplicated_notifications_have_one_effect(stack: Stack) -> None:
    upn = stack.users[1]
    stack.sim.faults(duplicate_notifications_rate=1.0)
    patches = route_count(stack, "PATCH /v1.0/users/{id}/messages/{id}")
    internet_id = deliver(stack, upn, "01-newsletter-clean.eml", "e2e-dup@contoso.test")
    wait_for(lambda: journal_done(stack, upn, internet_id), what="processing")
    time.sleep(3)  # let the duplicate run its course
    assert route_count(stack, "PATCH /v1.0/users/{id}/messages/{id}") - patches == 1


def test_failure_between_patch_and_move_resumes_without_second_patch(stack: Stack) -> None:
    upn = stack.users[2]
    stack.sim.faults(error_rate=1.0, error_status=500, routes=["POST /v1.0/users/{id}/messages/{id}/move"])
    patches = route_count(stack, "PATCH /v1.0/users/{id}/messages/{id}")
    moves = route_count(stack, "POST /v1.0/users/{id}/messages/{id}/move")
    internet_id = deliver(stack, upn, "02-paypal-lookalike-phish.eml", "e2e-crash@contoso.test")
    wait_for(
        lambda: route_count(stack, "POST /v1.0/users/{id}/messages/{id}/move") > moves, what="failed move"
    )
    stack.sim.faults()  # the next attempt succeeds
    wait_for(lambda: journal_done(stack, upn, internet_id), what="resumed processing")
    folder, _ = find_message(stack, upn, internet_id)
    assert folder["isHidden"] and folder["displayName"] == "Quarantine"
    assert route_count(stack, "PATCH /v1.0/users/{id}/messages/{id}") - patches == 1


def test_always_failing_message_goes_to_poison_with_reason(stack: Stack) -> None:
    upn = stack.users[3]
    stack.sim.faults(error_rate=1.0, error_status=400, routes=["GET /v1.0/users/{id}/messages/{id}"])
    deliver(stack, upn, "06-internal-memo.eml", "e2e-poison@contoso.test")
    runtime = Runtime.create()
    poisoned = wait_for(lambda: runtime.stores.notifications.peek_poison(), timeout=90, what="poison")
    reason = poisoned[-1]["reason"]
    assert "400" in reason  # a failure of the item (an outage would be queued again instead)
    assert json.loads(poisoned[-1]["content"])["kind"] == "message"


def test_missed_notification_recovered_by_delta(stack: Stack) -> None:
    upn = stack.users[4]
    stack.sim.faults(drop_notifications_rate=1.0)
    internet_id = deliver(stack, upn, "01-newsletter-clean.eml", "e2e-missed@contoso.test")
    time.sleep(2)
    assert not journal_done(stack, upn, internet_id)
    stack.sim.faults()
    runtime = Runtime.create()
    sub = next(
        s
        for s in runtime.stores.subscriptions.list_subscriptions(stack.tenant_id)
        if s.mailbox.lower() == upn.lower()
    )
    stack.sim.lifecycle(sub.subscription_id, "missed")
    wait_for(lambda: journal_done(stack, upn, internet_id), what="delta resync")


def test_subscription_renewal(stack: Stack) -> None:
    runtime = Runtime.create()
    before = {s.subscription_id: s.expires_at for s in runtime.stores.subscriptions.list_subscriptions()}
    counts = asyncio.run(TenantService(runtime).renew_due(now=datetime.now(UTC) + timedelta(days=3)))
    assert counts["renewed"] >= 1 and counts["failed"] == 0
    after = {s.subscription_id: s.expires_at for s in runtime.stores.subscriptions.list_subscriptions()}
    assert any(after[k] > before[k] for k in before if k in after)


def test_post_delivery_purge(stack: Stack, feed: Path) -> None:
    upn = stack.users[5]
    runtime = Runtime.create()  # loads the (empty) feed: the baseline
    internet_id = deliver(stack, upn, "04-safelinks-wrapped.eml", "e2e-purge@contoso.test")
    wait_for(lambda: journal_done(stack, upn, internet_id), what="processing")
    folder, _ = find_message(stack, upn, internet_id)
    assert not folder["isHidden"]
    feed.write_text("# test feed\nhttps://docs.example.com/share/project-plan\n")
    new_keys = runtime.refresh_intel()
    assert new_keys
    result = asyncio.run(purge(runtime, new_keys))
    assert result.quarantined and not result.errors
    folder, _ = find_message(stack, upn, internet_id)
    assert folder["isHidden"] and folder["displayName"] == "Quarantine"


@pytest.fixture
def page_server() -> Iterator[str]:
    """A harmless page on loopback for the redirector's time-of-click analysis to fetch."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>Docs</title><h1>Release notes</h1><p>Nothing to sign in to.</p>"
            if self.path.startswith("/signin"):  # a credential page that posts to a chat webhook
                body = (
                    b"<!doctype html><title>Sign in to PayPal</title><h1>PayPal</h1>"
                    b"<form action='https://discord.com/api/webhooks/1/x' method='post'>"
                    b"<input name='email'><input type='password' name='pw'><button>Log in</button></form>"
                )
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()


def test_click_on_a_rewritten_link_through_the_host(stack: Stack, page_server: str) -> None:
    destination = f"{page_server}/notes/2026?x=1"
    link = delivered_link(stack, stack.users[0], "e2e-click@x.test",
                          f'<p>See <a href="{destination}">the notes</a>.</p>')
    r = browser_get(link)
    assert r.status_code == 302, r.text[:3000]
    assert r.headers["Location"] == destination
    forged = link.replace("/notes/2026", "/evil")
    r = requests.get(forged, allow_redirects=False, timeout=30)
    assert r.status_code >= 400 and "Location" not in r.headers


def test_block_page_carries_the_tenants_branding_from_its_policy(stack: Stack, page_server: str) -> None:
    from tap_core.click.scanner import DELIVERY_WINDOW_SECONDS

    branding = {"name": "Contoso <Security>", "support_contact": "servicedesk@contoso.example"}
    with tenant_policy(stack, {"branding": branding}):
        link = delivered_link(stack, stack.users[1], "e2e-brand@x.test",
                              f'<p>Please <a href="{page_server}/signin?id=7">review</a>.</p>')
        # A click within seconds of delivery is a scanner's, which is never sent to fetch the page.
        time.sleep(DELIVERY_WINDOW_SECONDS + 0.5)
        r = browser_get(link)
    assert r.status_code in (200, 403) and "Location" not in r.headers, r.status_code
    assert "Contoso &lt;Security&gt;" in r.text and "servicedesk@contoso.example" in r.text


@pytest.fixture(scope="module")
def windows_exes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    import subprocess

    from tests.sandbox.conftest import MINGW, PROGRAM_LIBS, PROGRAMS, need

    need(shutil.which(MINGW) is not None, f"{MINGW} not found: apt-get install mingw-w64")
    out = tmp_path_factory.mktemp("exes")
    built = {}
    for name in ("run_key", "benign"):
        exe = out / f"{name}.exe"
        subprocess.run([MINGW, "-O1", "-s", "-o", str(exe), str(PROGRAMS / f"{name}.c"), *PROGRAM_LIBS[name]],
                       check=True, timeout=120)
        built[name] = exe.read_bytes()
    return built


def _with_attachment(upn: str, message_id: str, name: str, data: bytes) -> bytes:
    import base64

    return (f"From: Billing <billing@vendor.example>\r\nTo: {upn}\r\nSubject: your tool\r\n"
            f"Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n'
            "The updater is attached.\r\n--B\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Disposition: attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            ).encode() + base64.encodebytes(data) + b"--B--\r\n"


@pytest.mark.parametrize(("program", "hidden_folder"), [("run_key", "Quarantine"), ("benign", None)])
def test_held_attachment_detonated_then_quarantined_or_released(
        stack: Stack, windows_exes: dict[str, bytes], program: str, hidden_folder: str | None) -> None:
    upn = stack.users[1]
    internet_id = f"<e2e-sandbox-{program}@x.test>"
    stack.sim.deliver(upn, _with_attachment(upn, internet_id[1:-1], f"{program}.exe", windows_exes[program]))
    wait_for(lambda: journal_done(stack, upn, internet_id), what="processing")

    def settled() -> tuple[dict[str, Any], dict[str, Any]] | None:
        found = find_message(stack, upn, internet_id)
        return found if found and found[0]["displayName"] != "Hold" else None

    folder, message = wait_for(settled, timeout=120, what="the sandbox verdict")
    entry = Runtime.create().stores.quarantine.get(stack.tenant_id, upn, message["immutableId"])
    assert entry is not None and entry.updated_by == "sandbox"  # it was held, and the sandbox decided
    if hidden_folder:
        assert folder["isHidden"] and folder["displayName"] == hidden_folder
        assert entry.status.value == "quarantined"
    else:
        assert not folder["isHidden"] and entry.status.value == "released"


def _docx() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats'
                   '.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Minutes</w:t></w:r></w:p></w:body>'
                   "</w:document>")
    return buffer.getvalue()


def test_unanalysable_attachment_follows_timeout_action(stack: Stack) -> None:
    from connectors.service.detonation import WARNING_CATEGORY

    upn = stack.users[2]
    internet_id = "<e2e-sandbox-docx@x.test>"
    raw = _with_attachment(upn, internet_id[1:-1], "minutes.docx", _docx()).replace(
        b"Content-Type: text/plain\r\n\r\nThe updater is attached.",
        b"Content-Type: text/html\r\n\r\n<html><body><p>Minutes attached.</p></body></html>")

    def settled() -> tuple[dict[str, Any], dict[str, Any]] | None:
        found = find_message(stack, upn, internet_id)
        return found if found and found[0]["displayName"] != "Hold" else None

    with tenant_policy(stack, {"attachments": {"timeout_action": "deliver_with_warning"}}):
        stack.sim.deliver(upn, raw)
        wait_for(lambda: journal_done(stack, upn, internet_id), what="processing")
        folder, message = wait_for(settled, timeout=120, what="the timeout action")
    assert not folder["isHidden"]
    assert WARNING_CATEGORY in message["categories"]
    assert "could not be fully analysed" in json.dumps(message)


def test_body_edit_refused_without_mail_advanced_falls_back_to_a_category(stack: Stack) -> None:
    from connectors.service.processing import FALLBACK_CATEGORY

    fabrikam = stack.sim.seed()["tenants"][1]
    # The second tenant consents without Mail-Advanced.ReadWrite (no token for it is cached yet).
    stack.sim.grant(fabrikam["id"], stack.app_id, ["Mail.ReadWrite", "User.Read.All", "Mail.Send"])
    # Straight to the callback with a state of this deployment (Entra's consent page would grant
    # every permission the app asks for, Mail-Advanced.ReadWrite included).
    from connectors.keys import keyring_from_settings
    from connectors.service.consent import NONCE_COOKIE, make_state
    from connectors.settings import Settings
    from connectors.storage.azure import AzureStores
    from connectors.storage.config import StorageConfig

    state = make_state(keyring_from_settings(Settings()), "e2e-nonce")
    r = requests.get(f"{stack.functions_url}/api/consent/callback",
                     params={"admin_consent": "True", "tenant": fabrikam["id"], "state": state},
                     headers={"Cookie": f"{NONCE_COOKIE}=e2e-nonce"}, timeout=120)
    assert r.status_code == 200, r.text

    tenants = AzureStores.open(StorageConfig.from_env()).tenants

    def onboarded() -> bool:
        progress = tenants.get_onboarding(fabrikam["id"])
        return progress is not None and progress.status == "done"

    wait_for(onboarded, what="the second tenant's onboarding")
    upn = fabrikam["users"][0]["userPrincipalName"]
    internet_id = deliver(stack, upn, "01-newsletter-clean.eml", "e2e-no-advanced@contoso.test")
    runtime = Runtime.create()

    def done() -> bool:
        found = find_message(stack, upn, internet_id)
        entry = found and runtime.stores.journal.get(fabrikam["id"], found[1]["immutableId"])
        return bool(entry and entry.done)

    wait_for(done, what="processing in the second tenant")
    _, message = find_message(stack, upn, internet_id)
    assert "/api/r/1." not in json.dumps(message)  # the message is as it was delivered
    assert FALLBACK_CATEGORY in message["categories"]
    audit = runtime.stores.audit.list_audit(fabrikam["id"], datetime.now(UTC) - timedelta(hours=1))
    assert any(a.action == "body_patch_refused" and "Mail-Advanced" in a.reason for a in audit)


def _blank_pdf() -> bytes:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=300, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _with_files(upn: str, message_id: str, files: dict[str, bytes]) -> bytes:
    import base64

    parts = b"".join(
        (f"--B\r\nContent-Type: application/octet-stream\r\n"
         f'Content-Disposition: attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
         ).encode() + base64.encodebytes(data)
        for name, data in files.items()
    )
    return (f"From: Board <board@partner.example>\r\nTo: {upn}\r\nSubject: minutes and plan\r\n"
            f"Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n'
            "Both files attached.\r\n").encode() + parts + b"--B--\r\n"


@pytest.fixture
def safe_file_policy(stack: Stack) -> Iterator[Runtime]:
    with tenant_policy(stack, {"attachments": {"mode": "safe_file"}}) as runtime:
        yield runtime


def test_safe_file_policy_replaces_attachments_with_pdf_copies_and_release_restores_them(
        stack: Stack, safe_file_policy: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from pypdf import PdfReader

    from tap_core.attachments.safefile import active_content

    runtime = safe_file_policy
    upn = stack.users[3]
    internet_id = "<e2e-safefile@x.test>"
    originals = {"minutes.docx": _docx(), "plan.pdf": _blank_pdf()}
    posts = route_count(stack, "POST /v1.0/users/{id}/messages/{id}/attachments")
    deletes = route_count(stack, "DELETE /v1.0/users/{id}/messages/{id}/attachments/{id}")
    before = dict(stack.sim.stats()["requests"]["by_route"])
    stack.sim.deliver(upn, _with_files(upn, internet_id[1:-1], originals))
    wait_for(lambda: journal_done(stack, upn, internet_id), timeout=120, what="processing")
    # The requests on this message (the directory, the verified domains and the mailbox's
    # outgoing folders are read once per tenant or mailbox and cached, not per message).
    graph_requests = sum(n - before.get(route, 0) for route, n in stack.sim.stats()["requests"]["by_route"].items()
                         if "/messages/" in route)
    folder, message = find_message(stack, upn, internet_id)
    assert not folder["isHidden"]  # delivered
    message_id = message["immutableId"]

    # What the mailbox holds now, read back through Graph.
    fetched = asyncio.run(runtime.graph.fetch_message(stack.tenant_id, upn, message_id))
    names = sorted(a.name for a in fetched.message.attachments)
    assert names == ["minutes.docx.pdf", "plan.pdf.pdf"]
    for attachment in fetched.message.attachments:
        assert attachment.data.startswith(b"%PDF-")
        assert len(PdfReader(io.BytesIO(attachment.data)).pages) >= 1
        assert active_content(attachment.data) == []
    assert route_count(stack, "POST /v1.0/users/{id}/messages/{id}/attachments") - posts == 2
    assert route_count(stack, "DELETE /v1.0/users/{id}/messages/{id}/attachments/{id}") - deletes == 2
    # One fetch, then one POST and one DELETE per attachment (no body to rewrite: no links).
    print(f"\nGraph requests for a Safe File rewrite of 2 attachments: {graph_requests}")
    assert graph_requests == 1 + 2 * 2

    # The originals are in the artefact store, listed for the admin, and the verdict says so.
    entry = runtime.stores.journal.get(stack.tenant_id, message_id)
    assert entry is not None
    items = entry.data["safe_file"]["items"]
    for item in items:
        assert runtime.stores.artefacts.get(stack.tenant_id, item["original_artefact"]) == originals[item["name"]]
        assert item["added"] and item["deleted"]
    listed = runtime.stores.quarantine.get(stack.tenant_id, upn, message_id)
    assert listed is not None and listed.status.value == "converted"

    # Release through the admin API: the originals go back in place of the copies.
    monkeypatch.setenv("TAP365_FUNCTION_KEYS", "e2e-admin-key")
    r = requests.post(f"{stack.functions_url}/api/manage/tenants/{stack.tenant_id}/quarantine/{upn}/"
                      f"{message_id}/release", headers={"x-functions-key": "e2e-admin-key"}, timeout=60)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["restored"]) == ["minutes.docx", "plan.pdf"]
    # A fresh runtime: the first one's HTTP client belongs to the event loop asyncio.run closed.
    restored = asyncio.run(Runtime.create().graph.fetch_message(stack.tenant_id, upn, message_id))
    assert {a.name: a.data for a in restored.message.attachments} == originals
    released = runtime.stores.quarantine.get(stack.tenant_id, upn, message_id)
    assert released is not None and released.status.value == "released"


def test_safe_file_resumes_after_a_failed_delete_without_a_second_copy(
        stack: Stack, safe_file_policy: Runtime) -> None:
    upn = stack.users[4]
    internet_id = "<e2e-safefile-retry@x.test>"
    delete_route = "DELETE /v1.0/users/{id}/messages/{id}/attachments/{id}"
    stack.sim.faults(error_rate=1.0, error_status=500, routes=[delete_route])
    posts = route_count(stack, "POST /v1.0/users/{id}/messages/{id}/attachments")
    deletes = route_count(stack, delete_route)
    stack.sim.deliver(upn, _with_files(upn, internet_id[1:-1], {"plan.pdf": _blank_pdf()}))
    wait_for(lambda: route_count(stack, delete_route) > deletes, timeout=120, what="the failed delete")
    stack.sim.faults()  # the redelivered queue message succeeds
    wait_for(lambda: journal_done(stack, upn, internet_id), timeout=120, what="resumed processing")
    _, message = find_message(stack, upn, internet_id)
    fetched = asyncio.run(Runtime.create().graph.fetch_message(stack.tenant_id, upn, message["immutableId"]))
    assert [a.name for a in fetched.message.attachments] == ["plan.pdf.pdf"]  # one copy, original gone
    assert route_count(stack, "POST /v1.0/users/{id}/messages/{id}/attachments") - posts == 1


def test_safe_file_holds_a_message_whose_attachment_cannot_be_converted(
        stack: Stack, safe_file_policy: Runtime) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("notes.txt", "nothing to see")
    upn = stack.users[5]
    internet_id = "<e2e-safefile-zip@x.test>"
    posts = route_count(stack, "POST /v1.0/users/{id}/messages/{id}/attachments")
    stack.sim.deliver(upn, _with_files(upn, internet_id[1:-1], {"notes.zip": buffer.getvalue()}))
    wait_for(lambda: journal_done(stack, upn, internet_id), timeout=120, what="processing")
    folder, message = find_message(stack, upn, internet_id)
    assert folder["isHidden"] and folder["displayName"] == "Hold"
    entry = safe_file_policy.stores.quarantine.get(stack.tenant_id, upn, message["immutableId"])
    assert entry is not None and entry.status.value == "held"
    assert "Safe File not applied: notes.zip" in entry.reason and "zip" in entry.reason
    assert route_count(stack, "POST /v1.0/users/{id}/messages/{id}/attachments") == posts  # nothing added


EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def test_malicious_attachment_quarantined_and_announced_by_signed_webhook(stack: Stack, hook: WebhookReceiver) -> None:
    import hashlib
    import hmac

    upn = stack.users[6 % len(stack.users)]
    internet_id = "<e2e-hook-eicar@x.test>"
    raw = _with_attachment(upn, internet_id[1:-1], "invoice.com", EICAR).replace(
        b"Subject: your tool", 'Subject: Invoice "Q3" </script> \u00fc'.encode())
    seen = len(hook.requests)
    stack.sim.deliver(upn, raw)
    wait_for(lambda: journal_done(stack, upn, internet_id), what="processing")
    folder, message = find_message(stack, upn, internet_id)
    assert folder["isHidden"] and folder["displayName"] == "Quarantine"
    headers, body = wait_for(lambda: hook.requests[seen:] and hook.requests[-1], timeout=60, what="the webhook")
    expected = hmac.new(WEBHOOK_SECRET.encode(), headers["x-tap365-timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-tap365-signature"], f"sha256={expected}")
    event = json.loads(body)
    assert event["type"] == "tap365.attachment.malicious" and event["verdict"] == "malicious"
    assert event["tenant_id"] == stack.tenant_id and event["message_id"] == message["immutableId"]
    assert event["sender"] == "billing@vendor.example" and event["subject"] == 'Invoice "Q3" </script> \u00fc'
    assert event["sha256"] == [hashlib.sha256(EICAR).hexdigest()] and event["action"] == "quarantine"
    assert b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" not in body  # what was found, never the content


def test_failing_webhook_neither_fails_nor_repeats_the_processing(stack: Stack, hook: WebhookReceiver) -> None:
    upn = stack.users[7 % len(stack.users)]
    internet_id = "<e2e-hook-down@x.test>"
    hook.status = 500
    moves = route_count(stack, "POST /v1.0/users/{id}/messages/{id}/move")
    seen = len(hook.requests)
    runtime = Runtime.create()
    poisoned = len(runtime.stores.delayed.peek_poison())
    try:
        stack.sim.deliver(upn, _with_attachment(upn, internet_id[1:-1], "invoice.com", EICAR))
        wait_for(lambda: journal_done(stack, upn, internet_id), what="processing")
        # The queue retries the event (host.json maxDequeueCount 3 here), then poisons it with why.
        wait_for(lambda: len(runtime.stores.delayed.peek_poison()) > poisoned, timeout=90, what="poison")
    finally:
        hook.status = 204
    assert len(hook.requests) - seen == 3
    last = runtime.stores.delayed.peek_poison()[-1]
    assert "HTTP 500" in last["reason"] and json.loads(last["content"])["kind"] == "webhook"
    folder, _ = find_message(stack, upn, internet_id)
    assert folder["displayName"] == "Quarantine"
    assert route_count(stack, "POST /v1.0/users/{id}/messages/{id}/move") - moves == 1  # moved once


@pytest.fixture
def cape(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The CAPE simulator of the CAPE client tests, token auth on, as TAP365_SANDBOX_URL of the
    running service (the host runs in this process and reads the URL for every detonation; the
    token, TAP365_SANDBOX_TOKEN, comes with the stack's settings)."""
    import threading

    import uvicorn

    from tests.sandbox.cape_sim import CapeSimulator
    from tests.sandbox.conftest import _free_port

    # Each status poll moves one step: the first delayed item finds the task running and queues
    # the next poll (15 s later, the first step of the poll schedule); that one gets the report.
    sim = CapeSimulator(token=CAPE_TOKEN, progression=["running", "reported"])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(sim.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10, what="the CAPE simulator")
    monkeypatch.setenv("TAP365_SANDBOX_URL", f"http://127.0.0.1:{port}/apiv2")
    yield sim
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("malicious", [True, False], ids=["malicious", "clean"])
def test_cape_task_polled_from_the_delayed_queue_while_the_message_is_held(
        stack: Stack, cape: Any, hook: WebhookReceiver, malicious: bool) -> None:
    import hashlib

    from tests.sandbox.test_cape import MALWARE_REPORT

    docx = _docx()
    if malicious:
        cape.reports[hashlib.sha256(docx).hexdigest()] = MALWARE_REPORT
    upn = stack.users[0]
    internet_id = f"<e2e-cape-{'bad' if malicious else 'ok'}@x.test>"
    hooks = len(hook.requests)
    stack.sim.deliver(upn, _with_attachment(upn, internet_id[1:-1], "minutes.docx", docx))
    wait_for(lambda: journal_done(stack, upn, internet_id), what="processing")

    # Submitted once; held while the task runs (the first poll found it running).
    wait_for(lambda: any(r.startswith("GET /apiv2/tasks/status/") for r in cape.requests), what="the first poll")
    folder, message = find_message(stack, upn, internet_id)
    assert folder["isHidden"] and folder["displayName"] == "Hold"

    def settled() -> tuple[dict[str, Any], dict[str, Any]] | None:
        found = find_message(stack, upn, internet_id)
        return found if found and found[0]["displayName"] != "Hold" else None

    folder, message = wait_for(settled, timeout=120, what="the CAPE verdict")
    creates = [r for r in cape.requests if r.startswith("POST /apiv2/tasks/create/file/")]
    polls = [r for r in cape.requests if r.startswith("GET /apiv2/tasks/status/")]
    reports = [r for r in cape.requests if r.startswith("GET /apiv2/tasks/get/report/")]
    assert len(creates) == 1 and len(polls) == 2 and len(reports) == 1  # one submission, polled twice
    entry = Runtime.create().stores.quarantine.get(stack.tenant_id, upn, message["immutableId"])
    assert entry is not None and entry.updated_by == "sandbox"
    if malicious:
        assert folder["isHidden"] and folder["displayName"] == "Quarantine"
        assert entry.status.value == "quarantined"
        _, body = wait_for(lambda: hook.requests[hooks:] and hook.requests[-1], timeout=60, what="the webhook")
        event = json.loads(body)
        assert event["message_id"] == message["immutableId"] and event["sha256"] == [hashlib.sha256(docx).hexdigest()]
        assert any("persistence_autorun" in r or "sandbox: malicious" in r for r in event["reasons"])
    else:
        assert not folder["isHidden"] and entry.status.value == "released"
        assert len(hook.requests) == hooks


def test_safe_file_copy_over_3_mb_goes_through_an_upload_session_and_so_does_the_release(
        stack: Stack, safe_file_policy: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import random

    from PIL import Image

    from tap_core.attachments.safefile import active_content

    side = 2200  # noise does not compress: the PDF copy is over the 3 MB of one POST
    buffer = io.BytesIO()
    # Seeded: the same bytes every run, so that a failure can be reproduced.
    noise = random.Random(20261130).randbytes(side * side * 3)  # noqa: S311 - test data, not a secret
    Image.frombytes("RGB", (side, side), noise).save(buffer, "PNG")
    original = buffer.getvalue()
    upn = stack.users[2]
    internet_id = "<e2e-safefile-large@x.test>"
    before = stack.sim.stats()["requests"]
    stack.sim.deliver(upn, _with_files(upn, internet_id[1:-1], {"scan.png": original}))
    wait_for(lambda: journal_done(stack, upn, internet_id), timeout=120, what="processing")
    after = stack.sim.stats()["requests"]
    _, message = find_message(stack, upn, internet_id)
    fetched = asyncio.run(Runtime.create().graph.fetch_message(stack.tenant_id, upn, message["immutableId"]))
    (copy,) = fetched.message.attachments
    assert copy.name == "scan.png.pdf" and len(copy.data) > 3 * 1024 * 1024
    assert copy.data.startswith(b"%PDF-") and active_content(copy.data) == []

    def delta(route: str) -> int:
        return int(after["by_route"].get(route, 0)) - int(before["by_route"].get(route, 0))

    sessions = delta("POST /v1.0/users/{id}/messages/{id}/attachments/createUploadSession")
    puts = delta("PUT /api/v2.0/AttachmentSessions/{id}")
    assert sessions == 1 and puts == -(-len(copy.data) // (10 * 320 * 1024))
    print(f"\nGraph requests for a Safe File rewrite of one {len(copy.data)}-byte copy: "
          f"{after['total'] - before['total']} ({puts} upload PUTs)")
    assert after["total"] - before["total"] == 1 + 1 + puts + 1  # fetch, session, PUTs, delete

    monkeypatch.setenv("TAP365_FUNCTION_KEYS", "e2e-admin-key")
    r = requests.post(
        f"{stack.functions_url}/api/manage/tenants/{stack.tenant_id}/quarantine/{upn}/{message['immutableId']}/release",
        headers={"x-functions-key": "e2e-admin-key"}, timeout=120)
    assert r.status_code == 200, r.text
    restored = asyncio.run(Runtime.create().graph.fetch_message(stack.tenant_id, upn, message["immutableId"]))
    assert [(a.name, a.data) for a in restored.message.attachments] == [("scan.png", original)]


# -- domain age (RDAP, the simulated registry) and first contact across the organisation ------

def _rdap_stamp(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _statement(sender: str, *links: str, message_id: str, upn: str) -> bytes:
    anchors = " ".join(f'<a href="https://{link}/files/q4">statement {i + 1}</a>' for i, link in enumerate(links))
    return (f"From: Accounts <{sender}>\nTo: {upn}\nSubject: Shared document: Q4 statement\n"
            f"Message-ID: <{message_id}>\nContent-Type: text/html\n\n<p>Hello,</p><p>The Q4 statement we"
            f" discussed is ready. You can review it here: {anchors}</p><p>Kind regards,<br>Mark</p>\n").encode()


def _decided(stack: Stack, upn: str, raw: bytes, internet_id: str) -> tuple[str, dict[str, Any], Any]:
    """Deliver ``raw``, wait for its processing: (its folder's name, its findings by name, its verdict record)."""
    stack.sim.deliver(upn, raw)
    wait_for(lambda: journal_done(stack, upn, internet_id), what="processing")
    folder, message = find_message(stack, upn, internet_id)
    record = Runtime.create().stores.verdicts.get_verdict(stack.tenant_id, message["immutableId"])
    assert record is not None
    return folder["displayName"], {f["name"]: f for f in record.details["findings"]}, record


def test_a_two_day_old_link_domain_from_a_sender_nobody_here_knows_is_held(stack: Stack) -> None:
    upn = stack.users[0]
    stack.rdap.set_domain("northwind-docs.com", registered=_rdap_stamp(timedelta(days=2, hours=1)))
    raw = _statement("mark@northwind-ledger.com", "northwind-docs.com", message_id="age-new@e2e.test", upn=upn)
    folder, findings, record = _decided(stack, upn, raw, "<age-new@e2e.test>")
    assert record.action == "hold" and record.verdict == "suspicious" and folder == "Hold"
    recent = findings["domain_registered_recently"]
    assert "northwind-docs.com registered" in recent["evidence"]
    assert "2 days before the message (the link's domain)" in recent["evidence"] and recent["weight"] > 0
    assert findings["org_first_seen_link_domain"]["evidence"] == "northwind-docs.com"
    assert "newly_observed_sender" in findings or "org_first_seen_sender_domain" in findings
    audit = Runtime.create().stores.audit.list_audit(stack.tenant_id, datetime.now(UTC) - timedelta(hours=1))
    assert any(a.action == "hold" and "northwind-docs.com was registered only 2 days ago" in a.reason for a in audit)
    asked = stack.rdap.stats()["by_domain"]
    assert asked.get("northwind-docs.com") == 1 and asked.get("northwind-ledger.com") == 1
    # Held mail never makes its sender or its link familiar.
    senders = Runtime.create().stores.senders
    assert senders.first_seen_domain(stack.tenant_id, "northwind-ledger.com") is None
    assert senders.first_seen_link_domain(stack.tenant_id, "northwind-docs.com") is None


def test_the_same_message_from_a_long_known_correspondent_linking_to_an_old_domain_is_delivered(
    stack: Stack,
) -> None:
    upn = stack.users[0]
    long_ago = datetime.now(UTC) - timedelta(days=60)
    senders = Runtime.create().stores.senders
    senders.record(stack.tenant_id, "mark@fabrikam-partners.com", [upn], long_ago)
    senders.record_link_domains(stack.tenant_id, ["fabrikam-partners.com"], long_ago)
    stack.rdap.set_domain("fabrikam-partners.com", registered=_rdap_stamp(timedelta(days=4000)))
    raw = _statement("mark@fabrikam-partners.com", "fabrikam-partners.com", message_id="age-old@e2e.test", upn=upn)
    folder, findings, record = _decided(stack, upn, raw, "<age-old@e2e.test>")
    assert record.action not in ("hold", "quarantine") and folder == "Inbox"
    for name in ("domain_registered_recently", "org_first_seen_sender_domain", "org_first_seen_link_domain",
                 "newly_observed_sender", "domain_age_unknown"):
        assert name not in findings, name


def test_a_failing_registry_leaves_the_message_decided_and_is_not_waited_for_again(stack: Stack) -> None:
    upn = stack.users[0]
    stack.rdap.set_domain("slow-statements.net", behaviour="slow", delay_seconds=60)
    stack.rdap.set_domain("junk-statements.info", behaviour="garbage")
    stack.rdap.set_domain("busy-statements.org", behaviour="ratelimit", retry_after=2)
    links = ("slow-statements.net", "junk-statements.info", "busy-statements.org")
    first = _statement("mark@fabrikam-partners.com", *links, message_id="age-fail-1@e2e.test", upn=upn)
    _, findings, record = _decided(stack, upn, first, "<age-fail-1@e2e.test>")
    unknown = findings["domain_age_unknown"]
    assert unknown["weight"] == 0 and record.verdict in ("clean", "suspicious")
    evidence = unknown["evidence"]
    assert "slow-statements.net: no answer within 2 s" in evidence, evidence
    assert "junk-statements.info: " in evidence and "busy-statements.org: " in evidence and "429" in evidence
    before = stack.rdap.stats()["by_domain"]
    assert all(before.get(d) == 1 for d in links), before
    # The next message for the same domains gets the cached failures, without asking again.
    second = _statement("mark@fabrikam-partners.com", *links, message_id="age-fail-2@e2e.test", upn=upn)
    _, again, _ = _decided(stack, upn, second, "<age-fail-2@e2e.test>")
    assert "no answer within 2 s" in again["domain_age_unknown"]["evidence"]
    after = stack.rdap.stats()["by_domain"]
    assert all(after.get(d) == 1 for d in links), after


# -- user-reported phishing, through the local host: report, triage, purge, release --------------

def test_three_reports_through_the_host_purge_six_copies_once_and_an_admin_releases_them(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six people get the same message, delivered; three report it (Report button, attached
    .msg, forward); the policy has learnt since that its sender is an attacker. The host's
    workers make one triage entry, answer each reporter, quarantine the six copies once each; the
    admin API releases them again; the audit trail has all of it."""
    from email.message import EmailMessage

    from connectors.service.runtime import reset_runtime
    from tests.reports.msgfile import build_msg

    reporting = "phish-report@contoso.test"
    notifier = stack.users[5]
    monkeypatch.setenv("TAP365_ADMIN_NOTIFY_FROM", notifier)
    monkeypatch.setenv("TAP365_FUNCTION_KEYS", "e2e-admin-key")
    reset_runtime()  # the host's runtime reads the settings again
    stack.sim.control("POST", "/users", json={"tenant": stack.tenant_id, "userPrincipalName": reporting})
    import function_app

    function_app.users_delta._function.get_user_function()(None)  # the new mailbox is subscribed
    wait_for(lambda: any(s.mailbox == reporting for s in Runtime.create().stores.subscriptions.list_subscriptions(
        stack.tenant_id)), what="the reporting mailbox subscribed")

    sender, subject, lure_id = "billing@evil-invoices.example", "Invoice 5520 overdue", "lure-host@evil-invoices.example"
    six = stack.users[:6]

    def lure(to: str) -> bytes:
        return (f"From: Billing <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{lure_id}>\r\n"
                "Content-Type: text/plain\r\n\r\nThe invoice is attached to your account page.\r\n").encode()

    with tenant_policy(stack, {"reports": {"mailbox": reporting}}):
        for person in six:
            stack.sim.deliver(person, lure(person))
        for person in six:
            wait_for(lambda p=person: journal_done(stack, p, f"<{lure_id}>"), what=f"the lure for {person}")
            assert find_message(stack, person, f"<{lure_id}>")[0]["displayName"] == "Inbox", person

    def report(reporter: str, title: str, *, attached: bytes | None = None, msg: bytes | None = None,
               text: str = "Reported from Outlook.") -> None:
        from email import message_from_bytes, policy

        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = reporter, reporting, title
        m["Message-ID"] = f"<report-{reporter.split('@')[0]}@contoso.test>"
        m.set_content(text)
        if attached is not None:
            m.add_attachment(message_from_bytes(attached, policy=policy.default))
        if msg is not None:
            m.add_attachment(msg, maintype="application", subtype="vnd.ms-outlook", filename="Invoice.msg")
        stack.sim.deliver(reporting, m.as_bytes())

    headers = (f"From: Billing <{sender}>\r\nTo: {six[1]}\r\nSubject: {subject}\r\n"
               f"Message-ID: <{lure_id}>\r\nDate: Mon, 7 Dec 2026 09:00:00 +0000\r\n")
    forward = (f"FYI\n\n-----Original Message-----\nFrom: Billing <{sender}>\nSent: Monday, December 7, 2026 "
               f"9:00 AM\nTo: {six[2]}\nSubject: {subject}\n\nThe invoice is attached to your account page.\n")
    with tenant_policy(stack, {"reports": {"mailbox": reporting}, "blocked_senders": ["evil-invoices.example"]}):
        report(six[0], f"Phishing: {subject}", attached=lure(six[0]))
        report(six[1], "Suspicious", msg=build_msg(subject=subject, headers=headers, body="The invoice."))
        report(six[2], f"FW: {subject}", text=forward)
        for person in six[:3]:
            wait_for(lambda p=person: journal_done(stack, reporting, f"<report-{p.split('@')[0]}@contoso.test>"),
                     timeout=120, what=f"the report of {person}")
        store = Runtime.create().stores
        [entry] = store.reports.list(stack.tenant_id)
        assert entry.count == 3 and entry.outcome == "confirmed", entry
        assert {r.address for r in entry.reporters} == set(six[:3])
        for person in six[:3]:
            answers = wait_for(lambda p=person: [m for f in stack.sim.mailbox(p)["folders"] for m in f["messages"]
                                                 if str(m.get("subject", "")).startswith("Your report:")],
                               what=f"the answer to {person}")
            assert [a["subject"] for a in answers] == ["Your report: Phishing confirmed"], person
        for person in six:
            assert find_message(stack, person, f"<{lure_id}>")[0]["displayName"] == "Quarantine", person

        # The admin asks for the copies back, through the admin API of the host.
        r = requests.post(f"{stack.functions_url}/api/manage/tenants/{stack.tenant_id}/campaigns/release",
                          params={"message_id": f"<{lure_id}>"}, headers={"x-functions-key": "e2e-admin-key"},
                          timeout=120)
        assert r.status_code == 200, r.text
        assert len(r.json()["released"]) == 6, r.json()
        for person in six:
            assert find_message(stack, person, f"<{lure_id}>")[0]["displayName"] == "Inbox", person

    since = datetime.now(UTC) - timedelta(hours=1)
    audit = store.audit.list_audit(stack.tenant_id, since, 500)
    actions = [a.action for a in audit if lure_id in a.target or "report" in a.action or a.action.startswith("campaign")
               or a.action == "released"]
    assert actions.count("report") == 3
    assert actions.count("campaign_purge") == 6 and actions.count("released") >= 6
    assert "campaign_released" in actions
    reset_runtime()  # the next test's runtime without this test's settings
