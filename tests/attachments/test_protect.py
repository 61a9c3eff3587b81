from __future__ import annotations

import pytest
from pydantic import ValidationError

from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.model import FILE_THRESHOLDS
from tap_core.attachments.policy import AttachmentPolicy
from tap_core.attachments.protect import assess_attachments
from tap_core.detect.scoring import Thresholds
from tap_core.model.findings import Verdict
from tap_core.model.message import Address, Attachment, Message
from tests.attachments.builders import EICAR, WORD_XML, make_ooxml, make_zip


def _message(
    *attachments: Attachment, body: str = "", html: str | None = None, sender: str = "a@ext.example"
) -> Message:
    return Message(
        source="test",
        subject="Invoice",
        from_address=Address("A", sender),
        text_body=body,
        html_body=html,
        attachments=list(attachments),
    )


def _docx() -> Attachment:
    return Attachment(
        "letter.docx", "application/octet-stream", make_ooxml(WORD_XML.format(body="Hi", fields=""))
    )


def test_password_from_body_opens_the_archive(engine: AttachmentEngine) -> None:
    archive = make_zip({"payload.com": EICAR}, password="Rg7q-19")
    message = _message(
        Attachment("docs.zip", "application/zip", archive),
        html="<p>Your documents. <b>Password:</b> Rg7q-19</p>",
    )
    result = assess_attachments(message, engine, AttachmentPolicy())
    assert result.verdict is Verdict.MALICIOUS
    assert result.action == "quarantine"
    assert result.files[0].children[0].name == "payload.com"


def test_closed_encrypted_archive_is_held(engine: AttachmentEngine) -> None:
    archive = make_zip({"report.txt": b"quarterly"}, password="never-told")
    result = assess_attachments(
        _message(Attachment("r.zip", "application/zip", archive)), engine, AttachmentPolicy()
    )
    assert result.verdict is Verdict.SUSPICIOUS
    assert result.action == "hold"
    assert any("encrypted" in reason for reason in result.reasons)


def test_dynamic_mode_sends_office_files_to_the_sandbox(engine: AttachmentEngine) -> None:
    result = assess_attachments(_message(_docx()), engine, AttachmentPolicy(sandbox_timeout_seconds=420))
    assert result.verdict is Verdict.CLEAN
    assert result.needs_sandbox and result.sandbox_files == [result.files[0].sha256]
    assert result.action == "hold" and result.sandbox_timeout_seconds == 420


def test_archive_is_detonated_through_its_content(engine: AttachmentEngine) -> None:
    inner = make_ooxml(WORD_XML.format(body="Hi", fields=""))
    result = assess_attachments(
        _message(Attachment("a.zip", "application/zip", make_zip({"letter.docx": inner, "n.txt": b"x"}))),
        engine,
        AttachmentPolicy(),
    )
    assert result.sandbox_files == [result.files[0].children[0].sha256]


def test_safe_file_mode_and_clean_images_are_delivered(engine: AttachmentEngine) -> None:
    png = Attachment("logo.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    result = assess_attachments(_message(png, _docx()), engine, AttachmentPolicy(mode="safe_file"))
    assert not result.needs_sandbox
    assert result.action == "deliver"


def test_monitor_mode_never_blocks(engine: AttachmentEngine) -> None:
    message = _message(Attachment("e.zip", "application/zip", make_zip({"e.com": EICAR})))
    result = assess_attachments(message, engine, AttachmentPolicy(mode="monitor"))
    assert result.verdict is Verdict.MALICIOUS
    assert result.action == "deliver"


def test_trusted_sender_bypasses_but_known_malware_is_still_quarantined(engine: AttachmentEngine) -> None:
    policy = AttachmentPolicy(trusted_domains=["partner.example"])
    clean = assess_attachments(_message(_docx(), sender="x@mail.partner.example"), engine, policy)
    assert clean.bypassed and not clean.needs_sandbox and clean.action == "deliver"
    bad = _message(
        Attachment("e.zip", "application/zip", make_zip({"e.com": EICAR})), sender="x@partner.example"
    )
    assert assess_attachments(bad, engine, policy).action == "quarantine"


def test_urls_inside_attachments_are_handed_over(engine: AttachmentEngine) -> None:
    page = b"<html><body><a href='https://phish.example.net/login'>open</a></body></html>"
    result = assess_attachments(_message(Attachment("m.html", "text/html", page)), engine, AttachmentPolicy())
    assert "https://phish.example.net/login" in result.urls
    assert [(u.url, u.source, u.link_text) for u in result.found_urls] == [
        ("https://phish.example.net/login", "attachment:m.html:a_href", "open")
    ]


def test_truncated_attachment_counts_as_a_limit(engine: AttachmentEngine) -> None:
    partial = Attachment("big.pdf", "application/pdf", b"%PDF-1.4\n", declared_size=10**9, truncated=True)
    result = assess_attachments(_message(partial), engine, AttachmentPolicy(mode="safe_file"))
    assert "attachment_truncated" in result.files[0].reasons
    truncated = next(f for f in result.files[0].findings if f.name == "attachment_truncated")
    assert (truncated.score, truncated.group) == (1.0, "file_limits")
    assert result.action == "hold"


def test_policy_thresholds_parse_as_the_one_threshold_class() -> None:
    policy = AttachmentPolicy.model_validate({"thresholds": {"suspicious": 4, "malicious": 12}})
    assert isinstance(policy.thresholds, Thresholds)
    assert (policy.thresholds.suspicious, policy.thresholds.malicious) == (4.0, 12.0)
    assert AttachmentPolicy().thresholds == FILE_THRESHOLDS == Thresholds(suspicious=5.0, malicious=15.0)
    one = AttachmentPolicy.model_validate({"thresholds": {"malicious": 20}}).thresholds
    assert (one.suspicious, one.malicious) == (5.0, 20.0)
    for wrong in ({"suspicous": 4, "malicious": 12}, {"suspicious": 9, "malicious": 3}):
        with pytest.raises(ValidationError):
            AttachmentPolicy.model_validate({"thresholds": wrong})
