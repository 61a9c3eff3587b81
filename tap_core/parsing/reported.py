"""The message a person reported, out of the report they sent to the reporting mailbox.

Three shapes arrive (issue 20): Outlook's Report button attaches the message (``message/rfc822``
or a Graph item attachment: ``Message.attached_messages``); a desktop may attach it as an Outlook
``.msg`` file; a person may forward it inline, the original's header fields quoted in the body
(``From:``, ``Sent:``/``Date:``, ``To:``, ``Subject:``). :func:`reported_message` reads all three
and says what it found, or why nothing can be analysed (``problem``), never raising.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from tap_core.model.message import Address, Attachment, Message
from tap_core.parsing.html import html_to_text
from tap_core.parsing.mime import DEFAULT_LIMITS, MimeLimits, clean_text, parse_eml
from tap_core.parsing.msg import MsgError, MsgLimits, is_msg, parse_msg

#: The largest attachment of a report that is read (a reported message with its files).
MAX_REPORT_ATTACHMENT_BYTES = 50 * 1024 * 1024
#: Lines of a forward's body searched for the quoted header block.
MAX_FORWARD_LINES = 400
_MSG_TYPES = ("application/vnd.ms-outlook", "application/x-msg")
#: One quoted header line of a forward: ``From: ...`` (Outlook also writes ``*From:*`` in text).
_QUOTED = re.compile(r"^[>\s*]{0,8}(from|sent|date|to|cc|subject)\s{0,4}:[*\s]{0,4}(.{0,2000})$",
                     re.IGNORECASE)
_ADDRESS = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")


class ReportFormat(enum.StrEnum):
    ATTACHED = "attached"  # message/rfc822 or an item attachment (the Report button)
    MSG = "msg"  # an attached Outlook .msg file
    FORWARD = "forward"  # forwarded inline, its header fields quoted in the body
    NONE = "none"


class ReportProblem(enum.StrEnum):
    NONE = ""
    NO_MESSAGE = "no_reported_message"
    TOO_LARGE = "attachment_too_large"
    MSG_UNPARSEABLE = "msg_unparseable"


@dataclass(slots=True)
class Reported:
    format: ReportFormat
    message: Message | None
    problem: ReportProblem = ReportProblem.NONE
    detail: str = ""


def _is_msg_file(att: Attachment) -> bool:
    return att.name.lower().endswith(".msg") or att.content_type in _MSG_TYPES or is_msg(att.data)


def reported_message(
    report: Message,
    *,
    max_attachment_bytes: int = MAX_REPORT_ATTACHMENT_BYTES,
    msg_limits: MsgLimits | None = None,
    mime_limits: MimeLimits = DEFAULT_LIMITS,
) -> Reported:
    """What ``report`` reports. An attachment over ``max_attachment_bytes`` is not read at all
    (``TOO_LARGE``): a report is one message, and a huge file is no reason to hold the worker."""
    for att in report.attachments:
        if att.size > max_attachment_bytes:
            return Reported(ReportFormat.NONE, None, ReportProblem.TOO_LARGE,
                            f"{att.name!r} is {att.size} bytes; a report's attachment is at most "
                            f"{max_attachment_bytes}")
    if report.attached_messages:
        return Reported(ReportFormat.ATTACHED, report.attached_messages[0])
    for att in report.attachments:
        if _is_msg_file(att):
            try:
                return Reported(ReportFormat.MSG, parse_msg(att.data, f"{report.source}#{att.name}",
                                                            msg_limits, mime_limits))
            except MsgError as exc:
                return Reported(ReportFormat.MSG, None, ReportProblem.MSG_UNPARSEABLE, f"{att.name!r}: {exc}")
        if att.name.lower().endswith(".eml"):
            attached = parse_eml(att.data, f"{report.source}#{att.name}", mime_limits)
            return Reported(ReportFormat.ATTACHED, attached)
    forwarded = forwarded_message(report)
    if forwarded is not None:
        return Reported(ReportFormat.FORWARD, forwarded)
    return Reported(ReportFormat.NONE, None, ReportProblem.NO_MESSAGE,
                    "the report holds no attached message, .msg file or forwarded header block")


def forwarded_message(report: Message) -> Message | None:
    """The original of an inline forward, from the quoted header block of the body; None when the
    body quotes no ``From:`` with a ``Subject:``. Line by line, each line matched once."""
    text = report.text_body or (html_to_text(report.html_body) if report.html_body else "")
    lines = text.splitlines()[:MAX_FORWARD_LINES]
    for start, line in enumerate(lines):
        match = _QUOTED.match(line.strip())
        if not match or match.group(1).lower() != "from":
            continue
        fields: dict[str, str] = {}
        end = start
        for end in range(start, min(start + 12, len(lines))):
            found = _QUOTED.match(lines[end].strip())
            if found:
                fields.setdefault(found.group(1).lower(), found.group(2).strip())
            elif lines[end].strip() and fields.get("subject"):
                break
        if "subject" not in fields:
            continue
        address = _ADDRESS.search(fields["from"])
        name = fields["from"].split("<")[0].strip(' "*') if "<" in fields["from"] else ""
        message = Message(
            source=f"{report.source}#forward",
            subject=clean_text(fields["subject"]),
            from_address=Address(name=name, address=address.group(0).lower()) if address else None,
            to=[Address(address=a.lower()) for a in _ADDRESS.findall(fields.get("to", ""))[:50]],
            text_body="\n".join(lines[end:]),
            html_body=report.html_body,
            sent_at=_date(fields.get("sent") or fields.get("date") or ""),
        )
        message.headers = [("Subject", message.subject)]
        return message
    return None


def _date(value: str) -> datetime | None:
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        pass
    for fmt in ("%A, %B %d, %Y %I:%M %p", "%A, %d %B %Y %H:%M", "%a, %b %d, %Y at %I:%M %p"):
        try:
            return datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    return None


def fingerprint(message: Message) -> str:
    """A key for a reported message without ``internetMessageId``: its sender, subject and day."""
    sender = message.from_address.address if message.from_address else ""
    day = message.sent_at.date().isoformat() if message.sent_at else ""
    text = "\n".join((sender.lower(), " ".join(message.subject.lower().split()), day))
    return "fp:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def report_key(message: Message) -> str:
    """The triage key: the ``internetMessageId``, else :func:`fingerprint`."""
    return message.internet_message_id.strip().lower() or fingerprint(message)


def is_report(message: Message, reporting_mailbox: str) -> bool:
    """True when ``message`` is itself a report (sent to the reporting mailbox): a report of a
    report is answered, never analysed as the reported mail."""
    mailbox = reporting_mailbox.strip().lower()
    return bool(mailbox) and any(a.address == mailbox for a in message.recipients)


__all__ = [
    "MAX_REPORT_ATTACHMENT_BYTES", "ReportFormat", "ReportProblem", "Reported", "fingerprint",
    "forwarded_message", "is_report", "report_key", "reported_message",
]
