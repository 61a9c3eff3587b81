"""``/_sim/users``: add, change and remove directory users (what ``/users/delta`` reports)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import ids
from .directory import User
from .mailbox import Mailbox

if TYPE_CHECKING:
    from .state import SimState


def _state(request: Request) -> SimState:
    return request.app.state.sim  # type: ignore[no-any-return]


async def put_user(request: Request) -> Response:
    """``{tenant, userPrincipalName, displayName?, mail?, accountEnabled?}``: a new user (with
    an empty mailbox) or a change to an existing one."""
    state = _state(request)
    try:
        data: Any = json.loads(await request.body() or b"{}")
    except ValueError:
        return JSONResponse({"error": "a JSON object is expected"}, status_code=400)
    if not isinstance(data, dict) or not data.get("userPrincipalName"):
        return JSONResponse({"error": "userPrincipalName is required"}, status_code=400)
    tenant = state.directory.find_tenant(str(data.get("tenant") or ""))
    if tenant is None:
        return JSONResponse({"error": "unknown tenant"}, status_code=404)
    upn = str(data["userPrincipalName"])
    user = tenant.find_user(upn)
    if user is None:
        user = User(
            id=ids.guid(),
            tenant_id=tenant.id,
            user_principal_name=upn,
            display_name=str(data.get("displayName") or upn.split("@")[0]),
            mail=str(data["mail"]) if data.get("mail") is not None else upn,
            account_enabled=bool(data.get("accountEnabled", True)),
        )
        tenant.add_user(user)
        mailbox = Mailbox(user, state.clock)
        mailbox.listeners.append(state.notifier.on_change)
        state.mailboxes[user.id] = mailbox
        return JSONResponse({"id": user.id, "created": True}, status_code=201)
    if "accountEnabled" in data:
        user.account_enabled = bool(data["accountEnabled"])
    if "displayName" in data:
        user.display_name = str(data["displayName"])
    tenant.touch_user(user.id)
    return JSONResponse({"id": user.id, "created": False})


async def delete_user(request: Request) -> Response:
    state = _state(request)
    user = state.directory.find_user_anywhere(request.path_params["upn"])
    if user is None:
        return JSONResponse({"error": "unknown user"}, status_code=404)
    state.directory.tenants[user.tenant_id].remove_user(user.id)
    state.mailboxes.pop(user.id, None)
    return JSONResponse({"id": user.id, "removed": True})
