"""The ASGI application: Entra endpoints, the Graph /v1.0 pipeline, and the /_sim control API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import traceback
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import (
    control,
    entra,
    graph_delta,
    graph_folders,
    graph_messages,
    graph_organization,
    graph_subscriptions,
    graph_users,
    ids,
    uploads,
)
from .batch import run_batch
from .context import Ctx
from .errors import GraphError
from .odata import normalize_query
from .router import GraphRequest, GraphResponse, Router, normalize_segments
from .state import SimState
from .tokens import TokenClaims

JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)


def build_router() -> Router:
    router = Router()
    graph_delta.register(router)  # before messages: ".../messages/delta" is not a message id
    uploads.register(router)  # before messages: ".../attachments/createUploadSession" is no attachment id
    graph_messages.register(router)
    graph_folders.register(router)
    graph_users.register(router)
    graph_organization.register(router)
    graph_subscriptions.register(router)
    return router


class GraphPipeline:
    """Authenticate, count, inject faults, throttle, then run the handler."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.router = build_router()

    def _mailbox_key(
        self, params: dict[str, str], claims: TokenClaims | None
    ) -> tuple[str | None, str | None]:
        """(label for stats, key for throttling) of the mailbox a request targets."""
        ref = params.get("user")
        if ref is None:
            return None, None
        if claims is not None:
            tenant = self.state.directory.tenants.get(claims.tenant_id)
            user = tenant.find_user(ref) if tenant else None
            if user is not None:
                return user.user_principal_name.lower(), user.id
        return ref.lower(), ref.lower()

    async def execute(self, req: GraphRequest, claims: TokenClaims | None) -> GraphResponse:
        state = self.state
        route_key = f"{req.method} /v1.0(unmatched)"
        route, params, match_error = None, {}, None
        try:
            route, params = self.router.match(req.method, req.path)
            route_key = f"{req.method} /v1.0{route.template}"
        except GraphError as exc:
            match_error = exc
        slot = None
        try:
            if claims is None:  # Graph authenticates before it looks at the path
                try:
                    claims = state.tokens.verify(req.headers.get("authorization"), state.directory)
                except GraphError:
                    state.stats.count_request(route_key, None, None)
                    raise
            label, mailbox_key = self._mailbox_key(params, claims)
            state.stats.count_request(route_key, label, claims.app_id)
            if req.in_batch:
                state.stats.batch_subrequests += 1
            if match_error is not None or route is None:
                raise match_error or GraphError(400, "BadRequest", "Unknown route.")
            try:
                slot = state.throttle.acquire(claims.app_id, mailbox_key)
            except GraphError:
                state.stats.throttled[route_key] += 1
                raise
            await self._inject_faults(route_key)
            response = await route.handler(Ctx(state, req, params, claims))
        except GraphError as exc:
            response = GraphResponse(
                exc.status, exc.body(req.request_id, req.client_request_id), headers=dict(exc.headers)
            )
        except Exception:  # a simulator bug: make it loud, keep serving
            traceback.print_exc(file=sys.stderr)
            error = GraphError(500, "InternalServerError", "m365sim failed to process the request.")
            response = GraphResponse(500, error.body(req.request_id, req.client_request_id))
        finally:
            if slot is not None:
                state.throttle.release(slot)
        state.stats.by_status[str(response.status)] += 1
        return response

    async def _inject_faults(self, route_key: str) -> None:
        faults = self.state.faults
        if not faults.applies(route_key, graph=True):
            return
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.roll(faults.error_rate):
            self.state.stats.faults[route_key] += 1
            headers = {"Retry-After": "1"} if faults.error_status in (429, 503) else {}
            raise GraphError(faults.error_status, faults.error_code(), "Injected fault (m365sim).", headers)

    async def handle(self, req: GraphRequest) -> GraphResponse:
        segments = normalize_segments(req.path)
        if len(segments) == 1 and segments[0].lower() == "$batch":
            return await self._batch(req)
        if segments and segments[0].lower() == "me":
            # App-only tokens have no signed-in user.
            error = GraphError(
                400, "BadRequest", "/me request is only valid with delegated authentication flow."
            )
            self.state.stats.count_request(f"{req.method} /v1.0/me", None, None)
            return GraphResponse(400, error.body(req.request_id, req.client_request_id))
        return await self.execute(req, None)

    async def _batch(self, req: GraphRequest) -> GraphResponse:
        state = self.state
        route_key = f"{req.method} /v1.0/$batch"
        try:
            claims = state.tokens.verify(req.headers.get("authorization"), state.directory)
            state.stats.count_request(route_key, None, claims.app_id)
            if req.method != "POST":
                raise GraphError(405, "MethodNotAllowed", f"The HTTP method '{req.method}' is not allowed.")
            response = await run_batch(req, claims, state.config.max_batch_requests, self.execute)
        except GraphError as exc:
            response = GraphResponse(
                exc.status, exc.body(req.request_id, req.client_request_id), headers=dict(exc.headers)
            )
        state.stats.by_status[str(response.status)] += 1
        return response


