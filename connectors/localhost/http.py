"""The HTTP front end: an ASGI app (served by uvicorn) that routes to ``httpTrigger`` functions.

It behaves like the Functions host in front of the Python worker: route templates under the
``routePrefix``, method filtering (a method not listed is a 404, as in Functions), auth levels,
App Service's ``X-Forwarded-For``, and ``azure.functions.HttpRequest``/``HttpResponse`` conversion.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func

from connectors.localhost.invoke import FunctionTimeout, Invoker, convert_for_annotation
from connectors.localhost.loader import FunctionSpec
from connectors.localhost.routes import RouteTemplate

#: Comma-separated keys accepted for ``function`` and ``admin`` auth levels.
KEYS_ENV = "TAP365_FUNCTION_KEYS"
#: The Functions host keeps ``/admin`` for its own API and refuses function routes starting with it.
RESERVED_ROUTE = "admin"
MAX_BODY_BYTES = 100 * 1024 * 1024  # the Functions request size limit
log = logging.getLogger("tap365.localhost")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Route:
    def __init__(self, spec: FunctionSpec, prefix: str) -> None:
        self.spec = spec
        self.template = RouteTemplate(str(spec.trigger.get("route") or spec.name), prefix)
        methods = spec.trigger.get("methods") or []
        self.methods = {str(m).upper() for m in methods}
        self.auth_level = str(spec.trigger.get("authLevel") or "function").lower()

    def allows(self, method: str) -> bool:
        return not self.methods or method in self.methods


def configured_keys() -> list[str]:
    return [k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip()]


def key_matches(presented: str | None, keys: list[str]) -> bool:
    if not presented:
        return False
    given = presented.encode()
    # Compare against every key (no early exit), each in constant time.
    return sum(hmac.compare_digest(given, k.encode()) for k in keys) > 0


def _join_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name_b, value_b in raw:
        name, value = name_b.decode("latin-1").lower(), value_b.decode("latin-1")
        if name in headers:
            headers[name] += ("; " if name == "cookie" else ", ") + value
        else:
            headers[name] = value
    return headers


def _query_params(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        # The host hands query values over as .NET StringValues.ToString(): repeats joined by commas.
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def encode_response(result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, raw headers and body for what a function returned."""
    if isinstance(result, str):
        result = func.HttpResponse(result)
    elif isinstance(result, bytes):
        result = func.HttpResponse(result, mimetype="application/octet-stream")
    elif result is None:
        result = func.HttpResponse(status_code=204)
    if not isinstance(result, func.HttpResponse):
        raise TypeError(
            f"an HTTP function returned {type(result).__name__}; return azure.functions.HttpResponse"
        )
    body = result.get_body() or b""
    headers: list[tuple[bytes, bytes]] = []
    has_type = False
    for name, value in result.headers.items():
        low = name.lower()
        if low in ("content-length", "transfer-encoding"):
            continue  # recomputed below; a stale length would corrupt the response
        has_type = has_type or low == "content-type"
        headers.append((name.encode("latin-1"), str(value).encode("latin-1")))
    if not has_type and (body or result.status_code not in (204, 304)):
        mimetype = result.mimetype or "text/plain"
        content_type = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
        headers.append((b"content-type", content_type.encode("latin-1")))
    headers.append((b"content-length", str(len(body)).encode()))
    return result.status_code, headers, body


async def _respond(send: Send, status: int, body: bytes = b"") -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HttpFrontEnd:
    """ASGI application for every ``httpTrigger`` function of the app."""

    def __init__(self, specs: list[FunctionSpec], route_prefix: str, invoker: Invoker) -> None:
        #: Functions the host puts "in error" (not served), with the reason, as the Functions host does.
        self.errors: dict[str, str] = {}
        routes = []
        for spec in (s for s in specs if s.trigger_type == "httpTrigger"):
            route = _Route(spec, route_prefix)
            if route.template.template.strip("/").lower().startswith(RESERVED_ROUTE):
                self.errors[spec.name] = (
                    f"The specified route conflicts with one or more built in routes: "
                    f"{route.template.template!r} (Azure Functions refuses routes starting with 'admin', "
                    "whatever the routePrefix; rename it)"
                )
                log.error("function %s is in error: %s", spec.name, self.errors[spec.name])
                continue
            routes.append(route)
        self.routes = sorted(routes, key=lambda r: r.template.precedence)
        self.invoker = invoker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = str(scope["method"]).upper()
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else str(scope["path"])
        path = path.split("?", 1)[0]
        route, params = self._match(path, method)
        if route is None:
            if path.strip("/") == "" and method in ("GET", "HEAD"):
                await _respond(send, 200, b"Your Functions app is up and running (tap365 serve)\n")
            else:
                await _respond(send, 404)
            return
        query = bytes(scope.get("query_string") or b"").decode("latin-1")
        headers = _join_headers(list(scope.get("headers") or []))
        query_params = _query_params(query)
        if route.auth_level != "anonymous" and not self._authorised(headers, query_params):
            await _respond(send, 401)
            return
        body = await self._body(receive)
        if body is None:
            await _respond(send, 413, b"Request body larger than 100 MB\n")
            return
        client = scope.get("client")
        if client:
            host, port = client[0], client[1]
            hop = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # App Service adds ip:port
            forwarded = headers.get("x-forwarded-for")
            headers["x-forwarded-for"] = f"{forwarded}, {hop}" if forwarded else hop
        scheme = scope.get("scheme", "http")
        server = scope.get("server") or ("localhost", None)
        authority = headers.get("host") or (f"{server[0]}:{server[1]}" if server[1] else str(server[0]))
        url = f"{scheme}://{authority}{path}" + (f"?{query}" if query else "")
        request = func.HttpRequest(method, url, headers=headers, params=query_params,
                                   route_params=params, body=body)
        await self._invoke(route.spec, convert_for_annotation(route.spec, request, body), send)

    def _match(self, path: str, method: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self.routes:
            params = route.template.match(path)
            if params is not None and route.allows(method):
                return route, params
        return None, {}

    @staticmethod
    def _authorised(headers: dict[str, str], params: dict[str, str]) -> bool:
        keys = configured_keys()
        if not keys:
            log.warning("a request needs a function key but %s is empty: set it (comma-separated keys)",
                        KEYS_ENV)
            return False
        return key_matches(headers.get("x-functions-key"), keys) or key_matches(params.get("code"), keys)

    @staticmethod
    async def _body(receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    async def _invoke(self, spec: FunctionSpec, request: Any, send: Send) -> None:
        started = time.monotonic()
        try:
            status, headers, body = encode_response(await self.invoker.call(spec, request))
        except FunctionTimeout as exc:
            log.error("Executed 'Functions.%s' (Failed): %s", spec.name, exc)
            await _respond(send, 500)
            return
        except Exception:
            # Logged with the trace here; the client gets no detail, as from the real host.
            log.exception("Executed 'Functions.%s' (Failed)", spec.name)
            await _respond(send, 500)
            return
        log.info("Executed 'Functions.%s' (Succeeded, status=%d, Duration=%dms)", spec.name, status,
                 (time.monotonic() - started) * 1000)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
