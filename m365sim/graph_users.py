"""Graph users endpoints (directory reads need User.Read.All or similar)."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from . import odata
from .context import USER_READ, Ctx
from .directory import Tenant, User, UsersDeltaState
from .errors import GraphError, bad_request
from .router import GraphResponse, Router
from .serialize import USER_PROPS, parse_select, user_json

USER_TYPE = "microsoft.graph.user"
DEFAULT_PAGE = 100
MAX_PAGE = 999
USER_FILTER = {
    "userprincipalname": "string",
    "mail": "string",
    "displayname": "string",
    "givenname": "string",
    "surname": "string",
    "jobtitle": "string",
    "id": "string",
    "accountenabled": "bool",
}


def _require(ctx: Ctx) -> None:
    if not ctx.has_any(USER_READ):
        raise GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )


def _get(user: User, path: list[str]) -> Any:
    return {
        "userprincipalname": user.user_principal_name,
        "mail": user.mail,
        "displayname": user.display_name,
        "givenname": user.given_name,
        "surname": user.surname,
        "jobtitle": user.job_title,
        "id": user.id,
        "accountenabled": user.account_enabled,
    }.get("/".join(path))


def _skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        return int(json.loads(base64.urlsafe_b64decode(padded))["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_request("Invalid $skiptoken.", "Request_BadRequest") from exc


async def list_users(ctx: Ctx) -> GraphResponse:
    _require(ctx)
    query = ctx.req.query
    select = parse_select(query.get("$select"), USER_PROPS, USER_TYPE)
    users = sorted(ctx.tenant.users.values(), key=lambda u: u.id)
    if query.get("$filter"):
        parsed = odata.parse_filter(query["$filter"], USER_FILTER, USER_TYPE)
        users = [u for u in users if parsed.matches(u, _get)]
    top = odata.parse_int(query, "$top", 1, MAX_PAGE) or DEFAULT_PAGE
    offset = _offset(query["$skiptoken"]) if query.get("$skiptoken") else 0
    page = users[offset : offset + top]
    select_part = f"({','.join(select)})" if select else ""
    body: dict[str, Any] = {"@odata.context": ctx.context_url(f"users{select_part}")}
    if query.get("$count", "").lower() == "true":
        body["@odata.count"] = len(users)
    body["value"] = [user_json(u, select) for u in page]
    if offset + top < len(users):
        next_query = {k: v for k, v in query.items() if k != "$skiptoken"}
        next_query["$top"] = str(top)
        next_query["$skiptoken"] = _skiptoken(offset + top)
        body["@odata.nextLink"] = ctx.link("/users", next_query)
    return GraphResponse(200, body)


async def get_user(ctx: Ctx) -> GraphResponse:
    _require(ctx)
    ref = ctx.params["user"]
    user = ctx.tenant.find_user(ref)
    if user is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{ref}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    select = parse_select(ctx.req.query.get("$select"), USER_PROPS, USER_TYPE)
    select_part = f"({','.join(select)})" if select else ""
    body = {
        "@odata.context": ctx.context_url(f"users{select_part}/$entity"),
        **user_json(user, select),
    }
    return GraphResponse(200, body)


MAX_DELTA_TOKENS = 2000  # per tenant; the oldest are forgotten (-> 410), as Graph would


def _gone() -> GraphError:
    return GraphError(
        410,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be "
        "synchronized again.",
    )


def _store_token(tenant: Tenant, state: UsersDeltaState) -> str:
    token = secrets.token_urlsafe(24)
    tenant.delta_tokens[token] = state
    while len(tenant.delta_tokens) > MAX_DELTA_TOKENS:
        del tenant.delta_tokens[next(iter(tenant.delta_tokens))]
    return token


async def users_delta(ctx: Ctx) -> GraphResponse:
    """``/users/delta``: a first round lists every user (pages of nextLinks ending in a
    deltaLink); a round from a deltaLink lists the users added or changed since, and removed
    ones as ``{"id", "@removed": {"reason": "changed"}}``, as Graph does."""
    _require(ctx)
    tenant = ctx.tenant
    query = ctx.req.query
    max_page = ctx.req.prefer_value("odata.maxpagesize")
    top = odata.parse_int(query, "$top", 1, MAX_PAGE)
    page_size = int(max_page) if max_page and max_page.isdigit() else (top or DEFAULT_PAGE)
    delta_token, skip_token = query.get("$deltatoken"), query.get("$skiptoken")
    if delta_token or skip_token:
        previous = tenant.delta_tokens.get(delta_token or skip_token or "")
        if previous is None:
            raise _gone()
        if skip_token:
            del tenant.delta_tokens[skip_token]  # a page is consumed once
            current = previous
        else:
            since = previous.seq
            changed = sorted((seq, uid) for uid, seq in tenant.changed.items() if seq > since)
            removed = sorted((seq, uid) for uid, seq in tenant.removed.items() if seq > since)
            current = UsersDeltaState(
                tenant.seq, previous.select, [uid for _, uid in sorted(changed + removed)]
            )
    else:
        select_text = query.get("$select")
        parse_select(select_text, USER_PROPS, USER_TYPE)
        current = UsersDeltaState(tenant.seq, select_text, sorted(tenant.users))
    select = parse_select(current.select, USER_PROPS, USER_TYPE)
    page, rest = current.pending[:page_size], current.pending[page_size:]
    value: list[dict[str, Any]] = []
    for user_id in page:
        user = tenant.users.get(user_id)
        if user is None:
            value.append({"id": user_id, "@removed": {"reason": "changed"}})
        else:
            value.append(user_json(user, select))
    body: dict[str, Any] = {"@odata.context": ctx.context_url("users"), "value": value}
    follow = UsersDeltaState(current.seq, current.select, rest)
    if rest:
        body["@odata.nextLink"] = ctx.link("/users/delta", {"$skiptoken": _store_token(tenant, follow)})
    else:
        body["@odata.deltaLink"] = ctx.link("/users/delta", {"$deltatoken": _store_token(tenant, follow)})
    return GraphResponse(200, body)


async def list_group_user_members(ctx: Ctx) -> GraphResponse:
    """``/groups/{id}/members/microsoft.graph.user``: the group's user members, paged as /users."""
    _require(ctx)
    members = ctx.tenant.groups.get(ctx.params["group"].lower())
    if members is None:
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{ctx.params['group']}' does not exist.")
    query = ctx.req.query
    select = parse_select(query.get("$select"), USER_PROPS, USER_TYPE)
    users = sorted((ctx.tenant.users[m] for m in members if m in ctx.tenant.users), key=lambda u: u.id)
    top = odata.parse_int(query, "$top", 1, MAX_PAGE) or DEFAULT_PAGE
    offset = _offset(query["$skiptoken"]) if query.get("$skiptoken") else 0
    body: dict[str, Any] = {
        "@odata.context": ctx.context_url("users"),
        "value": [user_json(u, select) for u in users[offset : offset + top]],
    }
    if offset + top < len(users):
        next_query = {k: v for k, v in query.items() if k != "$skiptoken"}
        next_query["$top"] = str(top)
        next_query["$skiptoken"] = _skiptoken(offset + top)
        body["@odata.nextLink"] = ctx.link(ctx.req.path, next_query)
    return GraphResponse(200, body)


def register(router: Router) -> None:
    # .../members/microsoft.graph.user: the router drops the cast's "microsoft.graph." prefix.
    router.add("GET", "/groups/{group}/members/user", list_group_user_members)
    router.add("GET", "/users", list_users)
    router.add("GET", "/users/delta", users_delta)
    router.add("GET", "/users/{user}", get_user)
