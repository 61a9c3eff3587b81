"""Message delta queries: a snapshot round of nextLinks ending in a deltaLink, then changes."""

from __future__ import annotations

import secrets
from typing import Any

from . import odata
from .context import MAIL_READ, Ctx
from .errors import GraphError, bad_request
from .graph_messages import MESSAGE_FILTER, MESSAGE_TYPE, _accessor
from .mailbox import Folder, Mailbox
from .router import GraphResponse, Router
from .serialize import MESSAGE_PROPS, message_json, parse_select
from .state import DeltaState

DEFAULT_PAGE = 10


def _gone() -> GraphError:
    return GraphError(
        410,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be "
        "synchronized again.",
    )


def changes_since(
    mailbox: Mailbox, folder: Folder, since: int, change_type: str | None
) -> list[tuple[str, str, str]]:
    """(kind, immutable id, rest id) of what changed in the folder after ``since``."""
    changes: list[tuple[int, str, str, str]] = []
    present = set()
    for message in mailbox.messages_in(folder.id):
        present.add(message.immutable_id)
        if message.seq > since:
            kind = "created" if message.entered_seq > since else "updated"
            changes.append((message.seq, kind, message.immutable_id, message.rest_id))
    removed: set[str] = set()
    for tomb in mailbox.tombstones:
        if tomb.seq > since and tomb.folder_id == folder.id and tomb.immutable_id not in present:
            if tomb.immutable_id not in removed:
                removed.add(tomb.immutable_id)
                changes.append((tomb.seq, "removed", tomb.immutable_id, tomb.rest_id))
    if change_type == "deleted":
        changes = [c for c in changes if c[1] == "removed"]
    elif change_type in ("created", "updated"):
        changes = [c for c in changes if c[1] == change_type]
    changes.sort()
    return [(kind, imm, rest) for _, kind, imm, rest in changes]


MAX_TOKENS = 20000  # oldest sync states are forgotten (-> 410), as a long-running service would


def _store(ctx: Ctx, state: DeltaState) -> str:
    token = secrets.token_urlsafe(24)
    state.created_at = ctx.state.clock.time()
    tokens = ctx.state.delta_tokens
    tokens[token] = state
    while len(tokens) > MAX_TOKENS:
        del tokens[next(iter(tokens))]
    return token


async def messages_delta(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    folder = ctx.folder(mailbox)
    query = ctx.req.query
    max_page = ctx.req.prefer_value("odata.maxpagesize")
    top = odata.parse_int(query, "$top", 1, 1000)
    page_size = int(max_page) if max_page and max_page.isdigit() else (top or DEFAULT_PAGE)
    delta_token, skip_token = query.get("$deltatoken"), query.get("$skiptoken")
    if delta_token or skip_token:
        token = delta_token or skip_token or ""
        previous = ctx.state.delta_tokens.get(token)
        if previous is None or previous.mailbox_id != mailbox.user.id or previous.folder_id != folder.id:
            raise _gone()
        if skip_token:
            del ctx.state.delta_tokens[token]  # a page is consumed once
            current = previous
        else:
            current = DeltaState(
                mailbox.user.id,
                folder.id,
                mailbox.seq,
                previous.select,
                previous.change_type,
                changes_since(mailbox, folder, previous.seq, previous.change_type),
            )
    else:
        select_text = query.get("$select")
        parse_select(select_text, MESSAGE_PROPS, MESSAGE_TYPE)
        change_type = query.get("changeType")
        if change_type is not None and change_type not in ("created", "updated", "deleted"):
            raise bad_request(f"Invalid changeType '{change_type}'.", "ErrorInvalidUrlQuery")
        items = mailbox.messages_in(folder.id)
        if query.get("$filter"):
            parsed = odata.parse_filter(query["$filter"], MESSAGE_FILTER, MESSAGE_TYPE)
            if set(parsed.properties) != {"receiveddatetime"}:
                raise bad_request(
                    "Delta queries only support $filter on receivedDateTime (ge/gt).",
                    "ErrorInvalidUrlQueryFilter",
                )
            items = [m for m in items if parsed.matches(m, _accessor(ctx))]
        current = DeltaState(
            mailbox.user.id,
            folder.id,
            mailbox.seq,
            select_text,
            change_type,
            [("created", m.immutable_id, m.rest_id) for m in items],
        )
    select = parse_select(current.select, MESSAGE_PROPS, MESSAGE_TYPE)
    page, rest = current.pending[:page_size], current.pending[page_size:]
    body: dict[str, Any] = {
        "@odata.context": ctx.context_url("Collection(message)"),
        "value": [_render(ctx, mailbox, folder, item, select) for item in page],
    }
    follow = DeltaState(
        current.mailbox_id, current.folder_id, current.seq, current.select, current.change_type, rest
    )
    if rest:
        body["@odata.nextLink"] = ctx.link(ctx.req.path, {"$skiptoken": _store(ctx, follow)})
    else:
        body["@odata.deltaLink"] = ctx.link(ctx.req.path, {"$deltatoken": _store(ctx, follow)})
    headers = {"Preference-Applied": f"odata.maxpagesize={page_size}"} if max_page else {}
    if ctx.immutable:
        headers["Preference-Applied"] = ", ".join(
            p for p in (headers.get("Preference-Applied"), 'IdType="ImmutableId"') if p
        )
    return GraphResponse(200, body, headers=headers)


def _render(
    ctx: Ctx, mailbox: Mailbox, folder: Folder, item: tuple[str, str, str], select: list[str] | None
) -> dict[str, Any]:
    kind, immutable_id, rest_id = item
    message = mailbox.messages.get(immutable_id)
    if kind == "removed" or message is None or message.folder_id != folder.id:
        known_id = immutable_id if ctx.immutable else rest_id
        return {"@odata.type": "#microsoft.graph.message", "id": known_id, "@removed": {"reason": "deleted"}}
    return {
        "@odata.type": "#microsoft.graph.message",
        **message_json(
            message,
            mailbox,
            immutable=ctx.immutable,
            select=select,
            normalize_html=ctx.state.config.normalize_html_bodies,
        ),
    }


def register(router: Router) -> None:
    for prefix in (
        "/users/{user}/mailFolders/{folder}/childFolders/{child}",
        "/users/{user}/mailFolders/{folder}",
    ):
        router.add("GET", f"{prefix}/messages/delta", messages_delta)
