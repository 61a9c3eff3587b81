"""Release requests: the page a digest's "request release" link opens (``/request?t=<token>``:
the person sees the message's summary and confirms with a POST), and the admins' list of pending
requests (``/requests``) with approve and deny. The backend is
``connectors/service/release_requests.py``; every store call there takes the tenant from the
signed-in person, the link only names the message."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from connectors.console.app import ConsoleError, ConsoleResponse, Context, page, register_notice
from connectors.service.release_requests import Asker, ReleaseRequests, RequestRefused
from connectors.storage.release_requests import MAX_REASON_CHARS, ReleaseRequest

SENT = register_notice("request_sent", "Your request was sent to your administrator.")
WAITING = register_notice("request_waiting", "This message was asked for already; the request is waiting "
                          "for an administrator.")
SELF_RELEASED = register_notice("request_self_released", "The message was released to your mailbox.")
APPROVED = register_notice("request_approved", "The request was approved: the message was released and "
                           "the person was told.")
APPROVED_UNTOLD = register_notice("request_approved_untold", "The request was approved and the message "
                                  "released, but the person could not be told by mail (see the log).")
DENIED = register_notice("request_denied", "The request was denied and the person was told why.")
DENIED_UNTOLD = register_notice("request_denied_untold", "The request was denied, but the person could "
                                "not be told by mail (see the log).")
#: Pending requests listed at most (newest first).
MAX_LISTED = 500
#: Requests whose message and verdict are read at once while the list is built.
_ROW_READERS = 8


def _asker(ctx: Context) -> Asker:
    return Asker(ctx.principal.upn, ctx.tenant_id, ctx.principal.is_admin)


def _service(ctx: Context) -> ReleaseRequests:
    return ReleaseRequests(ctx.runtime)


def _refused(exc: RequestRefused) -> ConsoleError:
    return ConsoleError(exc.status, exc.title, exc.detail)


@page("/request", nav="/requests", people=True)
def request_form(ctx: Context) -> ConsoleResponse:
    token = ctx.request.query.get("t", "")
    try:
        view = _service(ctx).open_link(_asker(ctx), token)
    except RequestRefused as exc:
        raise _refused(exc) from None
    return ctx.render("request.html", title="Request release", view=view, token=token,
                      max_reason=MAX_REASON_CHARS)


@page("/request", methods=("POST",), nav="/requests", people=True)
async def request_submit(ctx: Context) -> ConsoleResponse:
    token = ctx.request.form.get("t", "")
    try:
        outcome = await _service(ctx).submit(_asker(ctx), token, ctx.request.form.get("reason", ""))
    except RequestRefused as exc:
        raise _refused(exc) from None
    if outcome.released:
        notice = SELF_RELEASED
    else:
        notice = SENT if outcome.created else WAITING
    return ctx.redirect("/request", notice=notice, t=token)


@page("/requests")
def request_list(ctx: Context) -> ConsoleResponse:
    service = _service(ctx)
    limit = min(MAX_LISTED, ctx.settings.console_max_rows)
    pending = service.pending(_asker(ctx), limit)

    def row(r: ReleaseRequest) -> tuple[object, ...]:
        entry = ctx.stores.quarantine.get(ctx.tenant_id, r.mailbox, r.message_id)
        # Released or deleted from the held mail page meanwhile: the admin sees it and decides.
        kept = entry.status.value if entry is not None else "gone"
        return (r, *service.verdict_of(ctx.tenant_id, r.mailbox, r.message_id), kept)

    # Two store reads a request, up to MAX_LISTED requests: a few at a time, not one after another.
    with ThreadPoolExecutor(max_workers=_ROW_READERS) as pool:
        rows = list(pool.map(row, pending))
    return ctx.render("requests.html", title="Release requests", rows=rows, limit=limit,
                      max_reason=MAX_REASON_CHARS)


def _target(ctx: Context) -> tuple[str, str]:
    mailbox, message = ctx.request.form.get("mailbox", "").strip(), ctx.request.form.get("id", "").strip()
    if not mailbox or not message or len(mailbox) > 320 or len(message) > 1000:
        raise ConsoleError(400, "No request named", "Choose a request from the list of release requests.")
    return mailbox, message


@page("/requests/approve", methods=("POST",))
async def request_approve(ctx: Context) -> ConsoleResponse:
    mailbox, message = _target(ctx)
    try:
        outcome = await _service(ctx).approve(_asker(ctx), mailbox, message)
    except RequestRefused as exc:
        raise _refused(exc) from None
    return ctx.redirect("/requests", notice=APPROVED if outcome.told else APPROVED_UNTOLD)


@page("/requests/deny", methods=("POST",))
async def request_deny(ctx: Context) -> ConsoleResponse:
    mailbox, message = _target(ctx)
    try:
        outcome = await _service(ctx).deny(_asker(ctx), mailbox, message, ctx.request.form.get("reason", ""))
    except RequestRefused as exc:
        raise _refused(exc) from None
    return ctx.redirect("/requests", notice=DENIED if outcome.told else DENIED_UNTOLD)

