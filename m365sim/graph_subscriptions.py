"""Graph subscriptions: create (with the validation handshake), get, list, renew, delete,
reauthorize."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import ids
from .clock import parse_datetime
from .context import SUBSCRIBE_MAIL, Ctx
from .errors import GraphError, bad_request
from .router import GraphResponse, Router
from .subscriptions import (
    Subscription,
    check_notification_url,
    parse_change_types,
    parse_resource,
)

NOT_FOUND = "The object was not found."


def _forbidden() -> GraphError:
    return GraphError(
        403,
        "ExtensionError",
        "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied. "
        "Check credentials and try again.]",
    )


def _expiration(ctx: Ctx, value: Any) -> Any:
    if not isinstance(value, str):
        raise bad_request("expirationDateTime is required.", "InvalidRequest")
    try:
        expiration = parse_datetime(value)
    except ValueError as exc:
        raise bad_request(f"Invalid expirationDateTime '{value}'.", "InvalidRequest") from exc
    now = ctx.state.clock.now_precise()
    if expiration <= now:
        raise bad_request("Subscription expiration can only be in the future.", "ExtensionError")
    limit = ctx.state.config.max_subscription_minutes
    if expiration > now + timedelta(minutes=limit):
        # Graph rejects rather than clamps an expiry beyond the resource's maximum.
        raise bad_request(
            f"Subscription expiration can only be {limit} minutes in the future.", "ExtensionError"
        )
    return expiration


def _find(ctx: Ctx) -> Subscription:
    sub = ctx.state.subscriptions.get(ctx.params["subscription"])
    if (
        sub is None
        or sub.tenant_id != ctx.claims.tenant_id
        or sub.app_id != ctx.claims.app_id
        or sub.expiration <= ctx.state.clock.now_precise()
    ):
        raise GraphError(404, "ResourceNotFound", NOT_FOUND)
    return sub


async def create_subscription(ctx: Ctx) -> GraphResponse:
    data = {k[0].lower() + k[1:]: v for k, v in ctx.req.json_object().items() if k}
    config = ctx.state.config
    resource = data.get("resource")
    if not isinstance(resource, str) or not resource:
        raise bad_request("resource is required.", "InvalidRequest")
    parsed = parse_resource(resource)
    change_types = parse_change_types(data.get("changeType"))
    notification_url = check_notification_url(
        data.get("notificationUrl"),
        "notificationUrl",
        config.allow_http_loopback_notification_url,
        config.allow_non_loopback_notification_url,
    )
    lifecycle_url = data.get("lifecycleNotificationUrl")
    if lifecycle_url is not None:
        lifecycle_url = check_notification_url(
            lifecycle_url,
            "lifecycleNotificationUrl",
            config.allow_http_loopback_notification_url,
            config.allow_non_loopback_notification_url,
        )
    client_state = data.get("clientState")
    if client_state is not None:
        if not isinstance(client_state, str):
            raise bad_request("clientState must be a string.", "InvalidRequest")
        if len(client_state) > config.client_state_max_length:
            raise bad_request(
                f"clientState must be at most {config.client_state_max_length} characters.",
                "InvalidRequest",
            )
    expiration = _expiration(ctx, data.get("expirationDateTime"))
    if data.get("includeResourceData"):
        raise bad_request(
            "Rich notifications (includeResourceData) are not supported for this resource.",
            "ExtensionError",
        )
    user = ctx.tenant.find_user(parsed.user_ref)
    if user is None:
        raise GraphError(
            404,
            "ExtensionError",
            "Operation: Create; Exception: [Status Code: NotFound; Reason: The requested user "
            f"'{parsed.user_ref}' is invalid.]",
        )
    if not ctx.has_any(SUBSCRIBE_MAIL):
        raise _forbidden()
    grant = ctx.state.directory.grant(ctx.claims.tenant_id, ctx.claims.app_id)
    scoped = grant is not None and grant.mailboxes is not None
    if config.enforce_permissions and scoped and user.id not in grant.mailboxes:  # type: ignore[union-attr]
        raise _forbidden()
    folder_id = None
    if parsed.folder_ref is not None:
        folder = ctx.state.mailboxes[user.id].folder(parsed.folder_ref)
        if folder is None:
            raise GraphError(
                404,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: NotFound; Reason: The specified "
                "folder could not be found in the store.]",
            )
        folder_id = folder.id
    # Validation handshake(s): no subscription unless the endpoints echo the token.
    await ctx.state.notifier.validate(notification_url)
    if lifecycle_url:
        await ctx.state.notifier.validate(lifecycle_url)
    sub = Subscription(
        id=ids.guid(),
        tenant_id=ctx.claims.tenant_id,
        app_id=ctx.claims.app_id,
        creator_id=str(ctx.claims.raw.get("oid", "")),
        resource=resource,
        change_types=change_types,
        notification_url=notification_url,
        lifecycle_url=lifecycle_url,
        client_state=client_state,
        expiration=expiration,
        user_id=user.id,
        folder_id=folder_id,
        immutable_ids=ctx.immutable,
        latest_tls=str(data.get("latestSupportedTlsVersion") or "v1_2"),
    )
    ctx.state.subscriptions[sub.id] = sub
    return GraphResponse(201, sub.as_json(ctx.req.base_url))


async def get_subscription(ctx: Ctx) -> GraphResponse:
    return GraphResponse(200, _find(ctx).as_json(ctx.req.base_url))


async def list_subscriptions(ctx: Ctx) -> GraphResponse:
    now = ctx.state.clock.now_precise()
    subs = [
        s
        for s in ctx.state.subscriptions.values()
        if s.tenant_id == ctx.claims.tenant_id and s.app_id == ctx.claims.app_id and s.expiration > now
    ]
    values = []
    for sub in subs:
        item = sub.as_json(ctx.req.base_url)
        item.pop("@odata.context")
        values.append(item)
    return GraphResponse(200, {"@odata.context": ctx.context_url("subscriptions"), "value": values})


async def update_subscription(ctx: Ctx) -> GraphResponse:
    sub = _find(ctx)
    data = ctx.req.json_object()
    config = ctx.state.config
    new_expiration = None
    new_url = None
    for key, value in data.items():
        lowered = key.lower()
        if lowered.startswith("@odata"):
            continue
        if lowered == "expirationdatetime":
            new_expiration = _expiration(ctx, value)
        elif lowered == "notificationurl":
            new_url = check_notification_url(
                value,
                "notificationUrl",
                config.allow_http_loopback_notification_url,
                config.allow_non_loopback_notification_url,
            )
        elif lowered == "lifecyclenotificationurl":
            raise bad_request(
                "lifecycleNotificationUrl can only be set when the subscription is created.",
                "InvalidRequest",
            )
        else:
            raise bad_request(
                f"The property '{key}' cannot be updated; only expirationDateTime and notificationUrl can.",
                "InvalidRequest",
            )
    if new_url is not None and new_url != sub.notification_url:
        await ctx.state.notifier.validate(new_url)
        sub.notification_url = new_url
    if new_expiration is not None:
        sub.expiration = new_expiration
        # A renewal re-authorizes a subscription that was waiting for it.
        sub.needs_reauthorization = False
    return GraphResponse(200, sub.as_json(ctx.req.base_url))


async def delete_subscription(ctx: Ctx) -> GraphResponse:
    sub = _find(ctx)
    del ctx.state.subscriptions[sub.id]
    return GraphResponse(204)


async def reauthorize_subscription(ctx: Ctx) -> GraphResponse:
    sub = _find(ctx)
    if not ctx.has_any(SUBSCRIBE_MAIL):
        raise _forbidden()
    sub.needs_reauthorization = False
    return GraphResponse(204)  # per the reauthorize docs


def register(router: Router) -> None:
    router.add("POST", "/subscriptions", create_subscription)
    router.add("GET", "/subscriptions", list_subscriptions)
    router.add("POST", "/subscriptions/{subscription}/reauthorize", reauthorize_subscription)
    router.add("GET", "/subscriptions/{subscription}", get_subscription)
    router.add("PATCH", "/subscriptions/{subscription}", update_subscription)
    router.add("DELETE", "/subscriptions/{subscription}", delete_subscription)
