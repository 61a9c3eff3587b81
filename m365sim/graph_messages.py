"""Graph message endpoints: list/get/$value/PATCH/DELETE/move/copy/attachments (list, get, add,
delete)/drafts/sendMail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import compose, mime, odata
from .context import MAIL_ADVANCED, MAIL_READ, MAIL_SEND, MAIL_WRITE, Ctx
from .errors import GraphError, access_denied, bad_request, item_not_found
from .mailbox import Folder, Mailbox, Message
from .router import GraphResponse, Router
from .serialize import MESSAGE_PROPS, attachment_json, message_json, parse_select

MESSAGE_TYPE = "microsoft.graph.message"
DEFAULT_PAGE = 10
MAX_PAGE = 1000

# $filter / $orderby properties the sim supports on messages, with their kinds.
MESSAGE_FILTER = {
    "receiveddatetime": "datetime",
    "sentdatetime": "datetime",
    "createddatetime": "datetime",
    "lastmodifieddatetime": "datetime",
    "isread": "bool",
    "isdraft": "bool",
    "hasattachments": "bool",
    "internetmessageid": "string",
    "subject": "string",
    "importance": "string",
    "parentfolderid": "string",
    "conversationid": "string",
    "inferenceclassification": "string",
    "id": "string",
    "from/emailaddress/address": "string",
    "from/emailaddress/name": "string",
    "sender/emailaddress/address": "string",
    "sender/emailaddress/name": "string",
    "flag/flagstatus": "string",
    "categories": "collection",
    "torecipients": "collection",
    "ccrecipients": "collection",
}

PATCHABLE = {
    "categories", "isRead", "flag", "importance", "inferenceClassification",
    "isDeliveryReceiptRequested", "isReadReceiptRequested", "subject", "body", "toRecipients",
    "ccRecipients", "bccRecipients", "replyTo", "from", "sender", "internetMessageId",
    "singleValueExtendedProperties", "multiValueExtendedProperties",
}  # fmt: skip
# "Updatable only if isDraft = true" in the docs; on other messages they need Mail-Advanced.
SENSITIVE = {
    "subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "from",
    "sender", "internetMessageId",
}  # fmt: skip


def _accessor(ctx: Ctx) -> odata.Accessor:
    def get(message: Message, path: list[str]) -> Any:
        key = "/".join(path)
        if key == "id":
            return ctx.message_id(message)
        simple: dict[str, Any] = {
            "receiveddatetime": message.received,
            "sentdatetime": message.sent,
            "createddatetime": message.created,
            "lastmodifieddatetime": message.last_modified,
            "isread": message.is_read,
            "isdraft": message.is_draft,
            "hasattachments": message.has_attachments,
            "internetmessageid": message.internet_message_id,
            "subject": message.subject,
            "importance": message.importance,
            "parentfolderid": message.folder_id,
            "conversationid": message.conversation_id,
            "inferenceclassification": message.inference_classification,
            "flag/flagstatus": message.flag.get("flagStatus"),
            "categories": list(message.categories),
            "torecipients": [{"emailAddress": r} for r in message.to],
            "ccrecipients": [{"emailAddress": r} for r in message.cc],
        }
        if key in simple:
            return simple[key]
        if key.startswith(("from/", "sender/")):
            who = message.from_ if key.startswith("from/") else message.sender
            return (who or {}).get(path[-1])
        return None

    return get


def _expand(ctx: Ctx) -> bool:
    raw = ctx.req.query.get("$expand")
    if not raw:
        return False
    for item in raw.split(","):
        if item.strip().lower() != "attachments":
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Parsing OData Select and Expand failed: Could not find a property named "
                f"'{item.strip()}' on type '{MESSAGE_TYPE}'.",
            )
    return True


def _text_body(ctx: Ctx) -> bool:
    value = ctx.req.prefer_value("outlook.body-content-type")
    return bool(value and value.lower() == "text")


def _response_headers(ctx: Ctx) -> dict[str, str]:
    applied = []
    if ctx.immutable:
        applied.append('IdType="ImmutableId"')
    if _text_body(ctx):
        applied.append('outlook.body-content-type="text"')
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


def _render(
    ctx: Ctx,
    message: Message,
    mailbox: Mailbox,
    select: list[str] | None = None,
    expand: bool = False,
) -> dict[str, Any]:
    return message_json(
        message,
        mailbox,
        immutable=ctx.immutable,
        select=select,
        expand_attachments=expand,
        text_body=_text_body(ctx),
        normalize_html=ctx.state.config.normalize_html_bodies,
    )


def _users_segment(ctx: Ctx) -> str:
    return f"users('{ctx.params['user']}')"


# Listing ------------------------------------------------------------------------------


async def list_messages(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    folder = ctx.folder(mailbox) if "folder" in ctx.params else None
    query = ctx.req.query
    select = parse_select(query.get("$select"), MESSAGE_PROPS, MESSAGE_TYPE)
    expand = _expand(ctx)
    items = mailbox.messages_in(folder.id if folder else None)
    getter = _accessor(ctx)
    search = query.get("$search")
    if search is not None:
        if "$filter" in query or "$orderby" in query:
            raise bad_request(
                "The query parameter '$filter' or '$orderby' is not supported with '$search'.",
                "ErrorInvalidUrlQuery",
            )
        term = search.strip().strip('"').lower()
        items = [m for m in items if _search_matches(m, term)]
    filter_props: list[str] = []
    if query.get("$filter"):
        parsed = odata.parse_filter(query["$filter"], MESSAGE_FILTER, MESSAGE_TYPE)
        filter_props = parsed.properties
        items = [m for m in items if parsed.matches(m, getter)]
    if query.get("$orderby"):
        order = odata.parse_orderby(query["$orderby"], MESSAGE_FILTER, MESSAGE_TYPE)
        if query.get("$filter"):
            odata.check_inefficient_filter(filter_props, order)
        for key, descending in reversed(order):
            items.sort(key=lambda m, k=key: _sort_key(getter(m, k.split("/"))), reverse=descending)
    top = odata.parse_int(query, "$top", 1, MAX_PAGE)
    skip = odata.parse_int(query, "$skip", 0) or 0
    max_page = ctx.req.prefer_value("odata.maxpagesize")
    page_size = top or (int(max_page) if max_page and max_page.isdigit() else DEFAULT_PAGE)
    page = items[skip : skip + page_size]
    segment = _users_segment(ctx) + (f"/mailFolders('{ctx.params['folder']}')" if folder else "")
    select_part = f"({','.join(select)})" if select else ""
    body: dict[str, Any] = {"@odata.context": ctx.context_url(f"{segment}/messages{select_part}")}
    if query.get("$count", "").lower() == "true":
        body["@odata.count"] = len(items)
    body["value"] = [_render(ctx, m, mailbox, select, expand) for m in page]
    if skip + page_size < len(items):
        next_query = dict(query)
        next_query["$skip"] = str(skip + page_size)
        if top is None:
            next_query["$top"] = str(page_size)
        body["@odata.nextLink"] = ctx.link(ctx.req.path, next_query)
    return GraphResponse(200, body, headers=_response_headers(ctx))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, str):
        return (1, value.lower())
    if isinstance(value, datetime | bool | int | float):
        return (1, value)
    return (1, str(value))


def _search_matches(message: Message, term: str) -> bool:
    haystack = " ".join(
        [
            message.subject,
            mime.body_preview(message.body, message.body_type),
            (message.from_ or {}).get("address", ""),
            (message.from_ or {}).get("name", ""),
        ]
    ).lower()
    return term in haystack


async def count_messages(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    folder = ctx.folder(mailbox) if "folder" in ctx.params else None
    items = mailbox.messages_in(folder.id if folder else None)
    if ctx.req.query.get("$filter"):
        parsed = odata.parse_filter(ctx.req.query["$filter"], MESSAGE_FILTER, MESSAGE_TYPE)
        items = [m for m in items if parsed.matches(m, _accessor(ctx))]
    return GraphResponse(200, str(len(items)), "text/plain")


# Single message -----------------------------------------------------------------------


async def get_message(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    message = ctx.message(mailbox)
    select = parse_select(ctx.req.query.get("$select"), MESSAGE_PROPS, MESSAGE_TYPE)
    body = {
        "@odata.context": ctx.context_url(
            f"{_users_segment(ctx)}/messages" + (f"({','.join(select)})" if select else "") + "/$entity"
        ),
        **_render(ctx, message, mailbox, select, _expand(ctx)),
    }
    return GraphResponse(200, body, headers=_response_headers(ctx))


async def get_message_value(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    message = ctx.message(mailbox)
    data = message.mime
    if ctx.state.config.regenerate_mime_on_read:
        try:
            data = mime.regenerate(data, message.immutable_id[-32:])
        except Exception:  # noqa: S110 - unparseable MIME goes out as stored
            pass
    return GraphResponse(200, data, "message/rfc822")


def _validate_patch(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    """Parse every property first so a bad one leaves the message untouched."""
    lookup = {p.lower(): p for p in PATCHABLE}
    read_only = {p.lower(): p for p in MESSAGE_PROPS}
    changes: dict[str, Any] = {}
    for raw_key, value in data.items():
        if raw_key.startswith("@odata"):
            continue
        key = lookup.get(raw_key.lower())
        if key is None:
            if raw_key.lower() in read_only:
                raise bad_request(
                    f"The property '{read_only[raw_key.lower()]}' is read-only and cannot be set.",
                    "ErrorInvalidPropertySet",
                )
            raise bad_request(
                f"The property '{raw_key}' does not exist on type '{MESSAGE_TYPE}'. Make sure to "
                "only use property names that are defined by the type or mark the type as open type.",
                "RequestBodyRead",
            )
        changes[key] = _parse_patch_value(key, value)
    return changes


def _parse_patch_value(key: str, value: Any) -> Any:
    if key == "categories":
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise bad_request("Invalid value for property 'categories'.", "RequestBodyRead")
        return list(value)
    if key in ("isRead", "isReadReceiptRequested", "isDeliveryReceiptRequested"):
        if not isinstance(value, bool):
            raise bad_request(f"Invalid value for property '{key}'.", "RequestBodyRead")
        return value
    if key == "importance":
        if not isinstance(value, str) or value.lower() not in ("low", "normal", "high"):
            raise bad_request(f"Requested value '{value}' was not found.", "RequestBodyRead")
        return value.lower()
    if key == "inferenceClassification":
        if not isinstance(value, str) or value.lower() not in ("focused", "other"):
            raise bad_request(f"Requested value '{value}' was not found.", "RequestBodyRead")
        return value.lower()
    if key == "flag":
        if not isinstance(value, dict):
            raise bad_request("Invalid value for property 'flag'.", "RequestBodyRead")
        status = value.get("flagStatus", "notFlagged")
        if status not in ("notFlagged", "complete", "flagged"):
            raise bad_request(f"Requested value '{status}' was not found.", "RequestBodyRead")
        return dict(value)
    if key == "subject":
        if value is not None and not isinstance(value, str):
            raise bad_request("Invalid value for property 'subject'.", "RequestBodyRead")
        return value or ""
    if key == "body":
        return compose.parse_body(value)
    if key in ("from", "sender"):
        return compose.parse_recipient(value, key) if value is not None else None
    if key in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo"):
        return compose.parse_recipients(value, key)
    if key == "internetMessageId":
        if not isinstance(value, str):
            raise bad_request("Invalid value for property 'internetMessageId'.", "RequestBodyRead")
        return value
    if not isinstance(value, list):  # extended properties
        raise bad_request(f"Invalid value for property '{key}'.", "RequestBodyRead")
    return value


def _apply_patch(ctx: Ctx, mailbox: Mailbox, message: Message, changes: dict[str, Any]) -> None:
    header_updates: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "categories":
            message.categories = value
        elif key == "isRead":
            message.is_read = value
        elif key == "isReadReceiptRequested":
            message.is_read_receipt_requested = value
        elif key == "isDeliveryReceiptRequested":
            message.is_delivery_receipt_requested = value
        elif key == "importance":
            message.importance = value
        elif key == "inferenceClassification":
            message.inference_classification = value
        elif key == "flag":
            message.flag = {**message.flag, **value}
        elif key == "subject":
            message.subject = value
        elif key == "body":
            message.body, message.body_type = value
        elif key == "from":
            message.from_ = value
            header_updates["From"] = value
        elif key == "sender":
            message.sender = value
            header_updates["Sender"] = value
        elif key == "toRecipients":
            message.to = value
            header_updates["To"] = value
        elif key == "ccRecipients":
            message.cc = value
            header_updates["Cc"] = value
        elif key == "bccRecipients":
            message.bcc = value
        elif key == "replyTo":
            message.reply_to = value
            header_updates["Reply-To"] = value
        elif key == "internetMessageId":
            message.internet_message_id = value
        else:
            message.extended_properties.extend(value)
    touches_mime = "subject" in changes or "body" in changes or header_updates
    if touches_mime and ctx.state.config.mime_reflects_patches:
        try:
            message.mime = mime.rewrite_mime(
                message.mime,
                subject=changes.get("subject"),
                body=changes.get("body"),
                recipients=header_updates,
            )
        except Exception:  # noqa: S110 - unparseable original: keep the bytes as delivered
            pass
    mailbox.touch(message)


def _check_if_match(ctx: Ctx, message: Message) -> None:
    """Optimistic concurrency: If-Match carries the @odata.etag (W/"changeKey")."""
    expected = ctx.req.headers.get("if-match")
    if not expected or expected.strip() == "*":
        return
    tags = {t.strip().removeprefix("W/").strip('"') for t in expected.split(",")}
    if message.change_key not in tags:
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed "
            "in the request does not match the current change key for the item.",
        )


async def patch_message(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    message = ctx.message(mailbox)
    changes = _validate_patch(ctx, ctx.req.json_object())
    _check_if_match(ctx, message)
    sensitive = sorted(SENSITIVE & changes.keys())
    if (
        sensitive
        and not message.is_draft
        and ctx.state.config.enforce_sensitive_properties
        and not (ctx.claims.roles & MAIL_ADVANCED)
    ):
        raise access_denied(
            "Access is denied. Updating the properties "
            + ", ".join(f"'{p}'" for p in sensitive)
            + " of a non-draft message requires the Mail-Advanced.ReadWrite application "
            "permission; the message was not changed."
        )
    _apply_patch(ctx, mailbox, message, changes)
    body = {
        "@odata.context": ctx.context_url(f"{_users_segment(ctx)}/messages/$entity"),
        **_render(ctx, message, mailbox),
    }
    return GraphResponse(200, body, headers=_response_headers(ctx))


async def delete_message(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    message = ctx.message(mailbox)
    _check_if_match(ctx, message)
    deleted_items = mailbox.folder("deleteditems")
    assert deleted_items is not None
    # Graph's DELETE moves the item to Deleted Items; deleting it there removes it for good.
    if _within(mailbox, message.folder_id, deleted_items.id):
        mailbox.remove(message)
    else:
        mailbox.move(message, deleted_items)
    return GraphResponse(204)


async def permanent_delete(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    mailbox.remove(ctx.message(mailbox))
    return GraphResponse(204)


def _within(mailbox: Mailbox, folder_id: str, ancestor_id: str) -> bool:
    current = mailbox.folders.get(folder_id)
    while current is not None:
        if current.id == ancestor_id:
            return True
        current = mailbox.folders.get(current.parent_id or "")
    return False


def _destination(ctx: Ctx, mailbox: Mailbox) -> Folder:
    data = ctx.req.json_object()
    destination = data.get("destinationId") or data.get("DestinationId")
    if not isinstance(destination, str) or not destination:
        raise bad_request("The destinationId parameter is required.", "ErrorInvalidRequest")
    folder = mailbox.folder(destination)
    if folder is None:
        if len(destination) < 40:
            raise bad_request("Id is malformed.", "ErrorInvalidIdMalformed")
        raise item_not_found()
    return folder


async def move_message(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    message = ctx.message(mailbox)
    destination = _destination(ctx, mailbox)
    mailbox.move(message, destination)
    body = {
        "@odata.context": ctx.context_url(f"{_users_segment(ctx)}/messages/$entity"),
        **_render(ctx, message, mailbox),
    }
    return GraphResponse(201, body, headers=_response_headers(ctx))


async def copy_message(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    message = ctx.message(mailbox)
    destination = _destination(ctx, mailbox)
    clone = mailbox.copy(message, destination)
    body = {
        "@odata.context": ctx.context_url(f"{_users_segment(ctx)}/messages/$entity"),
        **_render(ctx, clone, mailbox),
    }
    return GraphResponse(201, body, headers=_response_headers(ctx))


# Attachments --------------------------------------------------------------------------


async def list_attachments(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    message = ctx.message(mailbox)
    body = {
        "@odata.context": ctx.context_url(
            f"{_users_segment(ctx)}/messages('{ctx.message_id(message)}')/attachments"
        ),
        "value": [attachment_json(a) for a in message.attachments],
    }
    return GraphResponse(200, body)


def _attachment(ctx: Ctx, message: Message) -> Any:
    for attachment in message.attachments:
        if attachment.id == ctx.params["attachment"]:
            return attachment
    raise item_not_found()


async def get_attachment(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    message = ctx.message(mailbox)
    attachment = _attachment(ctx, message)
    expand = (ctx.req.query.get("$expand") or "").lower()
    item = None
    if attachment.kind == "item" and "item" in expand:
        item = compose.message_from_mime(mailbox, attachment.content, message.received)
    body = {
        "@odata.context": ctx.context_url(
            f"{_users_segment(ctx)}/messages('{ctx.message_id(message)}')/attachments/$entity"
        ),
        **attachment_json(attachment, expand_item=item, mailbox=mailbox),
    }
    return GraphResponse(200, body)


async def get_attachment_value(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    attachment = _attachment(ctx, ctx.message(mailbox))
    if attachment.kind == "reference":
        raise bad_request("The $value of a reference attachment is not available.", "ErrorInvalidRequest")
    if attachment.kind == "item":
        return GraphResponse(200, attachment.content, "message/rfc822")
    return GraphResponse(200, attachment.content, attachment.content_type or "application/octet-stream")


#: Graph takes a file attachment in one POST only under 3 MB; larger ones need an upload session
#: (``POST .../attachments/createUploadSession``), which the sim does not offer.
MAX_POST_ATTACHMENT_BYTES = 3 * 1024 * 1024


async def add_attachment(ctx: Ctx) -> GraphResponse:
    """``POST .../messages/{id}/attachments``: a ``#microsoft.graph.fileAttachment`` with
    ``contentBytes`` (base64). The message gets a new changeKey and lastModifiedDateTime."""
    mailbox = ctx.mailbox(MAIL_WRITE)
    message = ctx.message(mailbox)
    data = ctx.req.json_object()
    if str(data.get("@odata.type", "")).lower().lstrip("#") != "microsoft.graph.fileattachment":
        raise bad_request(
            "The sim only adds #microsoft.graph.fileAttachment attachments.", "ErrorInvalidRequest"
        )
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise bad_request("The 'name' property is required.", "ErrorInvalidRequest")
    now = ctx.state.clock.now()
    (attachment,) = compose.parse_file_attachments([data], mailbox.user.id, now)
    if attachment.size > MAX_POST_ATTACHMENT_BYTES:
        raise GraphError(
            413,
            "ErrorRequestEntityTooLarge",
            f"The attachment is {attachment.size} bytes; attachments of 3 MB or more must be "
            "uploaded with an upload session (createUploadSession).",
        )
    message.attachments.append(attachment)
    _reflect_attachments(ctx, message, add=attachment)
    mailbox.touch(message)
    body = {
        "@odata.context": ctx.context_url(
            f"{_users_segment(ctx)}/messages('{ctx.message_id(message)}')/attachments/$entity"
        ),
        **attachment_json(attachment),
    }
    return GraphResponse(201, body)


async def delete_attachment(ctx: Ctx) -> GraphResponse:
    """``DELETE .../messages/{id}/attachments/{id}``: 204, or 404 for an unknown id."""
    mailbox = ctx.mailbox(MAIL_WRITE)
    message = ctx.message(mailbox)
    attachment = _attachment(ctx, message)
    message.attachments.remove(attachment)
    _reflect_attachments(ctx, message, remove=attachment)
    mailbox.touch(message)
    return GraphResponse(204)


def reflect_added(state: Any, message: Message, attachment: Any) -> None:
    """The MIME after an upload session added ``attachment`` (see :func:`_reflect_attachments`)."""
    _reflect(state, message, add=attachment)


def _reflect_attachments(ctx: Ctx, message: Message, *, add: Any = None, remove: Any = None) -> None:
    _reflect(ctx.state, message, add=add, remove=remove)


def _reflect(state: Any, message: Message, *, add: Any = None, remove: Any = None) -> None:
    """$value after an attachment change: Exchange converts the stored item, so the MIME shows it."""
    if not state.config.mime_reflects_patches:
        return
    try:
        message.mime = mime.change_attachments(
            message.mime,
            remove=remove.name if remove is not None else None,
            add=(add.name, add.content_type or "application/octet-stream", add.content)
            if add is not None
            else None,
        )
    except Exception:  # noqa: S110 - unparseable original: keep the bytes as delivered
        pass


# Drafts and sending -------------------------------------------------------------------


async def create_message(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    folder = ctx.folder(mailbox) if "folder" in ctx.params else mailbox.folder("drafts")
    assert folder is not None
    data = ctx.req.json_object()
    owner = {"name": mailbox.user.display_name, "address": mailbox.user.address}
    message = compose.message_from_json(mailbox, data, is_draft=True, from_=owner)
    mailbox.add(message, folder)
    body = {
        "@odata.context": ctx.context_url(f"{_users_segment(ctx)}/messages/$entity"),
        **_render(ctx, message, mailbox),
    }
    return GraphResponse(201, body, headers=_response_headers(ctx))


def _deliver_copies(ctx: Ctx, sender: Mailbox, message: Message) -> None:
    """Internal recipients get the MIME in their Inbox; others go to the sim's outbox."""
    recipients = message.to + message.cc + message.bcc
    seen: set[str] = set()
    for recipient in recipients:
        address = recipient["address"].lower()
        if address in seen:
            continue
        seen.add(address)
        user = ctx.tenant.find_user(address)
        if user is None:
            ctx.state.outbox.append(
                {
                    "from": sender.user.user_principal_name,
                    "to": address,
                    "subject": message.subject,
                    "internetMessageId": message.internet_message_id,
                }
            )
            continue
        target = ctx.state.mailboxes[user.id]
        inbox = target.folder("inbox")
        assert inbox is not None
        target.add(compose.message_from_mime(target, message.mime, ctx.state.clock.now()), inbox)


