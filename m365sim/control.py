"""The ``/_sim`` control API (no auth, loopback only): deliver mail, inspect, inject faults."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import compose, control_users, ids
from .clock import iso, parse_datetime
from .directory import Grant, SeedError, resolve_mailboxes
from .faults import Faults
from .mailbox import Attachment, Mailbox
from .stats import Stats
from .subscriptions import is_loopback

if TYPE_CHECKING:
    from .state import SimState

LIFECYCLE_EVENTS = {"reauthorizationRequired", "subscriptionRemoved", "missed"}


def _state(request: Request) -> SimState:
    return request.app.state.sim  # type: ignore[no-any-return]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("a JSON object is expected")
    return data


def _mailbox(state: SimState, ref: str) -> Mailbox | None:
    user = state.directory.find_user_anywhere(ref)
    return state.mailboxes.get(user.id) if user else None


async def deliver(request: Request) -> Response:
    """Put raw RFC 822 in a user's Inbox (or ?folder=) and fire notifications."""
    state = _state(request)
    raw = await request.body()
    params = request.query_params
    received = state.clock.now()
    if params.get("received"):
        try:
            received = parse_datetime(params["received"])
        except ValueError:
            return _error(400, "received must be an ISO 8601 timestamp")
    targets: list[Mailbox] = []
    if params.get("user"):
        for ref in params["user"].split(","):
            mailbox = _mailbox(state, ref)
            if mailbox is None:
                return _error(404, f"unknown user {ref}")
            targets.append(mailbox)
    else:
        parsed = compose.mime.parse_mail(raw)
        for recipient in parsed.to + parsed.cc + parsed.bcc:
            mailbox = _mailbox(state, recipient["address"])
            if mailbox is not None and mailbox not in targets:
                targets.append(mailbox)
        if not targets:
            return _error(400, "no ?user= given and no recipient is a sim mailbox")
    delivered = []
    for mailbox in targets:
        folder = mailbox.folder(params.get("folder", "inbox"))
        if folder is None:
            return _error(404, f"unknown folder {params.get('folder')}")
        message = compose.message_from_mime(mailbox, raw, received)
        message.is_read = params.get("read", "").lower() == "true"
        mailbox.add(message, folder)
        delivered.append(
            {
                "user": mailbox.user.user_principal_name,
                "userId": mailbox.user.id,
                "tenantId": mailbox.user.tenant_id,
                "id": message.rest_id,
                "immutableId": message.immutable_id,
                "internetMessageId": message.internet_message_id,
                "folderId": folder.id,
                "subject": message.subject,
            }
        )
    return JSONResponse({**delivered[0], "delivered": delivered}, status_code=201)


async def attach(request: Request) -> Response:
    """Add a reference attachment (Exchange creates those from Outlook clients, not MIME)."""
    state = _state(request)
    mailbox = _mailbox(state, request.query_params.get("user", ""))
    if mailbox is None:
        return _error(404, "unknown user")
    message = mailbox.get_message(request.query_params.get("id", ""), True, False)
    if message is None:
        return _error(404, "unknown message id")
    data = await _json(request)
    attachment = Attachment(
        id=ids.attachment_id(mailbox.user.id),
        kind="reference",
        name=str(data.get("name", "link")),
        content_type=data.get("contentType"),
        content=b"",
        last_modified=state.clock.now(),
        source_url=data.get("sourceUrl"),
    )
    message.attachments.append(attachment)
    mailbox.touch(message)
    return JSONResponse({"attachmentId": attachment.id}, status_code=201)


