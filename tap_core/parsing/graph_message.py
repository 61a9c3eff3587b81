"""Build a :class:`~tap_core.model.message.Message` from a Microsoft Graph message resource (JSON).

Pure mapping from the documented resource shape: no Graph SDK and no network here. The
connector fetches the JSON (with ``$select`` and ``$expand=attachments``) and hands it over.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from tap_core.model.message import Address, Attachment, LimitReached, Message
from tap_core.parsing.mime import clean_text, from_header_defects, parse_eml
from tap_core.parsing.timestamps import parse_iso_datetime

#: The ``$select`` the pipelines need; the connector asks Graph for exactly these.
GRAPH_MESSAGE_SELECT = (
    "id",
    "subject",
    "body",
    "from",
    "sender",
    "replyTo",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "internetMessageId",
    "internetMessageHeaders",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "parentFolderId",
    "categories",
    "isDraft",
)


def _address(value: Any) -> Address | None:
    if not isinstance(value, dict):
        return None
    inner = value.get("emailAddress") or {}
    if not isinstance(inner, dict):
        return None
    name = clean_text(str(inner.get("name") or ""))
    addr = clean_text(str(inner.get("address") or "").lower())
    if not name and not addr:
        return None
    return Address(name=name, address=addr)


def _addresses(value: Any) -> list[Address]:
    if not isinstance(value, list):
        return []
    return [a for a in (_address(v) for v in value) if a is not None]


def message_from_graph(
    data: dict[str, Any], source: str = "", *, depth: int = 0, max_depth: int = 8
) -> Message:
    """Map a Graph message resource to a :class:`Message`. Never raises on odd shapes."""
    defects: list[str] = []
    body_raw = data.get("body")
    body: dict[str, Any] = body_raw if isinstance(body_raw, dict) else {}
    content = str(body.get("content") or "")
    content_type = str(body.get("contentType") or "text").lower()
    headers_raw = data.get("internetMessageHeaders")
    headers: list[tuple[str, str]] = []
    if isinstance(headers_raw, list):
        for h in headers_raw:
            if isinstance(h, dict) and "name" in h:
                headers.append((clean_text(str(h.get("name"))), clean_text(str(h.get("value") or ""))))
    else:
        defects.append("internetMessageHeaders not selected: header checks limited")
    return_path = ""
    for name, value in headers:
        lowered = name.lower()
        if lowered == "return-path" and not return_path:
            return_path = value.strip().strip("<>").lower()
        elif lowered == "from":
            defects.extend(from_header_defects(value))
    if sum(1 for name, _ in headers if name.lower() == "from") > 1:
        defects.append("From header appears more than once")
    msg = Message(
        source=source or f"graph:{data.get('id', '')}",
        subject=clean_text(str(data.get("subject") or "")),
        internet_message_id=str(data.get("internetMessageId") or ""),
        from_address=_address(data.get("from")),
        sender=_address(data.get("sender")),
        reply_to=_addresses(data.get("replyTo")),
        to=_addresses(data.get("toRecipients")),
        cc=_addresses(data.get("ccRecipients")),
        bcc=_addresses(data.get("bccRecipients")),
        return_path=return_path,
        headers=headers,
        html_body=content if content_type == "html" else None,
        text_body=content if content_type != "html" else None,
        sent_at=parse_iso_datetime(data.get("sentDateTime")),
        received_at=parse_iso_datetime(data.get("receivedDateTime")),
        defects=defects,
    )
    attachments = data.get("attachments")
    if attachments is not None and not isinstance(attachments, list):
        msg.defects.append(f"attachments is a {type(attachments).__name__}, not a list; ignored")
        attachments = None
    for att in attachments or []:
        if isinstance(att, dict):
            _add_attachment(msg, att, depth, max_depth)
        else:
            msg.defects.append(f"an attachment is a {type(att).__name__}, not an object; ignored")
    return msg


def _add_attachment(msg: Message, att: dict[str, Any], depth: int, max_depth: int) -> None:
    kind = str(att.get("@odata.type") or "")
    name = str(att.get("name") or "attachment")
    if kind.endswith("itemAttachment"):
        item = att.get("item")
        if depth + 1 > max_depth:
            msg.defects.append(f"item attachment {name!r} deeper than {max_depth}; skipped")
            msg.limits_reached.append(LimitReached("limit_mime_depth", max_depth, name))  # held
        elif isinstance(item, dict):
            msg.attached_messages.append(
                message_from_graph(item, f"{msg.source}#{name}", depth=depth + 1, max_depth=max_depth)
            )
        else:
            msg.defects.append(f"item attachment {name!r} not expanded")
        return
    if kind.endswith("referenceAttachment"):
        # A cloud link (OneDrive/SharePoint): no bytes, but its URL is scanned like any link.
        msg.attachments.append(
            Attachment(name=name, content_type="text/x-reference-link",
                       data=str(att.get("sourceUrl") or "").encode(), declared_size=0)
        )
        return
    raw = att.get("contentBytes")
    data = b""
    truncated = False
    if isinstance(raw, str):
        try:
            data = base64.b64decode(raw, validate=False)
        except (binascii.Error, ValueError):
            msg.defects.append(f"attachment {name!r}: contentBytes not valid base64")
            truncated = True
    else:
        truncated = True  # the connector fetches large ones through $value and fills data in
    ctype = str(att.get("contentType") or "application/octet-stream").lower()
    declared = att.get("size")
    attachment = Attachment(
        name=name,
        content_type=ctype,
        data=data,
        content_id=str(att.get("contentId") or ""),
        is_inline=bool(att.get("isInline")),
        declared_size=int(declared) if isinstance(declared, int) else None,
        truncated=truncated,
    )
    if ctype == "message/rfc822" and data and depth + 1 <= max_depth:
        msg.attached_messages.append(parse_eml(data, f"{msg.source}#{name}"))
        return
    msg.attachments.append(attachment)
