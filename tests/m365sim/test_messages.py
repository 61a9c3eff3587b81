"""Graph message reads and writes, with the rules Graph applies (and the ones it is strict about)."""

from __future__ import annotations

import base64
import email
from email import policy

from m365sim.testing import SimHandle

from .conftest import ADELE, BOB, IMMUTABLE, PDF, sample_mail


def _deliver(sim: SimHandle, **kwargs: object) -> dict:
    return sim.deliver(ADELE, sample_mail(**kwargs))  # type: ignore[arg-type]


def test_get_message_shape_and_headers_only_with_select(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim)
    response = sim.graph("GET", f"/users/{ADELE}/messages/{delivered['id']}", token)
    assert response.status_code == 200
    assert response.headers["request-id"] and response.headers["client-request-id"]
    message = response.json()
    assert message["@odata.context"].endswith("/messages/$entity")
    assert message["id"] == delivered["id"] and len(message["id"]) > 100
    assert "internetMessageHeaders" not in message  # Graph returns it only when $select-ed
    assert message["subject"] == "Quarterly invoice"
    assert message["from"] == {"emailAddress": {"name": "Eve Attacker", "address": "eve@evil.test"}}
    assert message["sender"] == message["from"]
    assert message["replyTo"] == [
        {"emailAddress": {"name": "billing@evil.test", "address": "billing@evil.test"}}
    ]
    assert message["toRecipients"][0]["emailAddress"]["address"] == ADELE
    assert message["ccRecipients"][0]["emailAddress"]["name"] == "Alex Wilber"
    assert message["body"]["contentType"] == "html" and "evil.test/pay" in message["body"]["content"]
    assert message["bodyPreview"] == "Pay here"
    assert message["hasAttachments"] is True
    assert message["isRead"] is False and message["isDraft"] is False
    assert message["sentDateTime"] == "2026-01-05T09:30:00Z"
    assert message["internetMessageId"].endswith("@evil.test>")
    for key in (
        "createdDateTime",
        "receivedDateTime",
        "parentFolderId",
        "conversationId",
        "webLink",
        "changeKey",
    ):
        assert message[key]
    selected = sim.graph(
        "GET",
        f"/users/{ADELE}/messages/{delivered['id']}",
        token,
        params={"$select": "subject,internetMessageHeaders"},
    ).json()
    assert set(selected) == {"@odata.context", "@odata.etag", "id", "subject", "internetMessageHeaders"}
    names = [h["name"] for h in selected["internetMessageHeaders"]]
    assert "Authentication-Results" in names and "Message-ID" in names
    bad = sim.graph("GET", f"/users/{ADELE}/messages/{delivered['id']}", token, params={"$select": "nope"})
    assert bad.status_code == 400


