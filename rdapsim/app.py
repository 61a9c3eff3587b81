"""The ASGI application: RDAP queries (``/domain/<name>``, ``/help``) and the ``/_sim`` control API."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .domains import (
    RDAP_TYPE,
    BadRequest,
    DomainConfig,
    domain_object,
    error_object,
    help_object,
    huge_body,
    normalize,
    rfc3339,
)

DEFAULTS = ("old", "not_found")
#: The TLDs ``/_sim/bootstrap`` names this server for when the request names none.
BUILTIN_TLDS = (
    "com net org info biz io co xyz top online site shop app dev me us uk de fr nl eu ru cn "
    "ca au jp in br it es pl ch at be se no dk fi ie pt cz gr hu ro tv cc ws ai gg link club live "
    "store tech cloud space website fun icu vip work email page blog news "
    "test example invalid"
).split()
MAX_TLDS = 2000  # the IANA file has about 1,200 TLDs; more in one query is a mistake
MAX_CONTROL_BODY = 64 * 1024


@dataclass
class SimState:
    default: str = "old"
    domains: dict[str, DomainConfig] = field(default_factory=dict)
    requests_per_second: int = 0  # 0 = no limit
    window: deque[float] = field(default_factory=deque)  # monotonic times of answered queries
    requests: int = 0
    by_domain: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    huge_cache: dict[tuple[str, int], bytes] = field(default_factory=dict)

    def reset_stats(self) -> None:
        self.requests, self.rate_limited = 0, 0
        self.by_domain.clear()

    def reset(self) -> None:
        self.domains.clear()
        self.requests_per_second = 0
        self.window.clear()
        self.huge_cache.clear()
        self.reset_stats()

    def over_limit(self) -> bool:
        """True when one more answer would exceed the limit in the last second (sliding window)."""
        if not self.requests_per_second:
            return False
        now = time.monotonic()
        while self.window and now - self.window[0] >= 1.0:
            self.window.popleft()
        if len(self.window) >= self.requests_per_second:
            return True
        self.window.append(now)
        return False


def rdap(body: dict[str, Any] | bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    return Response(content, status, headers={"Access-Control-Allow-Origin": "*", **(headers or {})},
                    media_type=RDAP_TYPE)


def rdap_error(code: int, title: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return rdap(error_object(code, title, description), code, headers)


def _base(request: Request) -> str:
    return str(request.base_url)  # ends with "/", as RFC 9224 service URLs do


async def query_domain(request: Request) -> Response:
    state: SimState = request.app.state.sim
    state.requests += 1
    try:
        name = normalize(request.path_params["name"])
    except BadRequest as exc:
        return rdap_error(400, "Bad Request", str(exc))
    state.by_domain[name] += 1
    if state.over_limit():
        state.rate_limited += 1
        return rdap_error(429, "Too Many Requests", "Query rate limit exceeded.", {"Retry-After": "1"})
    config = state.domains.get(name)
    if config is None:
        if state.default == "not_found" or "." not in name:  # a bare TLD is nobody's registration
            return rdap_error(404, "Not Found", f"The domain {name} was not found in this registry.")
        config = DomainConfig()
    behaviour = config.behaviour
    now = datetime.now(UTC)
    if behaviour == "not_found":
        return rdap_error(404, "Not Found", f"The domain {name} was not found in this registry.")
    if behaviour == "slow":
        await asyncio.sleep(config.delay_seconds)  # async: other queries are answered meanwhile
    elif behaviour == "error":
        return Response(f"Simulated registry failure ({config.status}).\n", config.status,
                        media_type="text/plain")
    elif behaviour == "garbage":
        return Response(b"<html><body>Service temporarily unavailable {\"objectClassName\":", 200,
                        media_type=RDAP_TYPE)
    elif behaviour == "ratelimit":
        return rdap_error(429, "Too Many Requests", "Query rate limit exceeded.",
                          {"Retry-After": str(config.retry_after)})
    elif behaviour == "redirect" and not request.url.path.startswith("/registrar/"):
        return Response(b"", config.status, headers={"Location": config.location})
    registration = config.registration(name, now)
    if behaviour in ("huge", "huge_chunked"):
        key = (name, config.size_bytes)
        if key not in state.huge_cache:
            state.huge_cache[key] = huge_body(name, registration, now, _base(request), config.size_bytes)
        if behaviour == "huge_chunked":  # no Content-Length: only reading tells the size
            return StreamingResponse(_chunks(state.huge_cache[key]), media_type=RDAP_TYPE)
        return rdap(state.huge_cache[key])
    return rdap(domain_object(name, registration, now, _base(request), behaviour))


async def _chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def help_page(request: Request) -> Response:
    return rdap(help_object(_base(request)))


async def not_implemented(request: Request) -> Response:
    return rdap_error(501, "Not Implemented", "rdapsim answers domain queries only.")


async def not_found(request: Request) -> Response:
    return rdap_error(404, "Not Found", f"No such resource: {request.url.path[:200]}")


# Control API ---------------------------------------------------------------------------------


def _bad(exc: BadRequest) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, 400)


async def _json_body(request: Request) -> Any:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_CONTROL_BODY:  # stop reading: a control body is a few fields
            raise BadRequest(f"the body is larger than {MAX_CONTROL_BODY} bytes")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON") from None


async def put_domain(request: Request) -> Response:
    state: SimState = request.app.state.sim
    try:
        name = normalize(request.path_params["name"])
        config = DomainConfig.from_json(await _json_body(request))
    except BadRequest as exc:
        return _bad(exc)
    state.domains[name] = config
    return JSONResponse({"name": name, **config.to_json()})


async def list_domains(request: Request) -> Response:
    state: SimState = request.app.state.sim
    return JSONResponse({name: config.to_json() for name, config in sorted(state.domains.items())})


async def forget_domains(request: Request) -> Response:
    state: SimState = request.app.state.sim
    state.domains.clear()
    state.huge_cache.clear()
    return JSONResponse({"domains": 0})


async def put_limits(request: Request) -> Response:
    state: SimState = request.app.state.sim
    try:
        body = await _json_body(request)
        if not isinstance(body, dict) or set(body) - {"requests_per_second"}:
            raise BadRequest('the body must be {"requests_per_second": N}')
        rps = body.get("requests_per_second")
        if rps is not None and (isinstance(rps, bool) or not isinstance(rps, int) or rps < 0):
            raise BadRequest("requests_per_second must be a whole number >= 0 (0 or null: no limit)")
    except BadRequest as exc:
        return _bad(exc)
    state.requests_per_second = rps or 0
    state.window.clear()
    return JSONResponse({"requests_per_second": state.requests_per_second})


async def get_stats(request: Request) -> Response:
    state: SimState = request.app.state.sim
    return JSONResponse({"requests": state.requests, "by_domain": dict(state.by_domain),
                         "rate_limited": state.rate_limited})


async def reset_stats(request: Request) -> Response:
    request.app.state.sim.reset_stats()
    return JSONResponse({"requests": 0})


async def reset(request: Request) -> Response:
    request.app.state.sim.reset()
    return JSONResponse({"reset": True})


def bootstrap_document(base_url: str, tlds: list[str]) -> dict[str, Any]:
    """An IANA RDAP bootstrap file (RFC 9224) naming ``base_url`` for ``tlds``."""
    return {
        "description": "RDAP bootstrap file for Domain Name System registrations (rdapsim)",
        "publication": rfc3339(datetime.now(UTC)),
        "version": "1.0",
        "services": [[tlds, [base_url]]],
    }


async def bootstrap(request: Request) -> Response:
    raw = request.query_params.get("tlds")
    if raw is None:
        tlds = list(BUILTIN_TLDS)
    else:
        tlds = []
        try:
            for item in raw.split(","):
                if item.strip():
                    tld = normalize(item.strip())
                    if "." in tld:
                        raise BadRequest(f"not a TLD: {tld!r}")
                    if tld not in tlds:
                        tlds.append(tld)
            if not tlds:
                raise BadRequest("tlds names no TLD")
            if len(tlds) > MAX_TLDS:
                raise BadRequest(f"more than {MAX_TLDS} TLDs")
        except BadRequest as exc:
            return _bad(exc)
    return JSONResponse(bootstrap_document(_base(request), tlds))


def build_app(default: str = "old") -> Starlette:
    if default not in DEFAULTS:
        raise ValueError(f"default must be one of {DEFAULTS}")
    routes = [
        Route("/domain/{name:path}", query_domain, methods=["GET"]),
        # The registrar's RDAP service a thin registry redirects to: the same answers, no redirect.
        Route("/registrar/domain/{name:path}", query_domain, methods=["GET"]),
        Route("/help", help_page, methods=["GET"]),
        *(Route(f"/{kind}/{{rest:path}}", not_implemented, methods=["GET"])
          for kind in ("nameserver", "entity", "ip", "autnum", "domains", "nameservers", "entities")),
        Route("/_sim/domains/{name:path}", put_domain, methods=["PUT"]),
        Route("/_sim/domains", list_domains, methods=["GET"]),
        Route("/_sim/domains", forget_domains, methods=["DELETE"]),
        Route("/_sim/limits", put_limits, methods=["PUT"]),
        Route("/_sim/stats", get_stats, methods=["GET"]),
        Route("/_sim/stats/reset", reset_stats, methods=["POST"]),
        Route("/_sim/bootstrap", bootstrap, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/{rest:path}", not_found, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.sim = SimState(default=default)
    return app
