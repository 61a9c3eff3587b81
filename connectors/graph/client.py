"""Graph HTTP client for one app: msgraph-sdk plus raw requests over the same middleware.

Every request, SDK or raw, goes through one httpx client whose kiota middleware retries
429/503/504 honouring ``Retry-After``; our innermost middleware adds
``Prefer: IdType="ImmutableId"`` (ids survive moves) and holds one of the app's concurrency
slots only while a request is on the wire, so retry back-off never blocks other work.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

import httpx
import jwt
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware.middleware import REQUEST_OPTIONS_KEY, BaseMiddleware
from kiota_http.middleware.options import RetryHandlerOption
from kiota_http.middleware.retry_handler import RetryHandler
from msgraph import GraphServiceClient
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph_core import GraphClientFactory  # type: ignore[import-untyped]
from msgraph_core.middleware import GraphTelemetryHandler  # type: ignore[import-untyped]

from .auth import AsyncTenantCredential, CredentialPool
from .config import GRAPH_SCOPE, GraphSettings
from .errors import GraphApiError

if TYPE_CHECKING:
    from .messages import FetchedMessage

IMMUTABLE_ID = 'IdType="ImmutableId"'
BATCH_LIMIT = 20  # Graph's $batch holds at most 20 requests


def seg(value: str) -> str:
    """Quote an id or address for one URL path segment."""
    return quote(value, safe="=@")


def add_prefer(headers: Mapping[str, str], token: str = IMMUTABLE_ID) -> str:
    """The Prefer header value with ``token`` merged in (other preferences kept)."""
    current = headers.get("Prefer") or headers.get("prefer") or ""
    parts = [p.strip() for p in current.split(",") if p.strip()]
    if not any(p.replace(" ", "").lower() == token.replace(" ", "").lower() for p in parts):
        parts.append(token)
    return ", ".join(parts)


TokenRefresher = Callable[[str], Awaitable[str | None]]


class ImmutableIdLimitMiddleware(BaseMiddleware):
    """Innermost middleware: Prefer header, per-app concurrency slot, request counter, and one
    resend with a fresh token when Graph answers 401 (SDK and raw requests alike)."""

    def __init__(self, limit: int, refresh: TokenRefresher | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.refresh = refresh
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self.sent = 0  # HTTP requests put on the wire (retries included)

    def _semaphore(self) -> asyncio.Semaphore:
        # One semaphore per event loop (a semaphore is bound to its loop); CLIs and tests may
        # run several loops in turn.
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return sem

    async def send(self, request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
        request.headers["Prefer"] = add_prefer(request.headers)
        async with self._semaphore():
            self.sent += 1
            response = await super().send(request, transport)
            # Read the body inside the slot so the connection is free when the slot is.
            await response.aread()
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if response.status_code != 401 or scheme.lower() != "bearer" or self.refresh is None:
                return response
            fresh = await self.refresh(token)
            if not fresh or fresh == token:
                return response
            await response.aclose()
            request.headers["Authorization"] = f"Bearer {fresh}"
            self.sent += 1
            response = await super().send(request, transport)
            await response.aread()
            return response


#: Methods that change mail (send, move, patch a body, add an attachment).
_EFFECT_METHODS = frozenset({"POST", "PATCH"})
#: Answers that mean Graph did not serve the request (throttled or unavailable, with Retry-After).
_NOT_SERVED = frozenset({429, 503})


class EffectSafeRetryHandler(RetryHandler):  # type: ignore[misc]
    """Kiota's retry, except that a request that changes mail is not sent again after a 504:
    a gateway timeout may come after Graph applied it, and sending it again would apply the
    effect twice within one attempt, where the journal cannot see it. The attempt fails instead;
    the next one checks Graph's state before it acts (``connectors.service.processing``)."""

    def should_retry(
        self, request: httpx.Request, options: RetryHandlerOption, response: httpx.Response
    ) -> bool:
        if request.method.upper() in _EFFECT_METHODS and response.status_code not in _NOT_SERVED:
            return False
        return bool(super().should_retry(request, options, response))


def build_http_client(settings: GraphSettings, limiter: ImmutableIdLimitMiddleware) -> httpx.AsyncClient:
    """httpx client with Graph's default middleware (retry count configurable) plus ours."""
    verify: ssl.SSLContext | bool = True
    if settings.ca_bundle:
        verify = ssl.create_default_context(cafile=settings.ca_bundle)
    client = httpx.AsyncClient(
        verify=verify,
        trust_env=False,  # no proxy/CA from the environment: only what settings say
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        limits=httpx.Limits(max_connections=max(settings.max_concurrency * 2, 8)),
        follow_redirects=False,
    )
    retry = RetryHandlerOption(delay=settings.retry_delay, max_retries=settings.max_retries)
    middleware = [
        EffectSafeRetryHandler(options=retry) if isinstance(m, RetryHandler) else m
        for m in KiotaClientFactory.get_default_middleware({RetryHandlerOption.get_key(): retry})
    ]
    middleware.append(GraphTelemetryHandler())
    middleware.append(limiter)
    return GraphClientFactory.create_with_custom_middleware(middleware=middleware, client=client)


@dataclass
class BatchRequest:
    method: str
    url: str  # relative to the base URL, e.g. "/users/{id}/messages/{id}"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    id: str = ""


@dataclass
class BatchResponse:
    id: str
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self, request: BatchRequest | None = None) -> GraphApiError:
        return GraphApiError.from_response(
            self.status, self.body, request.method if request else "", request.url if request else ""
        )


