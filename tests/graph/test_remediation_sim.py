"""Remediation primitives against m365sim, with the Graph request count of each step."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.graph import GraphApp, Remediator, fetch_message
from connectors.graph.config import GraphSettings
from connectors.graph.remediation import MemoryFolderCache
from m365sim.testing import SimHandle

from .conftest import ADELE, graph_requests, mail, make_settings, run

# msgraph-sdk's generated request builders warn about their own deprecated classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph")


def _sim_message(sim: SimHandle, immutable_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for folder in sim.mailbox(ADELE)["folders"]:
        for message in folder["messages"]:
            if message["immutableId"] == immutable_id:
                return folder, message
    raise AssertionError("message not found in any folder")


def test_fetch_rewrite_quarantine_release_counts(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    delivered = sim.deliver(ADELE, mail())
    msg_id = delivered["immutableId"]
    counts: dict[str, int] = {}

    async def go() -> None:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            rem = Remediator(graph, MemoryFolderCache())
            await graph.access_token()
            mark = graph_requests(sim)

            def step(name: str) -> None:
                nonlocal mark
                now = graph_requests(sim)
                counts[name] = now - mark
                mark = now

            fetched = await fetch_message(graph, ADELE, msg_id)
            step("fetch")
            html = (fetched.message.html_body or "").replace(
                "https://evil.test/login", "https://r.test/1.x?u"
            )
            outcome = await rem.patch_body(ADELE, msg_id, html)
            step("rewrite")
            assert outcome.applied and outcome.state is not None
            assert outcome.state.message_id == msg_id
            folders = await rem.ensure_folders(ADELE)
            step("ensure_folders_first_time")
            assert await rem.ensure_folders(ADELE) == folders
            step("ensure_folders_cached")
            state = await rem.quarantine(ADELE, msg_id, fetched.folder_id)
            step("quarantine")
            assert state.message_id == msg_id  # immutable id survives the move
            assert state.folder_id == folders.quarantine
            again = await rem.quarantine(ADELE, msg_id, state.folder_id)
            step("quarantine_again")
            assert again.folder_id == folders.quarantine
            released = await rem.release(ADELE, msg_id, fetched.folder_id, state.folder_id)
            step("release")
            assert released.folder_id == fetched.folder_id

    run(go())
    print("\nGraph requests per step (m365sim /_sim/stats):", counts)
    assert counts == {
        "fetch": 1,
        "rewrite": 1,
        "ensure_folders_first_time": 3,  # one listing (hidden included), two creations
        "ensure_folders_cached": 0,
        "quarantine": 1,
        "quarantine_again": 0,
        "release": 1,
    }
    folder, message = _sim_message(sim, msg_id)
    assert folder["wellKnownName"] == "inbox"
    assert "https://r.test/1.x?u" in message["body"]
    hidden = {f["displayName"]: f["isHidden"] for f in sim.mailbox(ADELE)["folders"]}
    assert hidden["Quarantine"] is True and hidden["Hold"] is True


def test_ensure_folders_finds_existing_hidden_folders(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    async def go() -> tuple[Any, Any]:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            first = await Remediator(graph).ensure_folders(ADELE)
            # A new worker with an empty cache must find them, not create duplicates.
            second = await Remediator(graph).ensure_folders(ADELE)
            return first, second

    first, second = run(go())
    assert first == second
    names = [f["displayName"] for f in sim.mailbox(ADELE)["folders"]]
    assert names.count("Quarantine") == 1 and names.count("Hold") == 1


def test_hold_then_quarantine(sim: SimHandle, settings: GraphSettings, tenant_id: str) -> None:
    msg_id = sim.deliver(ADELE, mail("Held"))["immutableId"]

    async def go() -> None:
        async with GraphApp(settings) as app:
            rem = Remediator(app.tenant(tenant_id))
            held = await rem.hold(ADELE, msg_id)
            folders = await rem.ensure_folders(ADELE)
            assert held.folder_id == folders.hold
            final = await rem.quarantine(ADELE, msg_id, held.folder_id)
            assert final.folder_id == folders.quarantine
            assert _sim_message(sim, msg_id)[0]["displayName"] == "Quarantine"
            back = await rem.release(ADELE, msg_id)  # no original folder known: the inbox
            assert back.message_id == msg_id

    run(go())
    folder, _ = _sim_message(sim, msg_id)
    assert folder["wellKnownName"] == "inbox"


def test_add_categories_merges_without_duplicates(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    msg_id = sim.deliver(ADELE, mail("Tag me"))["immutableId"]
    used: list[int] = []

    async def go() -> None:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            rem = Remediator(graph)
            await rem.add_categories(ADELE, msg_id, ["Red category"])
            fetched = await fetch_message(graph, ADELE, msg_id)
            before = graph_requests(sim)
            state = await rem.add_categories(
                ADELE, msg_id, ["TAP: suspicious", "Red category"], existing=fetched.raw["categories"]
            )
            used.append(graph_requests(sim) - before)
            assert state.categories == ["Red category", "TAP: suspicious"]
            again = await rem.add_categories(ADELE, msg_id, ["TAP: suspicious"])
            assert again.categories == ["Red category", "TAP: suspicious"]

    run(go())
    assert used == [1]
    _, message = _sim_message(sim, msg_id)
    assert message["categories"] == ["Red category", "TAP: suspicious"]


def test_body_patch_refused_without_mail_advanced(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    delivered = sim.deliver(ADELE, mail("No advanced"))
    msg_id = delivered["immutableId"]
    original = _sim_message(sim, msg_id)[1]["body"]
    sim.grant(["Mail.ReadWrite", "User.Read.All", "Mail.Send"])

    async def go() -> Any:
        async with GraphApp(settings) as app:  # a fresh app: a fresh token with the new roles
            rem = Remediator(app.tenant(tenant_id))
            outcome = await rem.patch_body(ADELE, msg_id, "<p>rewritten</p>")
            # The fallback still works: tag and hold need no body edit.
            state = await rem.add_categories(ADELE, msg_id, ["TAP: links not rewritten"])
            return outcome, state

    outcome, state = run(go())
    assert not outcome.applied
    assert outcome.reason == "mail_advanced_missing"
    assert "Mail-Advanced.ReadWrite" in outcome.detail
    assert state.categories == ["TAP: links not rewritten"]
    assert _sim_message(sim, msg_id)[1]["body"] == original


def test_send_admin_notice(sim: SimHandle, settings: GraphSettings, tenant_id: str) -> None:
    async def go() -> None:
        async with GraphApp(settings) as app:
            await Remediator(app.tenant(tenant_id)).send_mail(
                "it-admin@contoso.test", ["jane.doe@contoso.test"], "Quarantined", "<p>1 message</p>"
            )

    run(go())
    boxes = sim.mailbox("jane.doe@contoso.test")["folders"]
    subjects = [m["subject"] for f in boxes for m in f["messages"]]
    assert "Quarantined" in subjects


def test_quarantine_recovers_when_the_cached_folder_was_deleted(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    msg_id = sim.deliver(ADELE, mail("Deleted folder"))["immutableId"]

    async def go() -> None:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            rem = Remediator(graph)
            old = await rem.ensure_folders(ADELE)
            await graph.request("DELETE", f"/users/{ADELE}/mailFolders/{old.quarantine}")
            state = await rem.quarantine(ADELE, msg_id)
            new = await rem.ensure_folders(ADELE)
            assert new.quarantine != old.quarantine and state.folder_id == new.quarantine

    run(go())
    assert _sim_message(sim, msg_id)[0]["displayName"] == "Quarantine"


def test_body_patch_outside_rbac_scope_is_not_blamed_on_the_permission(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    msg_id = sim.deliver(ADELE, mail("Out of scope"))["immutableId"]
    perms = ["Mail.ReadWrite", "Mail-Advanced.ReadWrite", "User.Read.All", "Mail.Send"]
    sim.grant(perms, mailboxes=["jane.doe@contoso.test"])

    async def go() -> Any:
        async with GraphApp(settings) as app:
            return await Remediator(app.tenant(tenant_id)).patch_body(ADELE, msg_id, "<p>x</p>")

    outcome = run(go())
    assert not outcome.applied and outcome.reason == "access_denied"
    assert "RBAC" in outcome.detail


def test_concurrent_workers_create_each_folder_once(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    import asyncio

    async def go() -> list[Any]:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            # Both list (nothing yet), both create: the loser gets 409 ErrorFolderExists and
            # finds the winner's folder.
            return list(await asyncio.gather(*(Remediator(graph).ensure_folders(ADELE) for _ in range(3))))

    results = run(go())
    assert results[0] == results[1] == results[2]
    names = [f["displayName"] for f in sim.mailbox(ADELE)["folders"]]
    assert names.count("Quarantine") == 1 and names.count("Hold") == 1
    assert sim.stats()["requests"]["by_status"].get("409", 0) >= 1


def test_empty_attachments_cost_no_extra_request(sim: SimHandle) -> None:
    """An empty file attachment comes with contentBytes "" and needs no /$value download."""
    raw = (
        b"From: a@b.test\r\nTo: adele.vance@contoso.test\r\nSubject: empty\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
        b'--B\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename="a.png"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n\r\n--B--\r\n"
    )
    delivered = sim.deliver(ADELE, raw)

    async def fetch() -> int:
        async with GraphApp(make_settings(sim)) as app:
            fetched = await app.fetch_message(sim.tenant(0)["id"], ADELE, delivered["immutableId"])
            return fetched.requests

    assert run(fetch()) == 1


def test_replace_attachment_add_first_then_delete(
    sim: SimHandle, settings: GraphSettings, tenant_id: str
) -> None:
    """The Safe File primitives: add the copy (one POST), then delete the original (one DELETE);
    a repeated delete is no error and costs one request; a file over 3 MB goes through an upload
    session (one POST, one PUT per 3.125 MiB range) and one over 150 MB is refused unsent."""
    from connectors.graph.remediation import MAX_UPLOAD_SESSION_BYTES, AttachmentTooLarge

    msg_id = sim.deliver(ADELE, mail(subject="Attachment swap"))["immutableId"]
    counts: dict[str, int] = {}

    async def go() -> None:
        async with GraphApp(settings) as app:
            graph = app.tenant(tenant_id)
            rem = Remediator(graph, MemoryFolderCache())
            await graph.access_token()
            fetched = await fetch_message(graph, ADELE, msg_id)
            original = fetched.raw["attachments"][0]
            mark = graph_requests(sim)
            new_id = await rem.add_file_attachment(
                ADELE, msg_id, "r0.pdf.pdf", b"%PDF-1.4 copy", "application/pdf"
            )
            counts["add"] = graph_requests(sim) - mark
            mark = graph_requests(sim)
            assert await rem.delete_attachment(ADELE, msg_id, str(original["id"])) is True
            counts["delete"] = graph_requests(sim) - mark
            assert await rem.delete_attachment(ADELE, msg_id, str(original["id"])) is False
            after = await fetch_message(graph, ADELE, msg_id)
            names = {a["name"]: a for a in after.raw["attachments"]}
            assert set(names) == {"r0.pdf.pdf"} and names["r0.pdf.pdf"]["id"] == new_id
            assert after.message.attachments[0].data == b"%PDF-1.4 copy"
            assert after.change_key != fetched.change_key
            large = bytes(range(256)) * (16 * 1024 + 1)  # 4 MiB + 256 bytes: two ranges
            mark, puts = graph_requests(sim), _upload_puts(sim)
            large_id = await rem.add_file_attachment(ADELE, msg_id, "scan.pdf.pdf", large, "application/pdf")
            counts["add_large"] = graph_requests(sim) - mark  # the sim's total counts the PUTs too
            assert _upload_puts(sim) - puts == 2
            again = await fetch_message(graph, ADELE, msg_id)
            by_id = {a["id"]: a for a in again.raw["attachments"]}
            assert by_id[large_id]["name"] == "scan.pdf.pdf" and by_id[large_id]["size"] == len(large)
            assert next(a.data for a in again.message.attachments if a.name == "scan.pdf.pdf") == large
            mark = graph_requests(sim)
            with pytest.raises(AttachmentTooLarge):
                await rem.add_file_attachment(ADELE, msg_id, "huge.pdf", bytes(MAX_UPLOAD_SESSION_BYTES + 1))
            assert graph_requests(sim) == mark  # refused before any request
            from connectors.graph.errors import GraphApiError

            with pytest.raises(GraphApiError) as missing:
                await rem.add_file_attachment(ADELE, "A" * 120, "x.pdf", b"%PDF")
            assert missing.value.status == 404

    run(go())
    assert counts == {"add": 1, "delete": 1, "add_large": 3}


def _upload_puts(sim: SimHandle) -> int:
    """PUTs to upload URLs (on Outlook's host in Graph, on the sim's own host here)."""
    return int(sim.stats()["requests"]["by_route"].get("PUT /api/v2.0/AttachmentSessions/{id}", 0))