def test_expand_attachments_and_values(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim, attach_eml=True, inline_image=True)
    path = f"/users/{ADELE}/messages/{delivered['id']}"
    message = sim.graph("GET", path, token, params={"$expand": "attachments"}).json()
    by_name = {a["name"]: a for a in message["attachments"]}
    pdf = by_name["invoice.pdf"]
    assert pdf["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert base64.b64decode(pdf["contentBytes"]) == PDF and pdf["size"] == len(PDF)
    assert pdf["contentType"] == "application/pdf" and pdf["isInline"] is False
    inline = [a for a in message["attachments"] if a["isInline"]]
    assert inline and inline[0]["contentId"] == "logo@evil.test"
    item = next(a for a in message["attachments"] if a["@odata.type"] == "#microsoft.graph.itemAttachment")
    assert "contentBytes" not in item
    raw_pdf = sim.graph("GET", f"{path}/attachments/{pdf['id']}/$value", token)
    assert raw_pdf.content == PDF
    raw_item = sim.graph("GET", f"{path}/attachments/{item['id']}/$value", token)
    assert email.message_from_bytes(raw_item.content)["Subject"] == "Forwarded original"
    expanded = sim.graph(
        "GET",
        f"{path}/attachments/{item['id']}",
        token,
        params={"$expand": "microsoft.graph.itemattachment/item"},
    ).json()
    assert expanded["item"]["subject"] == "Forwarded original"
    listed = sim.graph("GET", f"{path}/attachments", token).json()["value"]
    assert len(listed) == 3
    mime = sim.graph("GET", f"{path}/$value", token)
    assert mime.status_code == 200
    assert mime.headers["Content-Type"].startswith("message/rfc822")
    parsed = email.message_from_bytes(mime.content, policy=policy.default)
    assert parsed["Subject"] == "Quarterly invoice"


def test_value_is_the_delivered_mime(sim: SimHandle, token: str) -> None:
    raw = sample_mail(attach_pdf=False)
    delivered = sim.deliver(ADELE, raw)
    assert sim.graph("GET", f"/users/{ADELE}/messages/{delivered['id']}/$value", token).content == raw


def test_reference_attachment_shape(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim, attach_pdf=False)
    sim.control(
        "POST",
        f"/attach?user={ADELE}&id={delivered['immutableId']}",
        json={"name": "Budget.xlsx", "sourceUrl": "https://contoso.sharepoint.test/budget.xlsx"},
    )
    listed = sim.graph("GET", f"/users/{ADELE}/messages/{delivered['id']}/attachments", token).json()["value"]
    assert listed[0]["@odata.type"] == "#microsoft.graph.referenceAttachment"


def test_list_filter_top_paging(sim: SimHandle, token: str) -> None:
    for index in range(5):
        sim.deliver(ADELE, sample_mail(subject=f"m{index}"), received=f"2026-02-0{index + 1}T10:00:00Z")
    base = f"/users/{ADELE}/mailFolders/inbox/messages"
    page = sim.graph("GET", base, token, params={"$top": "2", "$select": "subject"}).json()
    assert [m["subject"] for m in page["value"]] == ["m4", "m3"]  # newest first
    assert "$skip=2" in page["@odata.nextLink"]
    seen = [m["subject"] for m in page["value"]]
    while "@odata.nextLink" in page:
        page = sim.session.get(page["@odata.nextLink"], headers={"Authorization": f"Bearer {token}"}).json()
        seen += [m["subject"] for m in page["value"]]
    assert seen == ["m4", "m3", "m2", "m1", "m0"]
    recent = sim.graph(
        "GET", base, token, params={"$filter": "receivedDateTime ge 2026-02-03T00:00:00Z"}
    ).json()["value"]
    assert sorted(m["subject"] for m in recent) == ["m2", "m3", "m4"]
    target = sim.mailbox(ADELE)["folders"][0]["messages"][0]
    sim.graph("PATCH", f"/users/{ADELE}/messages/{target['id']}", token, json={"isRead": True})
    unread = sim.graph("GET", base, token, params={"$filter": "isRead eq false"}).json()["value"]
    assert len(unread) == 4
    by_id = sim.graph(
        "GET",
        f"/users/{ADELE}/messages",
        token,
        params={"$filter": f"internetMessageId eq '{target['internetMessageId']}'"},
    ).json()["value"]
    assert [m["id"] for m in by_id] == [target["id"]]
    inefficient = sim.graph(
        "GET", base, token, params={"$filter": "isRead eq false", "$orderby": "receivedDateTime desc"}
    )
    assert inefficient.status_code == 400 and inefficient.json()["error"]["code"] == "InefficientFilter"
    ordered = sim.graph(
        "GET",
        base,
        token,
        params={
            "$filter": "receivedDateTime ge 2026-01-01T00:00:00Z and isRead eq false",
            "$orderby": "receivedDateTime asc",
        },
    ).json()["value"]
    assert ordered[0]["subject"] == "m0"
    quoted = sim.graph("GET", base, token, params={"$filter": "receivedDateTime ge '2026-01-01'"})
    assert quoted.status_code == 400


def test_patch_sensitive_properties_needs_mail_advanced(
    sim: SimHandle, token: str, legacy_token: str
) -> None:
    delivered = _deliver(sim)
    path = f"/users/{ADELE}/messages/{delivered['id']}"
    before = sim.graph("GET", path, token).json()
    refused = sim.graph(
        "PATCH",
        path,
        legacy_token,
        json={"categories": ["TAP: Suspicious"], "body": {"contentType": "html", "content": "<p>safe</p>"}},
    )
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "ErrorAccessDenied" and "Mail-Advanced.ReadWrite" in error["message"]
    after = sim.graph("GET", path, token).json()
    assert after == before  # nothing of that PATCH applied, not even the categories
    for prop in ({"subject": "x"}, {"toRecipients": []}, {"from": {"emailAddress": {"address": "a@b.test"}}}):
        assert sim.graph("PATCH", path, legacy_token, json=prop).status_code == 403
    allowed = sim.graph(
        "PATCH",
        path,
        legacy_token,
        json={"categories": ["TAP: Suspicious"], "isRead": True, "flag": {"flagStatus": "flagged"}},
    )
    assert allowed.status_code == 200
    assert allowed.json()["categories"] == ["TAP: Suspicious"] and allowed.json()["isRead"] is True
    assert allowed.json()["changeKey"] != before["changeKey"]


def test_patch_body_with_mail_advanced(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim)
    path = f"/users/{ADELE}/messages/{delivered['id']}"
    new_html = '<html><body><div class="tap-banner">Caution</div><p>Pay <a href="https://safe.test/r?u=x">here</a></p></body></html>'
    response = sim.graph("PATCH", path, token, json={"body": {"contentType": "HTML", "content": new_html}})
    assert response.status_code == 200
    assert response.json()["body"] == {"contentType": "html", "content": new_html}
    assert sim.mailbox(ADELE)["folders"][0]["messages"][0]["body"] == new_html
    mime = email.message_from_bytes(sim.graph("GET", f"{path}/$value", token).content, policy=policy.default)
    assert "tap-banner" in mime.get_body(("html",)).get_content()  # Exchange regenerates MIME on read


def test_sensitive_rule_can_be_switched_off_and_drafts_are_free(sim: SimHandle, legacy_token: str) -> None:
    draft = sim.graph(
        "POST",
        f"/users/{ADELE}/messages",
        legacy_token,
        json={"subject": "draft", "body": {"contentType": "text", "content": "hi"}},
    ).json()
    assert draft["isDraft"] is True
    assert (
        sim.graph(
            "PATCH", f"/users/{ADELE}/messages/{draft['id']}", legacy_token, json={"subject": "edited"}
        ).status_code
        == 200
    )
    delivered = _deliver(sim)
    sim.configure(enforce_sensitive_properties=False)
    assert (
        sim.graph(
            "PATCH", f"/users/{ADELE}/messages/{delivered['id']}", legacy_token, json={"subject": "x"}
        ).status_code
        == 200
    )


def test_patch_rejects_unknown_and_read_only_properties(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim)
    path = f"/users/{ADELE}/messages/{delivered['id']}"
    assert sim.graph("PATCH", path, token, json={"nonsense": 1}).json()["error"]["code"] == "RequestBodyRead"
    assert (
        sim.graph("PATCH", path, token, json={"receivedDateTime": "2020-01-01T00:00:00Z"}).status_code == 400
    )
    assert sim.graph("PATCH", path, token, json={"isRead": "yes"}).status_code == 400


def test_move_changes_rest_id_but_not_immutable_id(sim: SimHandle, token: str) -> None:
    first = _deliver(sim)
    moved = sim.graph(
        "POST", f"/users/{ADELE}/messages/{first['id']}/move", token, json={"destinationId": "archive"}
    )
    assert moved.status_code == 201
    new_id = moved.json()["id"]
    assert new_id != first["id"]
    assert (
        sim.graph("GET", f"/users/{ADELE}/messages/{first['id']}", token).json()["error"]["code"]
        == "ErrorItemNotFound"
    )
    assert sim.graph("GET", f"/users/{ADELE}/messages/{new_id}", token).status_code == 200

    second = _deliver(sim)
    immutable_id = second["immutableId"]
    got = sim.graph("GET", f"/users/{ADELE}/messages/{immutable_id}", token, headers=IMMUTABLE)
    assert got.json()["id"] == immutable_id and got.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    moved = sim.graph(
        "POST",
        f"/users/{ADELE}/messages/{immutable_id}/move",
        token,
        headers=IMMUTABLE,
        json={"destinationId": "junkemail"},
    ).json()
    assert moved["id"] == immutable_id
    junk = sim.graph("GET", f"/users/{ADELE}/mailFolders/junkemail", token).json()
    assert moved["parentFolderId"] == junk["id"]
    assert (
        sim.graph("GET", f"/users/{ADELE}/messages/{immutable_id}", token, headers=IMMUTABLE).status_code
        == 200
    )
    # Without the Prefer header an immutable id does not resolve (strict, as documented).
    assert sim.graph("GET", f"/users/{ADELE}/messages/{immutable_id}", token).status_code == 404


def test_copy_delete_and_permanent_delete(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim)
    copied = sim.graph(
        "POST", f"/users/{ADELE}/messages/{delivered['id']}/copy", token, json={"destinationId": "archive"}
    )
    assert copied.status_code == 201 and copied.json()["id"] != delivered["id"]
    assert sim.graph("DELETE", f"/users/{ADELE}/messages/{delivered['id']}", token).status_code == 204
    folders = {f["wellKnownName"]: f for f in sim.mailbox(ADELE)["folders"]}
    assert folders["inbox"]["messages"] == []
    in_deleted = folders["deleteditems"]["messages"]
    assert len(in_deleted) == 1  # Graph's DELETE moves to Deleted Items
    assert sim.graph("DELETE", f"/users/{ADELE}/messages/{in_deleted[0]['id']}", token).status_code == 204
    assert sim.mailbox(ADELE)["folders"][3]["messages"] == []
    copy_id = copied.json()["id"]
    assert sim.graph("POST", f"/users/{ADELE}/messages/{copy_id}/permanentDelete", token).status_code == 204
    assert sim.graph("GET", f"/users/{ADELE}/messages/{copy_id}", token).status_code == 404
    bad = sim.graph("POST", f"/users/{ADELE}/messages/{copy_id}/move", token, json={"destinationId": "x"})
    assert bad.status_code in (400, 404)


def test_tenant_isolation(sim: SimHandle, token: str) -> None:
    sim.deliver(BOB, sample_mail(to=BOB))
    fabrikam = sim.token(tenant="fabrikam.test")
    assert sim.graph("GET", f"/users/{BOB}/messages", fabrikam).json()["value"]
    for path in (
        f"/users/{BOB}/messages",
        f"/users/{sim.tenant('fabrikam.test')['users'][0]['id']}/messages",
    ):
        response = sim.graph("GET", path, token)
        assert response.status_code == 404 and response.json()["error"]["code"] == "ErrorInvalidUser"
    assert sim.graph("GET", f"/users/{ADELE}/messages", fabrikam).status_code == 404
    users = sim.graph("GET", "/users", fabrikam).json()["value"]
    assert {u["userPrincipalName"] for u in users} == {BOB, "carol.jones@fabrikam.test"}


def test_users_list_paging_and_get(sim: SimHandle, token: str) -> None:
    page = sim.graph("GET", "/users", token, params={"$top": "4", "$select": "id,userPrincipalName"}).json()
    assert len(page["value"]) == 4 and set(page["value"][0]) == {"id", "userPrincipalName"}
    rest = sim.session.get(page["@odata.nextLink"], headers={"Authorization": f"Bearer {token}"}).json()
    assert len(rest["value"]) == 2 and "@odata.nextLink" not in rest
    ceo = sim.graph("GET", "/users/jane.doe@contoso.test", token).json()
    assert ceo["displayName"] == "Jane Doe" and ceo["jobTitle"] == "Chief Executive Officer"
    assert (
        sim.graph("GET", f"/users/{ceo['id']}", token).json()["userPrincipalName"] == "jane.doe@contoso.test"
    )
    missing = sim.graph("GET", "/users/nobody@contoso.test", token)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_send_mail_saves_and_delivers_internally(sim: SimHandle, token: str) -> None:
    response = sim.graph(
        "POST",
        "/users/it-admin@contoso.test/sendMail",
        token,
        json={
            "message": {
                "subject": "Quarantine notice",
                "body": {"contentType": "HTML", "content": "<p>A message was quarantined.</p>"},
                "toRecipients": [
                    {"emailAddress": {"address": ADELE}},
                    {"emailAddress": {"address": "someone@external.test"}},
                ],
                "internetMessageHeaders": [{"name": "X-TAP-Notice", "value": "1"}],
            },
            "saveToSentItems": True,
        },
    )
    assert response.status_code == 202
    sent = {f["wellKnownName"]: f for f in sim.mailbox("it-admin@contoso.test")["folders"]}["sentitems"]
    assert sent["messages"][0]["subject"] == "Quarantine notice"
    inbox = sim.mailbox(ADELE)["folders"][0]["messages"]
    assert inbox[0]["subject"] == "Quarantine notice"
    assert sim.control("GET", "/outbox")[0]["to"] == "someone@external.test"
    headers = sim.graph(
        "GET",
        f"/users/{ADELE}/messages/{inbox[0]['id']}",
        token,
        params={"$select": "internetMessageHeaders,from"},
    ).json()
    assert {"name": "X-TAP-Notice", "value": "1"} in headers["internetMessageHeaders"]
    assert headers["from"]["emailAddress"]["address"] == "it-admin@contoso.test"
    bad_header = sim.graph(
        "POST",
        f"/users/{ADELE}/sendMail",
        token,
        json={
            "message": {
                "subject": "x",
                "toRecipients": [{"emailAddress": {"address": ADELE}}],
                "internetMessageHeaders": [{"name": "Subject", "value": "x"}],
            }
        },
    )
    assert bad_header.status_code == 400
    without_send = sim.token(app=1)
    assert (
        sim.graph("POST", f"/users/{ADELE}/sendMail", without_send, json={"message": {}}).status_code == 403
    )


def test_malformed_mime_is_still_delivered(sim: SimHandle, token: str) -> None:
    raw = (
        b"Subject: =?bogus?Q?broken?=\r\nFrom: <<<not an address\r\n"
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n\xff\xfe garbage"
    )
    delivered = sim.deliver(ADELE, raw)
    message = sim.graph("GET", f"/users/{ADELE}/messages/{delivered['id']}", token)
    assert message.status_code == 200
    assert sim.graph("GET", f"/users/{ADELE}/messages/{delivered['id']}/$value", token).content == raw


def test_text_body_preference(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim)
    message = sim.graph(
        "GET",
        f"/users/{ADELE}/messages/{delivered['id']}",
        token,
        headers={"Prefer": 'outlook.body-content-type="text"'},
    ).json()
    assert message["body"]["contentType"] == "text" and "<a" not in message["body"]["content"]


def test_if_match_guards_against_lost_updates(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim)
    path = f"/users/{ADELE}/messages/{delivered['id']}"
    etag = sim.graph("GET", path, token).json()["@odata.etag"]
    first = sim.graph("PATCH", path, token, json={"categories": ["a"]}, headers={"If-Match": etag})
    assert first.status_code == 200
    stale = sim.graph("PATCH", path, token, json={"categories": ["b"]}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    assert sim.graph("GET", path, token).json()["categories"] == ["a"]


def test_me_is_refused_for_app_tokens(sim: SimHandle, token: str) -> None:
    response = sim.graph("GET", "/me/messages", token)
    assert response.status_code == 400 and "delegated" in response.json()["error"]["message"]


def test_optional_exchange_html_normalisation(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim)
    path = f"/users/{ADELE}/messages/{delivered['id']}"
    sim.graph("PATCH", path, token, json={"body": {"contentType": "html", "content": "<p>x</p>"}})
    assert sim.graph("GET", path, token).json()["body"]["content"] == "<p>x</p>"
    sim.configure(normalize_html_bodies=True)
    normalised = sim.graph("GET", path, token).json()["body"]["content"]
    assert normalised.startswith("<html><head>") and 'http-equiv="Content-Type"' in normalised
    assert "<p>x</p>" in normalised


def test_optional_mime_regeneration(sim: SimHandle, token: str) -> None:
    raw = sample_mail()
    delivered = sim.deliver(ADELE, raw)
    path = f"/users/{ADELE}/messages/{delivered['id']}/$value"
    sim.configure(regenerate_mime_on_read=True)
    regenerated = sim.graph("GET", path, token).content
    assert regenerated != raw
    original = email.message_from_bytes(raw, policy=policy.default)
    again = email.message_from_bytes(regenerated, policy=policy.default)
    assert again["Message-ID"] == original["Message-ID"]
    assert again.get_boundary() != original.get_boundary()
    assert again.get_body(("html",)).get_content() == original.get_body(("html",)).get_content()
    assert sim.graph("GET", path, token).content == regenerated  # stable across reads


def test_add_and_delete_file_attachment(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim)
    path = f"/users/{ADELE}/messages/{delivered['id']}"
    before = sim.graph("GET", path, token, params={"$expand": "attachments"}).json()
    pdf = next(a for a in before["attachments"] if a["name"] == "invoice.pdf")
    body = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "invoice.pdf.pdf",
        "contentType": "application/pdf",
        "contentBytes": base64.b64encode(b"%PDF-1.4 safe copy").decode(),
    }
    added = sim.graph("POST", f"{path}/attachments", token, json=body)
    assert added.status_code == 201, added.text
    new = added.json()
    assert new["@odata.type"] == "#microsoft.graph.fileAttachment" and new["id"] != pdf["id"]
    assert new["name"] == "invoice.pdf.pdf" and new["size"] == len(b"%PDF-1.4 safe copy")
    after_add = sim.graph("GET", path, token, params={"$expand": "attachments"}).json()
    assert after_add["changeKey"] != before["changeKey"]
    assert after_add["lastModifiedDateTime"] >= before["lastModifiedDateTime"]
    assert [a["name"] for a in after_add["attachments"]].count("invoice.pdf.pdf") == 1

    deleted = sim.graph("DELETE", f"{path}/attachments/{pdf['id']}", token)
    assert deleted.status_code == 204
    after = sim.graph("GET", path, token, params={"$expand": "attachments"}).json()
    assert after["changeKey"] != after_add["changeKey"]
    names = [a["name"] for a in after["attachments"]]
    assert "invoice.pdf" not in names and "invoice.pdf.pdf" in names
    mime = email.message_from_bytes(sim.graph("GET", f"{path}/$value", token).content, policy=policy.default)
    files = [p.get_filename() for p in mime.walk() if p.get_filename()]
    assert "invoice.pdf" not in files and "invoice.pdf.pdf" in files  # $value shows the change
    again = sim.graph("DELETE", f"{path}/attachments/{pdf['id']}", token)
    assert again.status_code == 404 and again.json()["error"]["code"] == "ErrorItemNotFound"
    missing = sim.graph("POST", f"/users/{ADELE}/messages/{'A' * 120}/attachments", token, json=body)
    assert missing.status_code == 404


def test_add_attachment_rules(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim)
    path = f"/users/{ADELE}/messages/{delivered['id']}/attachments"
    big = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "big.pdf",
        "contentBytes": base64.b64encode(b"x" * (3 * 1024 * 1024 + 1)).decode(),
    }
    refused = sim.graph("POST", path, token, json=big)
    assert refused.status_code == 413 and "createUploadSession" in refused.json()["error"]["message"]
    item = {"@odata.type": "#microsoft.graph.referenceAttachment", "name": "x"}
    assert sim.graph("POST", path, token, json=item).status_code == 400
    count = len(sim.graph("GET", path, token).json()["value"])
    sim.grant(["Mail.Read"])
    reader = sim.token()
    ok = {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentBytes": "YQ=="}
    assert sim.graph("POST", path, reader, json=ok).status_code == 403
    listed = sim.graph("GET", path, reader).json()["value"]
    assert len(listed) == count
    assert sim.graph("DELETE", f"{path}/{listed[0]['id']}", reader).status_code == 403


def test_upload_session_for_a_large_attachment(sim: SimHandle, token: str) -> None:
    delivered = _deliver(sim)
    path = f"/users/{ADELE}/messages/{delivered['id']}"
    before = sim.graph("GET", path, token).json()
    data = bytes(range(256)) * (16 * 1024 + 100)  # a little over 4 MiB: two ranges
    item = {"AttachmentItem": {"attachmentType": "file", "name": "scan.pdf.pdf", "size": len(data),
                               "contentType": "application/pdf"}}
    small = {"AttachmentItem": {"attachmentType": "file", "name": "x", "size": 1000}}
    refused = sim.graph("POST", f"{path}/attachments/createUploadSession", token, json=small)
    assert refused.json()["error"]["code"] == "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
    created = sim.graph("POST", f"{path}/attachments/createUploadSession", token, json=item)
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["nextExpectedRanges"] == ["0"] and session["expirationDateTime"]
    url = session["uploadUrl"]
    first = data[: 4 * 1024 * 1024]
    headers = {"Content-Range": f"bytes 0-{len(first) - 1}/{len(data)}"}
    bearer = sim.session.put(url, data=first, headers={**headers, "Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401  # the URL is pre-authenticated: no second credential
    assert sim.session.put(url.split("?")[0], data=first, headers=headers).status_code == 401
    out_of_order = {"Content-Range": f"bytes 10-{len(first) + 9}/{len(data)}"}
    assert sim.session.put(url, data=first, headers=out_of_order).status_code == 416
    part = sim.session.put(url, data=first, headers=headers)
    assert part.status_code == 200 and part.json()["nextExpectedRanges"] == [str(len(first))]
    rest = data[len(first):]
    done = sim.session.put(url, data=rest, headers={"Content-Range": f"bytes {len(first)}-{len(data) - 1}/{len(data)}"})
    assert done.status_code == 201, done.text
    attachment_id = done.headers["Location"].rsplit("Attachments('", 1)[1].rstrip("')")
    raw = sim.graph("GET", f"{path}/attachments/{attachment_id}/$value", token)
    assert raw.content == data
    after = sim.graph("GET", path, token).json()
    assert after["changeKey"] != before["changeKey"]
    assert sim.session.put(url, data=rest, headers=headers).status_code == 404  # the session is over
    assert sim.stats()["requests"]["by_route"]["PUT /api/v2.0/AttachmentSessions/{id}"] >= 5
    sim.grant(["Mail.Read"])
    reader = sim.token()
    assert sim.graph("POST", f"{path}/attachments/createUploadSession", reader, json=item).status_code == 403