def _to_response(req: GraphRequest, result: GraphResponse) -> Response:
    headers = {
        "request-id": req.request_id,
        "client-request-id": req.client_request_id,
        "x-ms-ags-diagnostic": json.dumps(
            {"ServerInfo": {"DataCenter": "m365sim", "Slice": "E", "Ring": "0", "ScaleUnit": "000"}}
        ),
        "Strict-Transport-Security": "max-age=31536000",
        "Cache-Control": "no-cache",
    }
    headers.update(result.headers)
    if result.body is None:
        return Response(status_code=result.status, headers=headers)
    if isinstance(result.body, dict | list):
        headers["OData-Version"] = "4.0"
        return Response(json.dumps(result.body), result.status, headers, media_type=JSON_TYPE)
    data = result.body if isinstance(result.body, bytes) else str(result.body).encode("utf-8")
    return Response(
        data, result.status, headers, media_type=result.content_type or "application/octet-stream"
    )


def build_app(state: SimState) -> Starlette:
    pipeline = GraphPipeline(state)

    async def graph(request: Request) -> Response:
        body = await request.body()
        request_id = ids.guid()
        req = GraphRequest(
            method=request.method,
            path="/" + request.path_params["path"],
            query=normalize_query(list(request.query_params.multi_items())),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            base_url=f"{request.url.scheme}://{request.url.netloc}",
            request_id=request_id,
            client_request_id=request.headers.get("client-request-id") or request_id,
        )
        return _to_response(req, await pipeline.handle(req))

    async def not_found(request: Request) -> Response:
        return JSONResponse({"error": {"code": "NotFound", "message": "Unknown m365sim endpoint."}}, 404)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await state.notifier.aclose()
        if state.persist:
            from . import persist

            persist.save(state)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    routes: list[Any] = [
        *control.routes(),
        *uploads.routes(),
        Route("/v1.0/{path:path}", graph, methods=methods),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", entra.discovery, methods=["GET"]),
        Route("/{tenant}/.well-known/openid-configuration", entra.discovery, methods=["GET"]),
        Route("/{tenant}/discovery/v2.0/keys", entra.jwks, methods=["GET"]),
        Route("/{tenant}/discovery/keys", entra.jwks, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", entra.token, methods=["POST"]),
        Route("/{tenant}/oauth2/token", entra.token, methods=["POST"]),
        Route("/{tenant}/v2.0/adminconsent", entra.admin_consent, methods=["GET"]),
        Route("/{tenant}/adminconsent", entra.admin_consent, methods=["GET"]),
        Route("/{path:path}", not_found, methods=methods),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sim = state

    inner = app.build_middleware_stack

    async def guard(scope: Any, receive: Any, send: Any) -> None:
        # The control API is for local tests only.
        if scope["type"] == "http" and scope["path"].startswith("/_sim"):
            request = Request(scope)
            if not control.loopback_only(request):
                await JSONResponse({"error": "loopback only"}, 403)(scope, receive, send)
                return
        await handler(scope, receive, send)

    handler = inner()
    app.middleware_stack = guard  # type: ignore[assignment]
    return app