async def mailbox_view(request: Request) -> Response:
    state = _state(request)
    mailbox = _mailbox(state, request.path_params["upn"])
    if mailbox is None:
        return _error(404, "unknown user")
    folders = []
    for folder in mailbox.folders.values():
        if folder.parent_id is None:
            continue
        folders.append(
            {
                "id": folder.id,
                "displayName": folder.display_name,
                "path": mailbox.folder_path(folder),
                "wellKnownName": folder.well_known,
                "isHidden": folder.is_hidden,
                "parentFolderId": folder.parent_id,
                "messages": [
                    {
                        "id": m.rest_id,
                        "immutableId": m.immutable_id,
                        "subject": m.subject,
                        "categories": list(m.categories),
                        "isRead": m.is_read,
                        "isDraft": m.is_draft,
                        "internetMessageId": m.internet_message_id,
                        "receivedDateTime": iso(m.received),
                        "hasAttachments": m.has_attachments,
                        "bodyContentType": m.body_type,
                        "body": m.body,
                        "flag": m.flag,
                    }
                    for m in mailbox.messages_in(folder.id)
                ],
            }
        )
    user = mailbox.user
    return JSONResponse(
        {
            "user": {
                "id": user.id,
                "userPrincipalName": user.user_principal_name,
                "tenantId": user.tenant_id,
            },
            "folders": folders,
        }
    )


async def stats(request: Request) -> Response:
    state = _state(request)
    data = state.stats.as_dict()
    data["notifications"]["endpoints"] = state.notifier.endpoint_stats()
    data["notifications"]["pending"] = state.notifier.pending()
    return JSONResponse(data)


async def effects(request: Request) -> Response:
    """Per message (immutable id): the effects Graph applied and the folder it is in now.

    Every message of the mailboxes asked for (``?user=UPN[,UPN]``; default: all) is listed, with
    or without effects, plus messages that have effects but no longer exist (``folder`` null)."""
    state = _state(request)
    refs = [r for r in request.query_params.get("user", "").split(",") if r]
    mailboxes = [_mailbox(state, ref) for ref in refs] if refs else list(state.mailboxes.values())
    if any(m is None for m in mailboxes):
        return _error(404, "unknown user")
    out: dict[str, dict[str, Any]] = {}
    users = set()
    for mailbox in mailboxes:
        assert mailbox is not None
        upn = mailbox.user.user_principal_name.lower()
        users.add(upn)
        for message in mailbox.messages.values():
            folder = mailbox.folders.get(message.folder_id)
            recorded = state.stats.effects.get(message.immutable_id)
            counts = recorded.as_dict() if recorded else {"user": upn, "body_patches": 0,
                                                          "category_writes": 0, "moves": {}}
            out[message.immutable_id] = {
                **counts,
                "internetMessageId": message.internet_message_id,
                "folder": folder.display_name if folder else None,
                "folderPath": mailbox.folder_path(folder) if folder else None,
            }
    for immutable_id, recorded in state.stats.effects.items():
        if immutable_id not in out and recorded.user in users:
            out[immutable_id] = {**recorded.as_dict(), "internetMessageId": None, "folder": None,
                                 "folderPath": None}
    return JSONResponse({"messages": out, "faults_fired": state.stats.as_dict()["faults_fired"]})


async def stats_reset(request: Request) -> Response:
    _state(request).stats = Stats()
    return JSONResponse({"reset": True})


async def seed(request: Request) -> Response:
    return JSONResponse(_state(request).describe_seed())


async def grants(request: Request) -> Response:
    state = _state(request)
    data = await _json(request)
    tenant = state.directory.find_tenant(str(data.get("tenant", "")))
    app = state.directory.find_app(str(data.get("app", "")))
    if tenant is None or app is None:
        return _error(404, "unknown tenant or app")
    key = (tenant.id, app.client_id)
    if data.get("consented") is False:
        state.directory.grants.pop(key, None)  # removes the service principal: no tokens at all
        return JSONResponse({"tenant": tenant.id, "app": app.client_id, "consented": False})
    permissions = data.get("permissions")
    if not isinstance(permissions, list):
        return _error(400, "permissions must be a list")
    try:
        mailboxes = (
            resolve_mailboxes(tenant, data["mailboxes"]) if data.get("mailboxes") is not None else None
        )
    except SeedError as exc:
        return _error(400, str(exc))
    state.directory.grants[key] = Grant(set(permissions), mailboxes)
    return JSONResponse(
        {"tenant": tenant.id, "app": app.client_id, "permissions": sorted(permissions), "consented": True}
    )


