"""What a report holds (tap_core.parsing.reported) and the Outlook .msg reader (tap_core.parsing.msg):
pure parsing, each limit reached and each hostile shape with its clear outcome."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from tap_core.model.message import Attachment, Message
from tap_core.parsing.mime import parse_eml
from tap_core.parsing.msg import MsgError, MsgLimits, parse_msg
from tap_core.parsing.reported import (
    MAX_REPORT_ATTACHMENT_BYTES,
    ReportFormat,
    ReportProblem,
    fingerprint,
    is_report,
    report_key,
    reported_message,
)
from tap_core.policy import PolicyError, parse_policy
from tests.reports.msgfile import build_msg, write_cfb

HEADERS = ("From: Billing <billing@evil.example>\r\nTo: adele@contoso.test\r\nSubject: Invoice overdue\r\n"
           "Message-ID: <lure@evil.example>\r\nDate: Mon, 7 Dec 2026 09:00:00 +0000\r\n")


def test_a_msg_with_transport_headers_reads_as_the_mail_it_was() -> None:
    data = build_msg(subject="Invoice overdue", headers=HEADERS, body="Pay at https://evil.example/pay",
                     html='<a href="https://evil.example/pay">pay</a>', attachments={"invoice.pdf": b"%PDF-1.4 x"})
    message = parse_msg(data, "r.msg")
    assert message.from_address is not None and message.from_address.address == "billing@evil.example"
    assert message.internet_message_id == "<lure@evil.example>" and message.subject == "Invoice overdue"
    assert message.to[0].address == "adele@contoso.test" and message.sent_at is not None
    assert message.text_body == "Pay at https://evil.example/pay" and "evil.example/pay" in (message.html_body or "")
    assert [(a.name, a.data) for a in message.attachments] == [("invoice.pdf", b"%PDF-1.4 x")]
    assert message.limits_reached == []


def test_a_msg_without_headers_reads_its_sender_and_message_id_properties() -> None:
    message = parse_msg(build_msg(subject="Hi", sender="Billing@Evil.example", internet_message_id="<x@y>",
                                  body="text"))
    assert message.from_address is not None and message.from_address.address == "billing@evil.example"
    assert message.internet_message_id == "<x@y>"


@pytest.mark.parametrize("data, why", [
    (b"not an ole file at all", "not an OLE2"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 700, "damaged"),
    (write_cfb({"Contents": b"just a stream"}), "no message properties"),
])
def test_what_is_no_msg_raises_msg_error(data: bytes, why: str) -> None:
    with pytest.raises(MsgError, match=why):
        parse_msg(data)


def test_every_msg_limit_is_explicit() -> None:
    many = build_msg(subject="s", body="b", attachments={f"f{i}.txt": b"x" for i in range(5)})
    limited = parse_msg(many, limits=MsgLimits(max_attachments=2))
    assert len(limited.attachments) == 2 and [h.name for h in limited.limits_reached] == ["limit_mime_parts"]
    big = build_msg(subject="s", body="b", attachments={"big.bin": b"y" * 6000})
    cut = parse_msg(big, limits=MsgLimits(max_stream_bytes=4096))
    assert len(cut.attachments[0].data) == 4096 and cut.limits_reached[0].name == "mime_unparseable"
    with pytest.raises(MsgError, match="bytes"):
        parse_msg(big, limits=MsgLimits(max_bytes=2048))
    with pytest.raises(MsgError, match="directory entries"):
        parse_msg(many, limits=MsgLimits(max_entries=10))


def _report(**parts: object) -> Message:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "adele@contoso.test", "phish-report@contoso.test", "report"
    msg.set_content(str(parts.get("text", "see attached")))
    if "rfc822" in parts:
        from email import message_from_bytes, policy

        msg.add_attachment(message_from_bytes(parts["rfc822"], policy=policy.default))  # type: ignore[arg-type]
    if "file" in parts:
        name, data = parts["file"]  # type: ignore[misc]
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return parse_eml(msg.as_bytes(), "report")


def test_the_three_shapes_of_a_report() -> None:
    lure = (HEADERS + "Content-Type: text/plain\r\n\r\nPay now\r\n").encode()
    attached = reported_message(_report(rfc822=lure))
    as_msg = reported_message(_report(file=("lure.msg", build_msg(subject="Invoice overdue", headers=HEADERS))))
    forward = reported_message(_report(text=(
        "Look at this\n\n________________________________\nFrom: Billing <billing@evil.example>\n"
        "Sent: Monday, December 7, 2026 9:00 AM\nTo: Adele Vance <adele@contoso.test>\nSubject: Invoice overdue\n\n"
        "Pay now at https://evil.example/pay\n")))
    assert (attached.format, as_msg.format, forward.format) == (ReportFormat.ATTACHED, ReportFormat.MSG,
                                                                ReportFormat.FORWARD)
    for found in (attached, as_msg, forward):
        assert found.message is not None and found.problem is ReportProblem.NONE
        assert found.message.subject == "Invoice overdue"
        assert found.message.from_address is not None and found.message.from_address.address == "billing@evil.example"
    assert forward.message is not None and "https://evil.example/pay" in (forward.message.text_body or "")
    assert forward.message.sent_at is not None and forward.message.sent_at.day == 7
    # The same message: one key (internetMessageId), else the same fingerprint of sender, subject, day.
    assert report_key(attached.message) == report_key(as_msg.message) == "<lure@evil.example>"  # type: ignore[arg-type]
    assert fingerprint(forward.message) == fingerprint(attached.message)  # type: ignore[arg-type]


def test_hostile_reports_have_a_problem_not_an_exception() -> None:
    assert reported_message(_report(text="Something odd came in")).problem is ReportProblem.NO_MESSAGE
    broken = reported_message(_report(file=("x.msg", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1garbage")))
    assert broken.problem is ReportProblem.MSG_UNPARSEABLE and "x.msg" in broken.detail
    report = Message(source="r", attachments=[Attachment("huge.eml", "message/rfc822", b"",
                                                         declared_size=MAX_REPORT_ATTACHMENT_BYTES + 1)])
    assert reported_message(report).problem is ReportProblem.TOO_LARGE
    assert MAX_REPORT_ATTACHMENT_BYTES == 50 * 1024 * 1024
    # A long line is matched once, never backtracked into (the pattern's pieces are bounded).
    assert reported_message(_report(text="From: " + "a" * 1_000_000)).problem is ReportProblem.NO_MESSAGE


def test_a_report_of_a_report_is_recognised() -> None:
    report = _report(rfc822=b"From: x@y.example\r\nTo: phish-report@contoso.test\r\nSubject: s\r\n\r\nb")
    inner = reported_message(report).message
    assert inner is not None and is_report(inner, "Phish-Report@contoso.test")
    assert not is_report(inner, "") and not is_report(inner, "other@contoso.test")


def test_the_policy_names_the_reporting_mailbox() -> None:
    policy = parse_policy({"reports": {"mailbox": " Phish-Report@Contoso.com "}})
    assert policy.reports.mailbox == "phish-report@contoso.com"
    assert policy.reports.max_attachment_bytes == MAX_REPORT_ATTACHMENT_BYTES
    assert parse_policy({}).reports.mailbox == ""
    for bad in ({"mailbox": "not an address"}, {"mailbox": "x@y"}, {"max_attachment_bytes": 10}, {"other": 1}):
        with pytest.raises(PolicyError, match="reports"):
            parse_policy({"reports": bad})
