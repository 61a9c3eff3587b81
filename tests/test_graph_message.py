from __future__ import annotations

import base64

from tap_core.parsing.graph_message import message_from_graph


def test_graph_resource_maps_to_message() -> None:
    data = {
        "id": "AAMkAD=",
        "subject": "Invoice",
        "body": {"contentType": "html", "content": "<a href='https://x.example/'>x</a>"},
        "from": {"emailAddress": {"name": "Bob", "address": "Bob@Fabrikam.test"}},
        "sender": {"emailAddress": {"name": "Bob", "address": "bob@fabrikam.test"}},
        "replyTo": [{"emailAddress": {"name": "", "address": "bob@freemail.example"}}],
        "toRecipients": [{"emailAddress": {"name": "Adele", "address": "adele@contoso.test"}}],
        "internetMessageId": "<1@fabrikam.test>",
        "internetMessageHeaders": [{"name": "Return-Path", "value": "<bounce@fabrikam.test>"},
                                   {"name": "Authentication-Results", "value": "spf=pass"}],
        "receivedDateTime": "2026-11-30T09:00:00Z",
        "attachments": [
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentType": "text/plain",
             "size": 5, "contentBytes": base64.b64encode(b"hello").decode()},
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "big.zip", "contentType": "application/zip",
             "size": 9_000_000},
            {"@odata.type": "#microsoft.graph.itemAttachment", "name": "fwd",
             "item": {"subject": "inner", "body": {"contentType": "text", "content": "inner body"}}},
            {"@odata.type": "#microsoft.graph.referenceAttachment", "name": "doc",
             "sourceUrl": "https://contoso.sharepoint.com/doc"},
        ],
    }
    m = message_from_graph(data)
    assert m.subject == "Invoice"
    assert m.from_address is not None and m.from_address.address == "bob@fabrikam.test"
    assert m.reply_to[0].domain == "freemail.example"
    assert m.html_body is not None and m.text_body is None
    assert m.return_path == "bounce@fabrikam.test"
    assert m.header("authentication-results") == "spf=pass"
    assert m.received_at is not None and m.received_at.year == 2026
    names = {a.name: a for a in m.attachments}
    assert names["a.txt"].data == b"hello"
    assert names["big.zip"].truncated and names["big.zip"].size == 9_000_000
    assert names["doc"].data == b"https://contoso.sharepoint.com/doc"
    assert m.attached_messages[0].subject == "inner"


def test_odd_shapes_do_not_raise() -> None:
    m = message_from_graph({"body": None, "from": "x", "toRecipients": [None, 3], "attachments": [1]})
    assert m.from_address is None and m.to == []
    assert any("internetMessageHeaders" in d for d in m.defects)
    assert any("an attachment is a int" in d for d in m.defects)
    for odd in (True, 3, "x", {"a": 1}):
        m = message_from_graph({"subject": "s", "attachments": odd, "hasAttachments": odd})
        assert m.attachments == [] and any("attachments is a" in d for d in m.defects), odd


def test_malformed_from_header_is_a_defect_as_in_parse_eml() -> None:
    from tap_core.parsing.mime import parse_eml

    def graph(*froms: str) -> dict[str, object]:
        return {"id": "m1", "subject": "hi", "body": {"contentType": "text", "content": "x"},
                "from": {"emailAddress": {"name": "PayPal", "address": "news@mailer.example"}},
                "internetMessageHeaders": [{"name": "From", "value": v} for v in froms]}

    for value in ('"PayPal", "PayPal" <news@mailer.example>', '"Team" <"noreply@mailer.example">',
                  "Tax Office <notice@receita>"):
        graph_defects = [d for d in message_from_graph(graph(value)).defects if d.startswith("From ")]
        eml_defects = [d for d in parse_eml(f"From: {value}\nSubject: hi\n\nx\n".encode()).defects
                       if d.startswith("From ")]
        assert graph_defects and graph_defects == eml_defects, value
    assert not [d for d in message_from_graph(graph("PayPal <news@mailer.example>")).defects
                if d.startswith("From ")]
    twice = message_from_graph(graph("a <a@b.example>", "c <c@d.example>")).defects
    assert "From header appears more than once" in twice
    assert "From header appears more than once" in parse_eml(
        b"From: a <a@b.example>\nFrom: c <c@d.example>\nSubject: hi\n\nx\n").defects
