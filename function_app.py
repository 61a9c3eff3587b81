"""Azure Functions (Python v2 programming model): a thin switchboard.

Each function parses its input, calls one service in ``connectors.service`` and returns. The
same registrations run in Azure, under ``func start`` where Core Tools is installed, and under
``tap365 serve`` (the project's local host).

Importing this module loads only what registering the functions needs (the queue names come
from the storage settings): each function imports its service on first use, so a cold instance
answers Graph's first notification without loading the Graph SDK, YARA or the PDF readers
(``tests/test_cold_start.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import azure.functions as func

from connectors.logs import quiet_third_party_loggers
from connectors.storage.config import StorageConfig

if TYPE_CHECKING:
    from connectors.service.admin import AdminApi
    from connectors.service.intake import HttpResult
    from connectors.service.runtime import Runtime

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger("tap365.functions")
quiet_third_party_loggers()
_storage = StorageConfig.from_env()
NOTIFICATIONS_QUEUE = f"{_storage.prefix}-notifications"
DELAYED_QUEUE = f"{_storage.prefix}-delayed"


def _max_dequeue_count() -> int:
    """host.json's extensions.queues.maxDequeueCount (default 5): on that attempt the function
    poisons the item itself, with the reason, instead of leaving it to the host."""
    try:
        host = json.loads((Path(__file__).parent / "host.json").read_text())
        return int(host.get("extensions", {}).get("queues", {}).get("maxDequeueCount", 5))
    except (OSError, ValueError):
        return 5


MAX_DEQUEUE_COUNT = _max_dequeue_count()


def get_runtime(*, ensure_stores: bool = True) -> Runtime:
    from connectors.service.runtime import get_runtime

    return get_runtime(ensure_stores=ensure_stores)


def _admin() -> AdminApi:
    from connectors.service.admin import AdminApi

    return AdminApi(get_runtime())


def _response(result: HttpResult) -> func.HttpResponse:
    return func.HttpResponse(
        result.body,
        status_code=result.status,
        mimetype=result.content_type.split(";")[0],
        charset="utf-8",
        headers=result.headers,
    )


def _tenant(req: func.HttpRequest) -> str:
    """The route's tenant id as the stores keep it (lower-case: Entra's GUIDs ignore case)."""
    return req.route_params["tenant"].strip().lower()


def _actor(req: func.HttpRequest) -> str:
    return req.headers.get("x-ms-client-principal-name") or "admin-api"


# --- Microsoft Graph ----------------------------------------------------------------------------


def _handshake(req: func.HttpRequest) -> func.HttpResponse | None:
    """Graph's validation handshake needs nothing but the token back (no storage, no Graph)."""
    from connectors.graph.notifications import validation_token
    from connectors.service.intake import handshake_result

    token = validation_token(dict(req.params))
    return None if token is None else _response(handshake_result(token))