async def send_mail(ctx: Ctx) -> GraphResponse:
    user = ctx.user()
    if not ctx.has_any(MAIL_SEND):
        raise access_denied()
    mailbox = ctx.state.mailboxes[user.id]
    data = ctx.req.json_object()
    payload = data.get("message") or data.get("Message")
    if not isinstance(payload, dict):
        raise bad_request("The 'message' parameter is required.", "ErrorInvalidRequest")
    owner = {"name": user.display_name, "address": user.address}
    message = compose.message_from_json(mailbox, payload, is_draft=False, from_=owner)
    if not (message.to or message.cc or message.bcc):
        raise bad_request(
            "At least one recipient is required, but none were found.", "ErrorInvalidRecipients"
        )
    save = data.get("saveToSentItems", True)
    if save is not False and str(save).lower() != "false":
        sent_items = mailbox.folder("sentitems")
        assert sent_items is not None
        mailbox.add(message, sent_items)
    _deliver_copies(ctx, mailbox, message)
    return GraphResponse(202)


async def send_draft(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    if not ctx.has_any(MAIL_SEND):
        raise access_denied()
    message = ctx.message(mailbox)
    if not message.is_draft:
        raise bad_request("Only draft messages can be sent.", "ErrorInvalidOperation")
    owner = {"name": mailbox.user.display_name, "address": mailbox.user.address}
    message.is_draft = False
    message.from_ = message.sender = owner
    message.sent = ctx.state.clock.now()
    message.mime = mime.build_mime(
        subject=message.subject,
        body=message.body,
        body_type=message.body_type,
        from_=owner,
        to=message.to,
        cc=message.cc,
        reply_to=message.reply_to,
        message_id=message.internet_message_id,
        date=message.sent,
    )
    message.headers = mime.parse_mail(message.mime).headers
    sent_items = mailbox.folder("sentitems")
    assert sent_items is not None
    mailbox.move(message, sent_items)
    _deliver_copies(ctx, mailbox, message)
    return GraphResponse(202)


def register(router: Router) -> None:
    for prefix in (
        "/users/{user}/mailFolders/{folder}/childFolders/{child}",
        "/users/{user}/mailFolders/{folder}",
        "/users/{user}",
    ):
        base = f"{prefix}/messages"
        router.add("GET", f"{base}/$count", count_messages)
        router.add("GET", base, list_messages)
        router.add("POST", base, create_message)
        item = f"{base}/{{message}}"
        router.add("GET", f"{item}/$value", get_message_value)
        router.add("POST", f"{item}/move", move_message)
        router.add("POST", f"{item}/copy", copy_message)
        router.add("POST", f"{item}/permanentDelete", permanent_delete)
        router.add("POST", f"{item}/send", send_draft)
        router.add("GET", f"{item}/attachments", list_attachments)
        router.add("POST", f"{item}/attachments", add_attachment)
        router.add("DELETE", f"{item}/attachments/{{attachment}}", delete_attachment)
        router.add("GET", f"{item}/attachments/{{attachment}}/$value", get_attachment_value)
        router.add("GET", f"{item}/attachments/{{attachment}}", get_attachment)
        router.add("GET", item, get_message)
        router.add("PATCH", item, patch_message)
        router.add("DELETE", item, delete_message)
    router.add("POST", "/users/{user}/sendMail", send_mail)