class GraphApp:
    """Everything shared by the tenants of one app: settings, credentials, HTTP, limits."""

    def __init__(self, settings: GraphSettings, credentials: CredentialPool | None = None) -> None:
        self.settings = settings
        self.credentials = credentials or CredentialPool(settings)
        self.limiter = ImmutableIdLimitMiddleware(settings.max_concurrency, self._refresh_token)
        self._http: httpx.AsyncClient | None = None
        self._tenants: dict[str, TenantGraph] = {}

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = build_http_client(self.settings, self.limiter)
        return self._http

    async def _refresh_token(self, rejected: str) -> str | None:
        """A new token for the tenant the rejected one was issued for (its ``tid`` claim)."""
        try:
            tenant_id = str(jwt.decode(rejected, options={"verify_signature": False}).get("tid") or "")
        except jwt.PyJWTError:
            return None
        if not tenant_id:
            return None
        credential = self.credentials.get(tenant_id)
        return await asyncio.to_thread(credential.refresh, rejected)

    def tenant(self, tenant_id: str) -> TenantGraph:
        key = tenant_id.lower()
        graph = self._tenants.get(key)
        if graph is None:
            graph = self._tenants[key] = TenantGraph(self, tenant_id)
        return graph

    async def fetch_message(self, tenant_id: str, mailbox: str, message_id: str) -> FetchedMessage:
        """One message with its attachments (one Graph request when attachments are small)."""
        from .messages import fetch_message  # messages imports this module

        return await fetch_message(self.tenant(tenant_id), mailbox, message_id)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self.credentials.close()

    async def __aenter__(self) -> GraphApp:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()


class TenantGraph:
    """Graph access for one tenant: the SDK client and raw JSON requests."""

    def __init__(self, app: GraphApp, tenant_id: str) -> None:
        self.app = app
        self.tenant_id = tenant_id
        self.credential = AsyncTenantCredential(app.credentials.get(tenant_id))
        self._sdk: GraphServiceClient | None = None

    @property
    def settings(self) -> GraphSettings:
        return self.app.settings

    @property
    def sdk(self) -> GraphServiceClient:
        """msgraph-sdk client on the shared middleware, pointed at ``settings.base_url``."""
        if self._sdk is None:
            host = urlparse(self.settings.base_url).hostname or ""
            auth = AzureIdentityAuthenticationProvider(
                self.credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host]
            )
            adapter = GraphRequestAdapter(auth, client=self.app.http)
            adapter.base_url = self.settings.base_url
            self._sdk = GraphServiceClient(request_adapter=adapter)
        return self._sdk

    async def access_token(self) -> str:
        return (await self.credential.get_token(GRAPH_SCOPE)).token

    def url(self, path: str) -> str:
        if path.startswith(("https://", "http://")):
            return path  # nextLink/deltaLink: already absolute
        return f"{self.settings.base_url}/{path.lstrip('/')}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        ok: Sequence[int] = (),
    ) -> httpx.Response:
        """One Graph request (retried by the middleware); raises GraphApiError unless 2xx or ``ok``."""
        hdrs = {"Authorization": f"Bearer {await self.access_token()}", **(headers or {})}
        request = self.app.http.build_request(
            method,
            self.url(path),
            params=dict(params) if params else None,
            json=json,
            headers=hdrs,
            # The Graph transport runs the middleware only for requests that carry options.
            extensions={REQUEST_OPTIONS_KEY: {}},
        )
        response = await self.app.http.send(request)
        if response.is_success or response.status_code in ok:
            return response
        raise GraphApiError.from_response(response.status_code, _body(response), method, path)

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return (await self.request("GET", path, params=params)).json()

    async def pages(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a collection, following ``@odata.nextLink``."""
        data = await self.get_json(path, params)
        while True:
            for item in data.get("value") or []:
                yield item
            next_link = data.get("@odata.nextLink")
            if not next_link:
                return
            data = await self.get_json(next_link)

    async def batch(self, requests: Sequence[BatchRequest]) -> list[BatchResponse]:
        """Run requests through ``$batch`` (20 per call); throttled ones are retried."""
        for index, req in enumerate(requests):
            req.id = req.id or str(index + 1)
        results: dict[str, BatchResponse] = {}
        pending = list(requests)
        for attempt in range(self.settings.max_retries + 1):
            retry: list[BatchRequest] = []
            delay = 0.0
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start : start + BATCH_LIMIT]
                for resp in await self._batch_call(chunk):
                    results[resp.id] = resp
                    if resp.status in (429, 503, 504) and attempt < self.settings.max_retries:
                        retry.append(next(r for r in chunk if r.id == resp.id))
                        delay = max(delay, _retry_after(resp.headers, self.settings.retry_delay))
            if not retry:
                break
            await asyncio.sleep(delay)
            pending = retry
        return [results[r.id] for r in requests]

    async def _batch_call(self, chunk: Sequence[BatchRequest]) -> list[BatchResponse]:
        payload = []
        for req in chunk:
            item: dict[str, Any] = {
                "id": req.id,
                "method": req.method.upper(),
                "url": "/" + req.url.lstrip("/"),
                "headers": {**req.headers, "Prefer": add_prefer(req.headers)},
            }
            if req.body is not None:
                item["body"] = req.body
                item["headers"].setdefault("Content-Type", "application/json")
            payload.append(item)
        data = (await self.request("POST", "/$batch", json={"requests": payload})).json()
        return [
            BatchResponse(
                str(r.get("id")), int(r.get("status", 0)), r.get("body"), dict(r.get("headers") or {})
            )
            for r in data.get("responses") or []
        ]


def _retry_after(headers: Mapping[str, str], default: float) -> float:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return default


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