@app.route(route="graph/notifications", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def graph_notifications(req: func.HttpRequest) -> func.HttpResponse:
    if (answer := _handshake(req)) is not None:
        return answer
    from connectors.service.intake import IntakeLimits, handle_notifications

    runtime = get_runtime(ensure_stores=False)  # Graph's 3 s: no store is created first
    stores = runtime.stores
    return _response(
        handle_notifications(
            dict(req.params), req.get_body(), subscriptions=stores.subscriptions, queue=stores.notifications,
            limits=IntakeLimits.from_settings(runtime.settings),
        )
    )


@app.route(route="graph/lifecycle", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def graph_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    if (answer := _handshake(req)) is not None:
        return answer
    from connectors.service.intake import IntakeLimits, handle_lifecycle

    runtime = get_runtime(ensure_stores=False)  # Graph's 3 s: no store is created first
    stores = runtime.stores
    return _response(
        handle_lifecycle(
            dict(req.params), req.get_body(), subscriptions=stores.subscriptions, queue=stores.notifications,
            limits=IntakeLimits.from_settings(runtime.settings),
        )
    )


@app.queue_trigger(arg_name="msg", queue_name=NOTIFICATIONS_QUEUE, connection="AzureWebJobsStorage")
async def process_notification(msg: func.QueueMessage) -> None:
    from connectors.service.worker import run_queue_item

    runtime = get_runtime()
    outcome = await run_queue_item(
        runtime,
        msg.get_body(),
        msg.dequeue_count or 1,
        runtime.stores.notifications,
        MAX_DEQUEUE_COUNT,
    )
    log.info("notification %s: %s", msg.id, outcome)


@app.queue_trigger(arg_name="msg", queue_name=DELAYED_QUEUE, connection="AzureWebJobsStorage")
async def process_delayed(msg: func.QueueMessage) -> None:
    from connectors.service.worker import run_queue_item

    runtime = get_runtime()
    outcome = await run_queue_item(
        runtime,
        msg.get_body(),
        msg.dequeue_count or 1,
        runtime.stores.delayed,
        MAX_DEQUEUE_COUNT,
    )
    log.info("delayed %s: %s", msg.id, outcome)


# --- Timers -------------------------------------------------------------------------------------


@app.timer_trigger(arg_name="timer", schedule="0 */30 * * * *", run_on_startup=False)
async def renew_subscriptions(timer: func.TimerRequest) -> None:
    from connectors.service.tenancy import TenantService

    counts = await TenantService(get_runtime()).renew_due()
    log.info("subscription renewal: %s", counts)


@app.timer_trigger(arg_name="timer", schedule="0 0 */6 * * *", run_on_startup=False)
def resync_subscriptions(timer: func.TimerRequest) -> None:
    """Safety net: a delta over every subscription's folders, in case a notification was lost.
    One queue item per subscription (handled as a ``missed`` lifecycle event), so 10,000
    mailboxes spread over the workers instead of running out one timer's time."""
    runtime = get_runtime()
    subs = runtime.stores.subscriptions.list_subscriptions()
    for sub in subs:
        runtime.stores.notifications.send({"kind": "lifecycle", "event": "missed", "tenant_id": sub.tenant_id,
                                           "subscription_id": sub.subscription_id, "mailbox": sub.mailbox})
    log.info("delta resync queued for %d subscriptions", len(subs))


@app.timer_trigger(arg_name="timer", schedule="0 20 * * * *", run_on_startup=False)
def users_delta(timer: func.TimerRequest) -> None:
    """New and removed mailboxes: one users-delta item per tenant for the workers; onboardings
    whose next page was lost are queued again."""
    from connectors.service.tenancy import TenantService

    runtime = get_runtime()
    tenants = runtime.stores.tenants.list_tenants(status="active")
    for tenant in tenants:
        runtime.stores.notifications.send({"kind": "users_delta", "tenant_id": tenant.tenant_id})
    resumed = TenantService(runtime).resume_stalled()
    log.info("users delta queued for %d tenants; %d stalled onboardings resumed", len(tenants), len(resumed))


@app.timer_trigger(arg_name="timer", schedule="0 */15 * * * *", run_on_startup=True)
async def refresh_intel(timer: func.TimerRequest) -> None:
    from connectors.service.purge import purge

    runtime = get_runtime()
    # Downloads take up to a minute a feed: off the event loop, which also serves requests.
    new_keys = await asyncio.to_thread(runtime.refresh_intel)
    if new_keys:
        result = await purge(runtime, new_keys)
        log.info(
            "post-delivery purge: %d keys, %d quarantined, %d errors",
            result.checked_keys,
            len(result.quarantined),
            len(result.errors),
        )


@app.timer_trigger(arg_name="timer", schedule="0 40 * * * *", run_on_startup=False)
async def overdue_holds(timer: func.TimerRequest) -> None:
    """Holds older than TAP365_HOLD_ALERT_HOURS: one notice to the admin, never twice per hold."""
    from connectors.service.holds import alert_overdue_holds

    listed = await alert_overdue_holds(get_runtime())
    log.info("overdue holds announced: %d", listed)


@app.timer_trigger(arg_name="timer", schedule="0 0 7 * * *", run_on_startup=False)
async def daily_digests(timer: func.TimerRequest) -> None:
    """Each person's digest of what was held for them in the last day, once per person and day."""
    from connectors.service.digests import send_digests

    run = await send_digests(get_runtime())
    log.info("daily digests: %d sent, %d sent before, %d failed", run.sent, run.already, run.failed)


@app.timer_trigger(arg_name="timer", schedule="0 30 3 * * *", run_on_startup=False)
def cleanup(timer: func.TimerRequest) -> None:
    """Retention: rows older than their window go, in every table (connectors/service/retention.py)."""
    from connectors.service.retention import run_retention

    removed = run_retention(get_runtime())
    log.info("retention cleanup removed %s", removed)


# --- Onboarding and click-time ------------------------------------------------------------------


@app.route(route="consent/start", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def consent_begin(req: func.HttpRequest) -> func.HttpResponse:
    from connectors.service.admin import consent_start

    return _response(consent_start(get_runtime(), dict(req.params)))


@app.route(route="consent/callback", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def consent(req: func.HttpRequest) -> func.HttpResponse:
    from connectors.service.admin import consent_callback

    return _response(await consent_callback(get_runtime(), dict(req.params), req.headers.get("cookie", "")))


@app.route(route="r/{*token}", methods=["GET", "HEAD"], auth_level=func.AuthLevel.ANONYMOUS)
async def redirect(req: func.HttpRequest) -> func.HttpResponse:
    from connectors.service.clicks import handle_click

    return _response(await handle_click(get_runtime(), req.method, req.url, dict(req.headers)))


# --- Admin API: function keys; under /api/manage because Azure reserves routes starting "admin" ----


@app.route(route="manage/tenants/{tenant}/quarantine", methods=["GET"])
def admin_quarantine(req: func.HttpRequest) -> func.HttpResponse:
    return _response(_admin().quarantine(_tenant(req), dict(req.params)))


@app.route(route="manage/tenants/{tenant}/quarantine/{mailbox}/{message}/release", methods=["POST"])
async def admin_release(req: func.HttpRequest) -> func.HttpResponse:
    p = req.route_params
    return _response(
        await _admin().release(_tenant(req), p["mailbox"], p["message"], _actor(req))
    )


@app.route(route="manage/tenants/{tenant}/policy", methods=["GET", "PUT"])
def admin_policy(req: func.HttpRequest) -> func.HttpResponse:
    api = _admin()
    tenant = _tenant(req)
    if req.method == "PUT":
        return _response(api.put_policy(tenant, req.get_body(), req.headers.get("if-match"), _actor(req)))
    return _response(api.get_policy(tenant))


@app.route(route="manage/tenants/{tenant}/{kind:regex(^(verdicts|clicks|audit)$)}", methods=["GET"])
def admin_records(req: func.HttpRequest) -> func.HttpResponse:
    api = _admin()
    tenant, kind = _tenant(req), req.route_params["kind"]
    handler = {"verdicts": api.verdicts, "clicks": api.clicks, "audit": api.audit}[kind]
    return _response(handler(tenant, dict(req.params)))


@app.route(route="manage/tenants/{tenant}/status", methods=["GET"])
def admin_status(req: func.HttpRequest) -> func.HttpResponse:
    return _response(_admin().status(_tenant(req)))


@app.route(route="manage/tenants/{tenant}/campaigns", methods=["GET"])
async def admin_campaign(req: func.HttpRequest) -> func.HttpResponse:
    from connectors.service.campaigns import api_campaign

    return _response(await api_campaign(get_runtime(), _tenant(req), dict(req.params)))


@app.route(route="manage/tenants/{tenant}/campaigns/{action:regex(^(purge|release)$)}", methods=["POST"])
async def admin_campaign_action(req: func.HttpRequest) -> func.HttpResponse:
    from connectors.service.campaigns import api_purge, api_release

    act = api_purge if req.route_params["action"] == "purge" else api_release
    return _response(await act(get_runtime(), _tenant(req), dict(req.params), req.get_body(), _actor(req)))


@app.route(route="manage/tenants/{tenant}/reports", methods=["GET"])
def admin_reports(req: func.HttpRequest) -> func.HttpResponse:
    from connectors.service.reports import api_reports

    return _response(api_reports(get_runtime(), _tenant(req), dict(req.params)))


# --- Admin console: App Service authentication (Entra ID) signs people in; see connectors/console --


@app.route(route="console/{*path}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def console(req: func.HttpRequest) -> func.HttpResponse:
    from connectors.console.app import ConsoleApp, request_from

    answer = await ConsoleApp(get_runtime()).handle(request_from(req.method, req.url, dict(req.headers),
                                                                 dict(req.params), req.get_body()))
    return func.HttpResponse(answer.body, status_code=answer.status, headers=answer.headers,
                             mimetype=answer.content_type.split(";")[0], charset="utf-8")


# --- SIEM: a Proofpoint TAP SIEM API v2 compatible pull (HTTP basic auth: the principal chooses the
# tenant; TAP clients cannot send a function key) and the Sentinel push; see connectors/siem ------


@app.route(route="v2/siem/{*path}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def siem_api(req: func.HttpRequest) -> func.HttpResponse:
    from urllib.parse import parse_qs, urlsplit

    from connectors.siem.tap_api import handle

    runtime = get_runtime()
    params = parse_qs(urlsplit(req.url).query, keep_blank_values=True)  # threatStatus may repeat
    return _response(handle(runtime.stores, runtime.settings, req.method, req.route_params.get("path", ""),
                            req.headers.get("authorization", ""), params))


@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False)
def sentinel_push(timer: func.TimerRequest) -> None:
    """New SIEM events to Sentinel: one delayed-queue item per tenant, retried by the queue; each
    attempt resumes from the tenant's cursor."""
    from connectors.siem.sentinel import queue_pushes

    runtime = get_runtime()
    log.info("sentinel push queued for %d tenants", queue_pushes(runtime.stores, runtime.settings))


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"status": "ok"}), mimetype="application/json")
