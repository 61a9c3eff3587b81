"""Graph JSON representations of messages, folders, attachments, users and subscriptions."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from . import mime
from .clock import iso
from .directory import User
from .errors import GraphError
from .mailbox import Attachment, Folder, Mailbox, Message

# Returned without $select, in Graph's order.
MESSAGE_DEFAULT = (
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories",
    "receivedDateTime", "sentDateTime", "hasAttachments", "internetMessageId", "subject",
    "bodyPreview", "importance", "parentFolderId", "conversationId", "conversationIndex",
    "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead", "isDraft", "webLink",
    "inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients",
    "bccRecipients", "replyTo", "flag",
)  # fmt: skip
# Only returned when asked for with $select (internetMessageHeaders is the famous one).
MESSAGE_SELECT_ONLY = ("internetMessageHeaders", "uniqueBody")
MESSAGE_PROPS = frozenset(MESSAGE_DEFAULT + MESSAGE_SELECT_ONLY)

FOLDER_PROPS = (
    "id", "displayName", "parentFolderId", "childFolderCount", "unreadItemCount",
    "totalItemCount", "sizeInBytes", "isHidden",
)  # fmt: skip

USER_DEFAULT = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)  # fmt: skip
USER_PROPS = frozenset(
    (*USER_DEFAULT, "accountEnabled", "mailNickname", "userType", "otherMails", "proxyAddresses")
)


def parse_select(value: str | None, allowed: frozenset[str], type_name: str) -> list[str] | None:
    if not value:
        return None
    selected: list[str] = []
    lookup = {p.lower(): p for p in allowed}
    for raw in value.split(","):
        name = raw.strip()
        if not name:
            continue
        prop = lookup.get(name.lower())
        if prop is None:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type '{type_name}'.",
            )
        if prop not in selected:
            selected.append(prop)
    return selected


def recipient(value: dict[str, str] | None) -> dict[str, Any] | None:
    if not value:
        return None
    return {"emailAddress": {"name": value.get("name", ""), "address": value.get("address", "")}}


def web_link(message_id: str) -> str:
    return (
        "https://outlook.office365.com/owa/?ItemID="
        + quote(message_id, safe="")
        + "&exvsurl=1&viewmodel=ReadMessageItem"
    )


def message_json(
    message: Message,
    mailbox: Mailbox,
    *,
    immutable: bool,
    select: list[str] | None = None,
    expand_attachments: bool = False,
    text_body: bool = False,
    normalize_html: bool = False,
) -> dict[str, Any]:
    msg_id = message.immutable_id if immutable else message.rest_id
    folder = mailbox.folders.get(message.folder_id)
    body_content, body_type = message.body, message.body_type
    if text_body and body_type == "html":
        body_content, body_type = mime.html_to_text(body_content), "text"
    elif normalize_html and body_type == "html":
        body_content = mime.exchange_html(body_content)
    values: dict[str, Any] = {
        "id": msg_id,
        "createdDateTime": iso(message.created),
        "lastModifiedDateTime": iso(message.last_modified),
        "changeKey": message.change_key,
        "categories": list(message.categories),
        "receivedDateTime": iso(message.received),
        "sentDateTime": iso(message.sent),
        "hasAttachments": message.has_attachments,
        "internetMessageId": message.internet_message_id,
        "subject": message.subject,
        "bodyPreview": mime.body_preview(message.body, message.body_type),
        "importance": message.importance,
        "parentFolderId": folder.id if folder else message.folder_id,
        "conversationId": message.conversation_id,
        "conversationIndex": message.conversation_index,
        "isDeliveryReceiptRequested": message.is_delivery_receipt_requested,
        "isReadReceiptRequested": message.is_read_receipt_requested,
        "isRead": message.is_read,
        "isDraft": message.is_draft,
        "webLink": web_link(msg_id),
        "inferenceClassification": message.inference_classification,
        "body": {"contentType": body_type, "content": body_content},
        "sender": recipient(message.sender),
        "from": recipient(message.from_),
        "toRecipients": [recipient(r) for r in message.to],
        "ccRecipients": [recipient(r) for r in message.cc],
        "bccRecipients": [recipient(r) for r in message.bcc],
        "replyTo": [recipient(r) for r in message.reply_to],
        "flag": dict(message.flag),
        "internetMessageHeaders": (
            None if message.is_draft else [{"name": n, "value": v} for n, v in message.headers]
        ),
        "uniqueBody": {"contentType": body_type, "content": body_content},
    }
    result: dict[str, Any] = {"@odata.etag": f'W/"{message.change_key}"'}
    names = select if select is not None else list(MESSAGE_DEFAULT)
    if "id" not in names:
        result["id"] = msg_id
    for name in names:
        result[name] = values[name]
    if expand_attachments:
        result["attachments"] = [attachment_json(a) for a in message.attachments]
    return result


def attachment_json(
    attachment: Attachment,
    *,
    include_content: bool = True,
    expand_item: Message | None = None,
    mailbox: Mailbox | None = None,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": attachment.id,
        "lastModifiedDateTime": iso(attachment.last_modified),
        "name": attachment.name,
        "contentType": attachment.content_type,
        "size": attachment.size,
        "isInline": attachment.is_inline,
    }
    if attachment.kind == "file":
        result = {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "@odata.mediaContentType": attachment.content_type,
            **base,
            "contentId": attachment.content_id,
            "contentLocation": None,
        }
        if include_content:
            result["contentBytes"] = base64.b64encode(attachment.content).decode("ascii")
        return result
    if attachment.kind == "item":
        result = {"@odata.type": "#microsoft.graph.itemAttachment", **base}
        if expand_item is not None and mailbox is not None:
            item = message_json(expand_item, mailbox, immutable=False)
            for key in ("id", "parentFolderId", "webLink", "changeKey", "@odata.etag"):
                item.pop(key, None)
            result["item"] = {"@odata.type": "#microsoft.graph.message", **item}
        return result
    return {"@odata.type": "#microsoft.graph.referenceAttachment", **base}


def folder_json(folder: Folder, mailbox: Mailbox) -> dict[str, Any]:
    messages = mailbox.messages_in(folder.id)
    return {
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent_id,
        "childFolderCount": len(mailbox.children(folder.id)),
        "unreadItemCount": sum(1 for m in messages if not m.is_read),
        "totalItemCount": len(messages),
        "sizeInBytes": sum(len(m.mime) for m in messages),
        "isHidden": folder.is_hidden,
    }


def user_json(user: User, select: list[str] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": user.given_name,
        "jobTitle": user.job_title,
        "mail": user.mail,
        "mobilePhone": user.mobile_phone,
        "officeLocation": user.office_location,
        "preferredLanguage": user.preferred_language,
        "surname": user.surname,
        "userPrincipalName": user.user_principal_name,
        "id": user.id,
        "accountEnabled": user.account_enabled,
        "mailNickname": user.user_principal_name.split("@")[0],
        "userType": "Member",
        "otherMails": [],
        "proxyAddresses": [f"SMTP:{user.address}"],
    }
    names = select if select is not None else list(USER_DEFAULT)
    result = {name: values[name] for name in names}
    if select is not None and "id" not in result:
        result["id"] = user.id
    return result
