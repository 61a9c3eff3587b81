"""Graph mailFolder endpoints, including hidden folders and childFolders."""

from __future__ import annotations

from typing import Any

from . import odata
from .context import MAIL_READ, MAIL_WRITE, Ctx
from .errors import GraphError, bad_request
from .mailbox import Folder, Mailbox
from .router import GraphResponse, Router
from .serialize import FOLDER_PROPS, folder_json, parse_select

FOLDER_TYPE = "microsoft.graph.mailFolder"
DEFAULT_PAGE = 10


def _segment(ctx: Ctx) -> str:
    return f"users('{ctx.params['user']}')/mailFolders"


def _select(ctx: Ctx) -> list[str] | None:
    return parse_select(ctx.req.query.get("$select"), frozenset(FOLDER_PROPS), FOLDER_TYPE)


def _render(folder: Folder, mailbox: Mailbox, select: list[str] | None) -> dict[str, Any]:
    data = folder_json(folder, mailbox)
    if select is None:
        return data
    return {"id": data["id"], **{k: data[k] for k in select}}


def _list(ctx: Ctx, mailbox: Mailbox, parent: Folder) -> GraphResponse:
    query = ctx.req.query
    include_hidden = query.get("includeHiddenFolders", "").lower() == "true"
    folders = [f for f in mailbox.children(parent.id) if include_hidden or not f.is_hidden]
    select = _select(ctx)
    top = odata.parse_int(query, "$top", 1, 1000) or DEFAULT_PAGE
    skip = odata.parse_int(query, "$skip", 0) or 0
    page = folders[skip : skip + top]
    body: dict[str, Any] = {"@odata.context": ctx.context_url(_segment(ctx))}
    if query.get("$count", "").lower() == "true":
        body["@odata.count"] = len(folders)
    body["value"] = [_render(f, mailbox, select) for f in page]
    if skip + top < len(folders):
        next_query = dict(query)
        next_query["$skip"] = str(skip + top)
        next_query["$top"] = str(top)
        body["@odata.nextLink"] = ctx.link(ctx.req.path, next_query)
    return GraphResponse(200, body)


async def list_folders(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    return _list(ctx, mailbox, mailbox.root)


async def list_child_folders(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    return _list(ctx, mailbox, ctx.folder(mailbox))


async def get_folder(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_READ)
    folder = ctx.folder(mailbox)
    body = {
        "@odata.context": ctx.context_url(f"{_segment(ctx)}/$entity"),
        **_render(folder, mailbox, _select(ctx)),
    }
    return GraphResponse(200, body)


def _create(ctx: Ctx, mailbox: Mailbox, parent: Folder) -> GraphResponse:
    data = ctx.req.json_object()
    lookup = {k.lower(): v for k, v in data.items() if not k.startswith("@odata")}
    unknown = set(lookup) - {"displayname", "ishidden"}
    if unknown:
        raise bad_request(
            f"The property '{sorted(unknown)[0]}' cannot be set when creating a folder. "
            "displayName and isHidden are the only writable properties.",
            "ErrorInvalidRequest",
        )
    name = lookup.get("displayname")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("The displayName property is required.", "ErrorInvalidRequest")
    hidden = lookup.get("ishidden", False)
    if not isinstance(hidden, bool):
        raise bad_request("Invalid value for property 'isHidden'.", "RequestBodyRead")
    folder = mailbox.create_folder(parent, name, hidden)
    body = {
        "@odata.context": ctx.context_url(f"{_segment(ctx)}/$entity"),
        **folder_json(folder, mailbox),
    }
    return GraphResponse(201, body)


async def create_folder(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    return _create(ctx, mailbox, mailbox.root)


async def create_child_folder(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    return _create(ctx, mailbox, ctx.folder(mailbox))


async def patch_folder(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    folder = ctx.folder(mailbox)
    data = ctx.req.json_object()
    name: str | None = None
    for key, value in data.items():
        lowered = key.lower()
        if lowered.startswith("@odata"):
            continue
        if lowered == "ishidden":
            # isHidden can only be chosen when the folder is created.
            raise bad_request(
                "The isHidden property can only be set when the folder is created; it cannot be updated.",
                "ErrorInvalidRequest",
            )
        if lowered != "displayname":
            raise bad_request(f"The property '{key}' cannot be updated.", "ErrorInvalidRequest")
        if not isinstance(value, str) or not value.strip():
            raise bad_request("Invalid value for property 'displayName'.", "RequestBodyRead")
        name = value
    if name is not None:
        if folder.well_known:
            raise GraphError(
                400, "ErrorCannotRenameDefaultFolder", "A distinguished folder cannot be renamed."
            )
        mailbox.rename_folder(folder, name)
    body = {
        "@odata.context": ctx.context_url(f"{_segment(ctx)}/$entity"),
        **folder_json(folder, mailbox),
    }
    return GraphResponse(200, body)


async def delete_folder(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    folder = ctx.folder(mailbox)
    if folder.well_known:
        raise GraphError(400, "ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
    mailbox.delete_folder(folder)
    return GraphResponse(204)


def register(router: Router) -> None:
    router.add("GET", "/users/{user}/mailFolders", list_folders)
    router.add("POST", "/users/{user}/mailFolders", create_folder)
    for item in (
        "/users/{user}/mailFolders/{folder}/childFolders/{child}",
        "/users/{user}/mailFolders/{folder}",
    ):
        router.add("GET", f"{item}/childFolders", list_child_folders)
        router.add("POST", f"{item}/childFolders", create_child_folder)
        router.add("GET", item, get_folder)
        router.add("PATCH", item, patch_folder)
        router.add("DELETE", item, delete_folder)
