"""Build stored messages from delivered MIME or from Graph JSON (sendMail, drafts)."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from . import ids, mime
from .errors import bad_request
from .mailbox import Attachment, Mailbox, Message

Recipient = dict[str, str]


def _topic(subject: str) -> str:
    return re.sub(r"^\s*((re|fw|fwd|aw|wg)\s*:\s*)+", "", subject, flags=re.IGNORECASE).strip().lower()


def message_from_mime(
    mailbox: Mailbox, raw: bytes, received: datetime, *, is_read: bool = False, is_draft: bool = False
) -> Message:
    parsed = mime.parse_mail(raw)
    now = mailbox.clock.now()
    uid = mailbox.user.id
    attachments = [
        Attachment(
            id=ids.attachment_id(uid),
            kind=a.kind,
            name=a.name,
            content_type=a.content_type,
            content=a.content,
            last_modified=now,
            is_inline=a.is_inline,
            content_id=a.content_id,
        )
        for a in parsed.attachments
    ]
    message_id = parsed.internet_message_id or f"<{ids.guid()}@m365sim.prod.outlook.com>"
    return Message(
        immutable_id=ids.message_immutable_id(uid),
        rest_id=ids.message_rest_id(uid),
        folder_id="",
        created=now,
        last_modified=now,
        received=received.replace(microsecond=0),
        sent=mime.sent_datetime(parsed, received),
        subject=parsed.subject,
        body=parsed.body,
        body_type=parsed.body_type,
        from_=parsed.from_,
        sender=parsed.sender,
        to=parsed.to,
        cc=parsed.cc,
        bcc=parsed.bcc,
        reply_to=parsed.reply_to,
        internet_message_id=message_id,
        conversation_id=ids.conversation_id(uid, _topic(parsed.subject)),
        conversation_index=ids.conversation_index(),
        headers=parsed.headers,
        mime=raw,
        attachments=attachments,
        is_read=is_read,
        is_draft=is_draft,
        importance=parsed.importance,
    )


# Graph JSON -> properties -------------------------------------------------------------


def parse_recipient(value: Any, prop: str) -> Recipient:
    if not isinstance(value, dict) or not isinstance(value.get("emailAddress"), dict):
        raise bad_request(f"Invalid value for property '{prop}': expected a recipient.", "RequestBodyRead")
    address = value["emailAddress"].get("address")
    name = value["emailAddress"].get("name")
    if not isinstance(address, str) or "@" not in address:
        raise bad_request(
            f"At least one recipient is not valid., Recipient '{address}' is not resolved. "
            "All recipients must be resolved before a message can be submitted.",
            "ErrorInvalidRecipients",
        )
    return {"name": name if isinstance(name, str) and name else address, "address": address}


def parse_recipients(value: Any, prop: str) -> list[Recipient]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"Invalid value for property '{prop}': expected a collection.", "RequestBodyRead")
    return [parse_recipient(v, prop) for v in value]


def parse_body(value: Any) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise bad_request("Invalid value for property 'body'.", "RequestBodyRead")
    content_type = str(value.get("contentType") or "text").lower()
    if content_type not in ("text", "html"):
        raise bad_request(f"Requested value '{value.get('contentType')}' was not found.", "RequestBodyRead")
    content = value.get("content", "")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise bad_request("Invalid value for property 'content'.", "RequestBodyRead")
    return content, content_type


def parse_file_attachments(values: Any, uid: str, now: datetime) -> list[Attachment]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise bad_request("Invalid value for property 'attachments'.", "RequestBodyRead")
    result = []
    for value in values:
        if not isinstance(value, dict):
            raise bad_request("Invalid attachment.", "RequestBodyRead")
        odata_type = str(value.get("@odata.type", "")).lower()
        if odata_type not in ("#microsoft.graph.fileattachment", "microsoft.graph.fileattachment"):
            raise bad_request(
                "Only #microsoft.graph.fileAttachment is supported when sending.", "ErrorInvalidRequest"
            )
        try:
            content = base64.b64decode(value.get("contentBytes") or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad_request("Invalid value for property 'contentBytes'.", "RequestBodyRead") from exc
        result.append(
            Attachment(
                id=ids.attachment_id(uid),
                kind="file",
                name=str(value.get("name") or "attachment"),
                content_type=value.get("contentType") or "application/octet-stream",
                content=content,
                last_modified=now,
                is_inline=bool(value.get("isInline", False)),
                content_id=value.get("contentId"),
            )
        )
    return result


def parse_custom_headers(values: Any) -> list[tuple[str, str]]:
    """Graph only lets clients add custom ``x-`` headers to outgoing mail."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise bad_request("Invalid value for property 'internetMessageHeaders'.", "RequestBodyRead")
    headers = []
    for value in values:
        name = value.get("name") if isinstance(value, dict) else None
        if not isinstance(name, str) or not name.lower().startswith("x-"):
            raise bad_request(
                f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
                "InvalidInternetMessageHeader",
            )
        headers.append((name, str(value.get("value", ""))))
    return headers


def message_from_json(
    mailbox: Mailbox, data: dict[str, Any], *, is_draft: bool, from_: Recipient | None
) -> Message:
    """A message authored through Graph (a draft, or the Sent Items copy of sendMail)."""
    now = mailbox.clock.now()
    uid = mailbox.user.id
    subject = data.get("subject") or ""
    if not isinstance(subject, str):
        raise bad_request("Invalid value for property 'subject'.", "RequestBodyRead")
    body, body_type = parse_body(data["body"]) if data.get("body") is not None else ("", "text")
    to = parse_recipients(data.get("toRecipients"), "toRecipients")
    cc = parse_recipients(data.get("ccRecipients"), "ccRecipients")
    bcc = parse_recipients(data.get("bccRecipients"), "bccRecipients")
    reply_to = parse_recipients(data.get("replyTo"), "replyTo")
    attachments = parse_file_attachments(data.get("attachments"), uid, now)
    headers = parse_custom_headers(data.get("internetMessageHeaders"))
    importance = str(data.get("importance") or "normal").lower()
    if importance not in ("low", "normal", "high"):
        raise bad_request(f"Requested value '{importance}' was not found.", "RequestBodyRead")
    message_id = f"<{ids.guid().replace('-', '')}@m365sim.prod.outlook.com>"
    raw = mime.build_mime(
        subject=subject,
        body=body,
        body_type=body_type,
        from_=from_,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=reply_to,
        message_id=message_id,
        date=now,
        extra_headers=headers,
        attachments=[
            mime.OutgoingAttachment(a.name, a.content_type or "", a.content, a.is_inline, a.content_id)
            for a in attachments
        ],
    )
    message = Message(
        immutable_id=ids.message_immutable_id(uid),
        rest_id=ids.message_rest_id(uid),
        folder_id="",
        created=now,
        last_modified=now,
        received=now,
        sent=None if is_draft else now,
        subject=subject,
        body=body,
        body_type=body_type,
        from_=from_ if not is_draft else None,
        sender=from_ if not is_draft else None,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=reply_to,
        internet_message_id=message_id,
        conversation_id=ids.conversation_id(uid, _topic(subject)),
        conversation_index=ids.conversation_index(),
        headers=[] if is_draft else list(mime.parse_mail(raw).headers),
        mime=raw,
        attachments=attachments,
        is_read=True,
        is_draft=is_draft,
        importance=importance,
    )
    if isinstance(data.get("categories"), list):
        message.categories = [str(c) for c in data["categories"]]
    return message