async def faults(request: Request) -> Response:
    state = _state(request)
    if request.method == "GET":
        return JSONResponse(state.faults.as_dict())
    try:
        state.faults = Faults.from_dict(await _json(request))
    except (TypeError, ValueError) as exc:
        return _error(400, str(exc))
    return JSONResponse(state.faults.as_dict())


async def config(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        try:
            state.config.update(await _json(request))
        except ValueError as exc:
            return _error(400, str(exc))
    return JSONResponse(state.config.as_dict())


async def lifecycle(request: Request) -> Response:
    state = _state(request)
    data = await _json(request)
    event = data.get("event")
    if event not in LIFECYCLE_EVENTS:
        return _error(400, f"event must be one of {sorted(LIFECYCLE_EVENTS)}")
    sub = state.subscriptions.get(str(data.get("subscription_id", "")))
    if sub is None:
        return _error(404, "unknown subscription")
    if event == "reauthorizationRequired":
        sub.needs_reauthorization = True  # deliveries pause until reauthorize or renewal
    elif event == "subscriptionRemoved":
        del state.subscriptions[sub.id]
    sent = state.notifier.lifecycle(sub, event)
    return JSONResponse({"subscription_id": sub.id, "event": event, "sent": sent})


async def reset(request: Request) -> Response:
    state = _state(request)
    await state.notifier.cancel_all()
    state.reset()
    return JSONResponse({"reset": True})


async def clock(request: Request) -> Response:
    state = _state(request)
    data = await _json(request)
    advance = data.get("advance", 0)
    if not isinstance(advance, int | float):
        return _error(400, "advance must be a number of seconds")
    state.clock.advance(float(advance))
    return JSONResponse({"offset": state.clock.offset, "now": iso(state.clock.now())})


async def expire_delta(request: Request) -> Response:
    state = _state(request)
    count = len(state.delta_tokens)
    state.delta_tokens.clear()
    return JSONResponse({"expired": count})


async def subscriptions(request: Request) -> Response:
    state = _state(request)
    base = f"{request.url.scheme}://{request.url.netloc}"
    return JSONResponse(
        [
            {
                **s.as_json(base),
                "tenantId": s.tenant_id,
                "needsReauthorization": s.needs_reauthorization,
                "immutableIds": s.immutable_ids,
            }
            for s in state.subscriptions.values()
        ]
    )


async def outbox(request: Request) -> Response:
    return JSONResponse(_state(request).outbox)


async def drain(request: Request) -> Response:
    state = _state(request)
    timeout = float(request.query_params.get("timeout", "10"))
    done = await state.notifier.drain(timeout)
    return JSONResponse({"drained": done, "pending": state.notifier.pending()})


async def save(request: Request) -> Response:
    from . import persist

    return JSONResponse({"saved": str(persist.save(_state(request)))})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def loopback_only(request: Request) -> bool:
    return request.client is None or is_loopback(request.client.host)


def routes() -> list[Route]:
    return [
        Route("/_sim/health", health, methods=["GET"]),
        Route("/_sim/users", control_users.put_user, methods=["POST"]),
        Route("/_sim/users/{upn}", control_users.delete_user, methods=["DELETE"]),
        Route("/_sim/deliver", deliver, methods=["POST"]),
        Route("/_sim/attach", attach, methods=["POST"]),
        Route("/_sim/mailbox/{upn}", mailbox_view, methods=["GET"]),
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/stats/reset", stats_reset, methods=["POST"]),
        Route("/_sim/effects", effects, methods=["GET"]),
        Route("/_sim/seed", seed, methods=["GET"]),
        Route("/_sim/grants", grants, methods=["POST"]),
        Route("/_sim/faults", faults, methods=["GET", "POST"]),
        Route("/_sim/config", config, methods=["GET", "POST"]),
        Route("/_sim/lifecycle", lifecycle, methods=["POST"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/clock", clock, methods=["POST"]),
        Route("/_sim/delta/expire", expire_delta, methods=["POST"]),
        Route("/_sim/subscriptions", subscriptions, methods=["GET"]),
        Route("/_sim/outbox", outbox, methods=["GET"]),
        Route("/_sim/notifications/drain", drain, methods=["POST"]),
        Route("/_sim/save", save, methods=["POST"]),
    ]
