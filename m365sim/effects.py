"""Count the mailbox effects Graph applied, per message, and run the chaos faults.

Every Graph handler (direct or inside ``$batch``) is wrapped once, when it is registered with
the router (``router.Router.add``): the chaos mix of ``faults.py`` runs first (so a faulted
request has no effect), then the handler, then a successful body PATCH, category write or move
is counted on the message's immutable id (``GET /_sim/effects``). A harness compares these with
what it expected, to find effects applied twice or never, whatever the service's journal says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import GraphError

if TYPE_CHECKING:
    from .context import Ctx
    from .mailbox import Mailbox, Message
    from .router import GraphResponse, Handler


def is_effect(method: str, template: str) -> bool:
    """A message PATCH (body, categories) or move, under any of its paths (folder-scoped too)."""
    if not template.startswith("/users/"):
        return False
    return (method == "PATCH" and template.endswith("/messages/{id}")) or (
        method == "POST" and template.endswith("/messages/{id}/move")
    )


def _target(ctx: Ctx) -> tuple[Mailbox, Message] | None:
    """The mailbox and message a request names, without the handler's checks (it makes them)."""
    try:
        user = ctx.user()
    except GraphError:
        return None
    mailbox = ctx.state.mailboxes.get(user.id)
    ref = ctx.params.get("message")
    if mailbox is None or ref is None:
        return None
    message = mailbox.get_message(ref, ctx.immutable, ctx.state.config.strict_id_types)
    return (mailbox, message) if message is not None else None


def _record(ctx: Ctx, method: str, mailbox: Mailbox, message: Message) -> None:
    effects = ctx.state.stats.effects_of(message.immutable_id, mailbox.user.user_principal_name.lower())
    if method == "PATCH":
        keys = {k.lower() for k in ctx.req.json_object()}  # the handler parsed it already
        if "body" in keys:
            effects.body_patches += 1
        if "categories" in keys:
            effects.category_writes += 1
    else:
        folder = mailbox.folders.get(message.folder_id)  # where the move put it
        effects.moves[folder.display_name if folder else message.folder_id] += 1


def observed(method: str, template: str, handler: Handler) -> Handler:
    """``handler`` with the chaos faults before it and, for effect routes, the count after it."""
    effect = is_effect(method, template)
    route_key = f"{method} /v1.0{template}"

    async def run(ctx: Ctx) -> GraphResponse:
        await ctx.state.faults.inject_chaos(route_key, ctx.state.stats.faults_fired)
        target = _target(ctx) if effect else None
        response = await handler(ctx)
        if target is not None and 200 <= response.status < 300:
            _record(ctx, method, *target)
        if 200 <= response.status < 300:
            await ctx.state.faults.lose_answer(route_key, ctx.state.stats.faults_fired)
        return response

    return run
