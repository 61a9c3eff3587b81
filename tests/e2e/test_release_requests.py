"""Daily digests and release requests through the real processor (Azurite, the simulated tenant
over HTTPS): a held message is listed in its person's digest with a working signed link; the
link's request reaches the admin, whose approval puts the message back in the Inbox and mails
the person; denial mails the person; forged, altered, expired and foreign links are refused;
people may release SUSPICIOUS mail themselves when the policy says so, never MALICIOUS; one
digest per person and day across reruns and instances."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.service.digests import send_digests
from connectors.service.processing import MessageProcessor, Outcome
from connectors.service.release_requests import (
    Asker,
    ReleaseRequests,
    RequestRefused,
    sign_link,
)
from connectors.storage.interfaces import QuarantineStatus, Tenant
from connectors.storage.release_requests import RequestStatus
from tests.e2e.processor_harness import ADELE, MOVE, SEND, Service, mail

NOTIFIER = "alex.wilber@contoso.test"
ADMIN = Asker("it-admin@contoso.test", "", True)
BAD_LINK = "https://bad-parcel.example/label"


@pytest.fixture
def svc(service_factory: Callable[..., Service], tmp_path: Path) -> Service:
    feed = tmp_path / "feed.txt"
    feed.write_text(f"{BAD_LINK}\n")  # mail linking there is MALICIOUS (quarantined)
    service = service_factory(admin_notify_from=NOTIFIER, intel_feeds=str(feed), hold_recheck_minutes=60)
    service.runtime.stores.tenants.put_tenant(Tenant(service.tenant_id, "Contoso", datetime.now(UTC)))
    # Notices of each hold are another feature (tests/e2e/test_holds.py): off, so mails here are ours.
    service.put_policy({"notices": {"recipient_on_hold": False}})
    return service


def _admin(service: Service) -> Asker:
    return Asker(ADMIN.upn, service.tenant_id, True)


def _adele(service: Service) -> Asker:
    return Asker(ADELE, service.tenant_id, False)


def _process(service: Service, message_id: str) -> Outcome:
    return service.run(MessageProcessor(service.runtime).process(service.tenant_id, ADELE, message_id))


def _suspicious(service: Service, name: str, *, sender: str = "Shipping <noreply@parcel-notice.example>",
                extra: str = "") -> str:
    """A delivery lure held on its score (SUSPICIOUS); its immutable id."""
    delivered = service.deliver(mail(
        f"{name}@parcel-notice.example", sender=sender,
        subject=f"Delivery failed - print your label <b>{name}</b>{extra}",
        html=f'<p>Delivery failed. Download your label: <a href="http://127.0.0.1:9/label/{name}">label</a></p>',
    ))
    outcome = _process(service, delivered["immutableId"])
    assert outcome.action == "hold", outcome
    return str(delivered["immutableId"])


def _malicious(service: Service, name: str) -> str:
    delivered = service.deliver(mail(
        f"{name}@bad-parcel.example", sender="Shipping <noreply@bad-parcel.example>",
        subject="Your parcel", html=f'<p>Label: <a href="{BAD_LINK}">label</a></p>',
    ))
    outcome = _process(service, delivered["immutableId"])
    assert outcome.action == "quarantine", outcome
    return str(delivered["immutableId"])


def _mails(service: Service, subject_part: str, upn: str = ADELE) -> list[dict[str, object]]:
    return [m for folder in service.sim.mailbox(upn)["folders"] for m in folder["messages"]
            if subject_part in str(m.get("subject", ""))]


def _tokens(digest: dict[str, object]) -> list[str]:
    """The request links' tokens, read from the digest's HTML as a mail client would."""
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', str(digest["body"]))]
    assert hrefs and all(urlsplit(h).path == "/api/console/request" for h in hrefs), hrefs
    return [parse_qs(urlsplit(h).query)["t"][0] for h in hrefs]


def _folder(service: Service, message_id: str) -> str:
    for folder in service.sim.mailbox(ADELE)["folders"]:
        if any(m.get("id") == message_id or m.get("immutableId") == message_id for m in folder["messages"]):
            return str(folder["displayName"])
    raise AssertionError(f"{message_id} in no folder")


def test_digest_link_request_approved_releases_once_and_tells_the_person(
    svc: Service, service_factory: Callable[..., Service]
) -> None:
    held = _suspicious(svc, "p1")
    sends = svc.route(SEND)
    run = svc.run(send_digests(svc.runtime))
    assert (run.sent, run.already) == (1, 0)
    [digest] = _mails(svc, "held in the last day")
    body = str(digest["body"])
    # Text escaped, nothing links to the message or its content: only the request link.
    assert "&lt;b&gt;p1&lt;/b&gt;" in body and "<b>p1</b>" not in body
    assert "127.0.0.1:9/label" not in body
    [token] = _tokens(digest)
    # The link names neither the person nor the message (encrypted): a link carrying its reader's
    # address is a phishing kit's mark.
    assert ADELE not in token and held not in token and "adele" not in token.lower()
    # The service knows its own notice and leaves it as it is.
    assert _process(svc, str(digest["immutableId"])).detail == "the service's own notice"

    # A rerun, and a second instance (its own runtime on the same storage), send nothing more.
    assert svc.run(send_digests(svc.runtime)).already == 1
    other = service_factory(admin_notify_from=NOTIFIER)
    assert other.run(send_digests(other.runtime)).sent == 0
    assert svc.route(SEND) - sends == 1
    assert svc.runtime.stores.requests.digest(svc.tenant_id, ADELE, datetime.now(UTC).date()) == (held,)

    requests = ReleaseRequests(svc.runtime)
    view = requests.open_link(_adele(svc), token)
    assert view.entry.message_id == held and view.verdict == "suspicious" and not view.self_release
    first = svc.run(requests.submit(_adele(svc), token, "I expect this parcel"))
    assert first.created and first.request.status is RequestStatus.PENDING and not first.released
    again = svc.run(requests.submit(_adele(svc), token, "again"))
    assert not again.created and again.request.reason == "I expect this parcel"
    [pending] = requests.pending(_admin(svc), 50)
    assert pending.message_id == held and pending.requested_by == ADELE
    assert _folder(svc, held) == "Hold"

    moves, sends = svc.route(MOVE), svc.route(SEND)
    outcome = svc.run(requests.approve(_admin(svc), ADELE, held))
    assert outcome.released and outcome.request.status is RequestStatus.APPROVED
    assert _folder(svc, held) == "Inbox"
    entry = svc.runtime.stores.quarantine.get(svc.tenant_id, ADELE, held)
    assert entry is not None and entry.status is QuarantineStatus.RELEASED and entry.updated_by == ADMIN.upn
    assert len(_mails(svc, "your release request was approved")) == 1
    # A second approval (another admin, a double click) does nothing.
    with pytest.raises(RequestRefused) as refused:
        svc.run(requests.approve(_admin(svc), ADELE, held))
    assert refused.value.status == 409 and ADMIN.upn in refused.value.detail
    assert (svc.route(MOVE) - moves, svc.route(SEND) - sends) == (1, 1)
    assert requests.pending(_admin(svc), 50) == []

    since = datetime.now(UTC) - timedelta(hours=1)
    audit = [(a.actor, a.action) for a in svc.runtime.stores.audit.list_audit(svc.tenant_id, since)]
    assert (ADELE, "release_requested") in audit
    assert (ADMIN.upn, "released") in audit and (ADMIN.upn, "release_request_approved") in audit
    assert audit.count((ADELE, "release_requested")) == 1

    # Next day: nothing new was held in its last 24 hours, so no digest at all.
    tomorrow = datetime.now(UTC) + timedelta(days=1, minutes=1)
    assert svc.run(send_digests(svc.runtime, now=tomorrow)).sent == 0


def test_denied_request_mails_the_person_the_reason_and_keeps_the_message(svc: Service) -> None:
    held = _suspicious(svc, "p2")
    token = sign_link(svc.runtime.codec.keyring, svc.tenant_id, ADELE, held, datetime.now(UTC) + timedelta(days=7))
    requests = ReleaseRequests(svc.runtime)
    svc.run(requests.submit(_adele(svc), token))
    with pytest.raises(RequestRefused) as no_reason:
        svc.run(requests.deny(_admin(svc), ADELE, held, "  "))
    assert no_reason.value.status == 400
    analyst = Asker("analyst@contoso.test", svc.tenant_id, False)
    with pytest.raises(RequestRefused) as not_admin:
        svc.run(requests.deny(analyst, ADELE, held, "no"))
    assert not_admin.value.status == 403
    outcome = svc.run(requests.deny(_admin(svc), ADELE, held, "A known <phish> campaign"))
    assert outcome.request.status is RequestStatus.DENIED and not outcome.released
    [told] = _mails(svc, "your release request was denied")
    assert "A known &lt;phish&gt; campaign" in str(told["body"])
    assert _folder(svc, held) == "Hold"
    with pytest.raises(RequestRefused) as approve_after:
        svc.run(requests.approve(_admin(svc), ADELE, held))
    assert approve_after.value.status == 409
    # Asking again finds the decided request: no new one, nothing released.
    again = svc.run(requests.submit(_adele(svc), token))
    assert not again.created and again.request.status is RequestStatus.DENIED


def test_forged_altered_expired_and_foreign_links_are_refused(svc: Service) -> None:
    held = _suspicious(svc, "p3")
    keyring = svc.runtime.codec.keyring
    now = datetime.now(UTC)
    good = sign_link(keyring, svc.tenant_id, ADELE, held, now + timedelta(days=7))
    requests = ReleaseRequests(svc.runtime)
    assert requests.open_link(_adele(svc), good).entry.message_id == held

    kid, payload, mac = good.split(".")
    other_msg = sign_link(keyring, svc.tenant_id, ADELE, "another-id", now + timedelta(days=7)).split(".")[1]
    from tap_core.urls.links import LinkKeyring

    stranger = LinkKeyring({kid: b"k" * 32}, kid)  # same key id, another key
    forged = [
        "", "garbage", "a.b.c", f"{kid}.{other_msg}.{mac}",  # payload swapped under the old MAC
        f"{kid}.{payload}.{mac[:-2]}AA", f"{kid}.{payload}", "x" * 5000, f"{kid}.{payload}.{mac}!",
        f"{kid}.{payload}!.{mac}", f"{kid}.{payload}.{mac[:10]}*{mac[10:]}",
        sign_link(stranger, svc.tenant_id, ADELE, held, now + timedelta(days=7)),
    ]
    for token in forged:
        with pytest.raises(RequestRefused) as refused:
            requests.open_link(_adele(svc), token)
        assert refused.value.status == 400, token[:40]
    expired = sign_link(keyring, svc.tenant_id, ADELE, held, now - timedelta(seconds=1))
    with pytest.raises(RequestRefused) as late:
        svc.run(requests.submit(_adele(svc), expired))
    assert late.value.status == 410 and "expired" in late.value.detail
    with pytest.raises(RequestRefused):
        requests.open_link(_adele(svc), good, now=now + timedelta(days=7, seconds=1))
    # Someone else of the tenant, or anyone of another tenant (even an admin), is refused.
    with pytest.raises(RequestRefused) as other_person:
        requests.open_link(Asker("megan.bowen@contoso.test", svc.tenant_id, False), good)
    assert other_person.value.status == 403
    with pytest.raises(RequestRefused) as other_tenant:
        requests.open_link(Asker(ADELE, "00000000-0000-0000-0000-0000000000ff", True), good)
    assert other_tenant.value.status == 403
    assert svc.runtime.stores.requests.list(svc.tenant_id) == []


def test_self_release_of_suspicious_mail_when_the_policy_allows_never_of_malicious(svc: Service) -> None:
    svc.put_policy({"notices": {"recipient_on_hold": False, "self_release_suspicious": True}})
    suspicious, malicious = _suspicious(svc, "p4"), _malicious(svc, "m1")
    run = svc.run(send_digests(svc.runtime))
    assert run.sent == 1
    [digest] = _mails(svc, "held in the last day")
    tokens = _tokens(digest)
    assert len(tokens) == 2  # quarantined mail is listed too: an admin may release it
    requests = ReleaseRequests(svc.runtime)
    by_id = {requests.open_link(_adele(svc), t).entry.message_id: t for t in tokens}

    view = requests.open_link(_adele(svc), by_id[suspicious])
    assert view.self_release
    outcome = svc.run(requests.submit(_adele(svc), by_id[suspicious], "mine"))
    assert outcome.released and outcome.request.status is RequestStatus.SELF_RELEASED
    assert _folder(svc, suspicious) == "Inbox"

    bad = requests.open_link(_adele(svc), by_id[malicious])
    assert bad.verdict == "malicious" and not bad.self_release
    outcome = svc.run(requests.submit(_adele(svc), by_id[malicious], "mine too"))
    assert not outcome.released and outcome.request.status is RequestStatus.PENDING
    assert _folder(svc, malicious) == "Quarantine"
    assert [r.message_id for r in requests.pending(_admin(svc), 50)] == [malicious]


def test_no_digest_when_the_policy_turns_it_off_or_nothing_was_held(svc: Service) -> None:
    svc.put_policy({"notices": {"recipient_on_hold": False, "daily_digest": False}})
    _suspicious(svc, "p5")
    run = svc.run(send_digests(svc.runtime))
    assert run.sent == 0 and run.tenants_off == [svc.tenant_id]
    assert _mails(svc, "held in the last day") == []
    svc.put_policy({"notices": {"recipient_on_hold": False}})
    later = datetime.now(UTC) + timedelta(hours=25)
    assert svc.run(send_digests(svc.runtime, now=later)).sent == 0  # held more than a day ago


def test_digest_lists_at_most_the_policy_s_number_and_says_how_many_more(svc: Service) -> None:
    svc.put_policy({"notices": {"recipient_on_hold": False, "digest_max_messages": 1}})
    _suspicious(svc, "p6")
    _suspicious(svc, "p7")
    assert svc.run(send_digests(svc.runtime)).sent == 1
    [digest] = _mails(svc, "held in the last day")
    assert len(_tokens(digest)) == 1 and "And 1 more message(s)" in str(digest["body"])
    assert "2 message(s)" in str(digest["subject"])


def test_tap365_digests_sends_today_s_digests_once(
    svc: Service, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from connectors.cli import main

    _suspicious(svc, "p8")
    graph, storage = svc.runtime.graph_settings, svc.runtime.stores.config
    assert storage.connection_string is not None
    for name, value in {
        "TAP365_GRAPH_AUTHORITY_HOST": graph.authority_host, "TAP365_GRAPH_BASE_URL": graph.base_url,
        "TAP365_GRAPH_CLIENT_ID": graph.client_id, "TAP365_GRAPH_CLIENT_SECRET": graph.client_secret,
        "TAP365_GRAPH_CA_BUNDLE": graph.ca_bundle, "TAP365_GRAPH_RETRY_DELAY": "0",
        "TAP365_STORAGE_CONNECTION_STRING": storage.connection_string.get_secret_value(),
        "TAP365_STORAGE_PREFIX": storage.prefix, "TAP365_STATE_DIR": str(svc.runtime.settings.state_dir),
        "TAP365_INTEL_FEEDS": "",
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("TAP365_ADMIN_NOTIFY_FROM", raising=False)
    assert main(["digests"]) == 2  # nothing to send from: said, not guessed
    assert "TAP365_ADMIN_NOTIFY_FROM" in capsys.readouterr().err
    monkeypatch.setenv("TAP365_ADMIN_NOTIFY_FROM", NOTIFIER)
    assert main(["digests"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sent"] == 1
    assert main(["digests"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {
        "sent": 0, "already": 1, "failed": 0, "tenants_off": []}
    assert len(_mails(svc, "held in the last day")) == 1


LURE_SUBJECTS = (
    "Your mailbox is full - verify your account now", "Payment failed: update your billing details",
    "Your password expires today", "Invoice 4471 is overdue - pay now", "Delivery failed, reschedule your parcel",
    "Unusual sign-in activity on your account", "Shared document: Q3 bonus", "Action required: confirm your identity",
)


def test_a_digest_of_lures_reaches_its_reader_untouched_by_our_own_pipeline(svc: Service) -> None:
    from connectors.storage.interfaces import QuarantineEntry

    for n, subject in enumerate(LURE_SUBJECTS):  # what the pipeline holds on a bad day, as it records it
        svc.runtime.stores.quarantine.put(QuarantineEntry(
            svc.tenant_id, ADELE, f"lure-{n}", "hold-folder", "inbox", "held: credential_lure_text",
            datetime.now(UTC), QuarantineStatus.HELD, subject, f"noreply@lure{n}.example",
        ))
    assert svc.run(send_digests(svc.runtime)).sent == 1
    [digest] = _mails(svc, "held in the last day")
    outcome = _process(svc, str(digest["immutableId"]))
    assert (outcome.status, outcome.detail) == ("skipped", "the service's own notice"), outcome
    folder, _ = svc.folder_of(str(digest["internetMessageId"]))
    assert folder == "Inbox"
    # Its header verifies for that subject only: a copy on another message from the same sender
    # (a spoof, or a later message of the notifier) is analysed like any mail.
    header = _notice_header(svc, digest)
    raw = mail("copied-header@contoso.test", sender=f"TAP365 <{NOTIFIER}>", subject="Verify your account now",
               html=f'<p>Sign in: <a href="{BAD_LINK}">here</a></p>')
    raw = raw.replace(b"Subject:", f"X-TAP365-Notice: {header}\nSubject:".encode(), 1)
    spoof = svc.deliver(raw)
    assert _process(svc, str(spoof["immutableId"])).status == "processed"
    assert svc.folder_of("<copied-header@contoso.test>")[0] == "Quarantine"


def _notice_header(svc: Service, digest: dict[str, object]) -> str:
    """The digest's X-TAP365-Notice as the service reads the message from Graph."""
    fetched = svc.run(svc.runtime.graph.fetch_message(svc.tenant_id, ADELE, str(digest["immutableId"])))
    value = fetched.message.header("X-TAP365-Notice")
    assert value, "the digest carries no X-TAP365-Notice header"
    return value


def test_our_own_held_notices_are_not_listed_in_the_next_digest(svc: Service) -> None:
    from connectors.storage.interfaces import QuarantineEntry

    svc.runtime.stores.quarantine.put(QuarantineEntry(
        svc.tenant_id, ADELE, "yesterdays-digest", "hold-folder", "inbox", "held: credential_lure_text",
        datetime.now(UTC), QuarantineStatus.HELD, "TAP365: 8 message(s) for you held in the last day", NOTIFIER.upper(),
    ))
    assert svc.run(send_digests(svc.runtime)).sent == 0
    _suspicious(svc, "p9")
    assert svc.run(send_digests(svc.runtime, now=datetime.now(UTC) + timedelta(minutes=1))).sent == 1
    [digest] = _mails(svc, "held in the last day")
    assert len(_tokens(digest)) == 1 and "8 message(s)" not in str(digest["body"])
