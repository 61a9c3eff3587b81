"""Large attachments: ``POST .../messages/{id}/attachments/createUploadSession`` and the upload URL.

As in Graph: the session is for a file of 3 MB to 150 MB; the response's ``uploadUrl`` is
pre-authenticated (a token in the URL, on Outlook's host in Graph, here on the sim's own
``/api/v2.0/AttachmentSessions/{id}``) and a PUT to it that carries an ``Authorization`` header
is refused. Each PUT sends the next range (``Content-Range: bytes start-end/total``, at most
4 MB); the intermediate answer is 200 with ``nextExpectedRanges``; the last is 201 with the new
attachment's URL in ``Location``. The message then has the attachment, a new changeKey and
lastModifiedDateTime, and its MIME shows the file.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import ids
from .clock import iso
from .context import MAIL_WRITE, Ctx
from .errors import bad_request
from .mailbox import Attachment
from .router import GraphResponse, Router

if TYPE_CHECKING:
    from .state import SimState

MIN_BYTES = 3 * 1024 * 1024
MAX_BYTES = 150 * 1024 * 1024
MAX_RANGE_BYTES = 4 * 1024 * 1024
SESSION_LIFETIME = timedelta(hours=1)
UPLOAD_ROUTE = "PUT /api/v2.0/AttachmentSessions/{id}"
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass
class UploadSession:
    id: str
    token: str
    user_id: str
    message_id: str  # immutable id
    name: str
    size: int
    content_type: str
    is_inline: bool
    content_id: str | None
    expires: datetime
    received: bytearray = field(default_factory=bytearray)


async def create_upload_session(ctx: Ctx) -> GraphResponse:
    mailbox = ctx.mailbox(MAIL_WRITE)
    message = ctx.message(mailbox)
    data = ctx.req.json_object()
    item = data.get("AttachmentItem") or data.get("attachmentItem")
    if not isinstance(item, dict):
        raise bad_request("The 'AttachmentItem' parameter is required.", "ErrorInvalidRequest")
    if str(item.get("attachmentType", "file")).lower() != "file":
        raise bad_request("Only file attachments can be uploaded in a session.", "ErrorInvalidRequest")
    name, size = item.get("name"), item.get("size")
    if not isinstance(name, str) or not name or not isinstance(size, int):
        raise bad_request("AttachmentItem needs 'name' and 'size'.", "ErrorInvalidRequest")
    if size < MIN_BYTES:
        raise bad_request(
            "Attachment size must be at least 3 MB for an upload session; POST it to attachments.",
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
        )
    if size > MAX_BYTES:
        raise bad_request("Attachment size must not exceed 150 MB.", "ErrorAttachmentSizeExceeded")
    session = UploadSession(
        id=ids.guid(),
        token=secrets.token_urlsafe(32),
        user_id=mailbox.user.id,
        message_id=message.immutable_id,
        name=name,
        size=size,
        content_type=str(item.get("contentType") or "application/octet-stream"),
        is_inline=bool(item.get("isInline", False)),
        content_id=item.get("contentId"),
        expires=ctx.state.clock.now() + SESSION_LIFETIME,
    )
    ctx.state.upload_sessions[session.id] = session
    body = {
        "@odata.context": ctx.context_url("microsoft.graph.uploadSession"),
        "uploadUrl": f"{ctx.req.base_url}/api/v2.0/AttachmentSessions/{session.id}?authtoken={session.token}",
        "expirationDateTime": iso(session.expires),
        "nextExpectedRanges": ["0"],
    }
    return GraphResponse(201, body)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status)


async def upload_range(request: Request) -> Response:
    state: SimState = request.app.state.sim
    state.stats.count_request(UPLOAD_ROUTE, None, None)
    response = _upload(state, request, await request.body())
    state.stats.by_status[str(response.status_code)] += 1
    return response


def _upload(state: SimState, request: Request, body: bytes) -> Response:
    session = state.upload_sessions.get(request.path_params["session"])
    if session is None or session.expires < state.clock.now():
        state.upload_sessions.pop(request.path_params["session"], None)
        return _error(404, "ErrorItemNotFound", "The upload session was not found or has expired.")
    if not secrets.compare_digest(request.query_params.get("authtoken", ""), session.token):
        return _error(401, "InvalidAuthenticationToken", "The upload URL's token is not valid.")
    if "authorization" in request.headers:
        # The URL is pre-authenticated; Outlook refuses a second credential.
        return _error(
            401, "InvalidAuthenticationToken", "Do not send an Authorization header to the upload URL."
        )
    match = _RANGE.match(request.headers.get("content-range", ""))
    if match is None:
        return _error(400, "InvalidContentRange", "Content-Range 'bytes start-end/total' is required.")
    start, end, total = (int(g) for g in match.groups())
    if total != session.size or start != len(session.received) or end < start or end >= total:
        return _error(
            416, "InvalidRange", f"Expected the range from byte {len(session.received)} of {session.size}."
        )
    if end - start + 1 != len(body) or len(body) > MAX_RANGE_BYTES:
        return _error(
            400, "InvalidContentRange", "The body does not match Content-Range (at most 4 MB per PUT)."
        )
    session.received += body
    if len(session.received) < session.size:
        return JSONResponse(
            {
                "@odata.context": f"{request.url.scheme}://{request.url.netloc}/v1.0/$metadata#microsoft.graph.uploadSession",
                "expirationDateTime": iso(session.expires),
                "nextExpectedRanges": [str(len(session.received))],
            },
            200,
        )
    del state.upload_sessions[session.id]
    mailbox = state.mailboxes.get(session.user_id)
    message = mailbox.messages.get(session.message_id) if mailbox is not None else None
    if mailbox is None or message is None:
        return _error(404, "ErrorItemNotFound", "The item the file was being attached to no longer exists.")
    attachment = Attachment(
        id=ids.attachment_id(session.user_id),
        kind="file",
        name=session.name,
        content_type=session.content_type,
        content=bytes(session.received),
        last_modified=state.clock.now(),
        is_inline=session.is_inline,
        content_id=session.content_id,
    )
    message.attachments.append(attachment)
    from .graph_messages import reflect_added

    reflect_added(state, message, attachment)
    mailbox.touch(message)
    base = f"{request.url.scheme}://{request.url.netloc}/api/v2.0"
    location = (
        f"{base}/Users('{session.user_id}')/Messages('{session.message_id}')/Attachments('{attachment.id}')"
    )
    return Response(status_code=201, headers={"Location": location})


def register(router: Router) -> None:
    for prefix in (
        "/users/{user}/mailFolders/{folder}/childFolders/{child}",
        "/users/{user}/mailFolders/{folder}",
        "/users/{user}",
    ):
        router.add(
            "POST", f"{prefix}/messages/{{message}}/attachments/createUploadSession", create_upload_session
        )


def routes() -> list[Route]:
    return [Route("/api/v2.0/AttachmentSessions/{session}", upload_range, methods=["PUT"])]
