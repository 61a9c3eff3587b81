"""The console's request handling: sign-in, tenant, role and CSRF checks, routing to the page
handlers in ``connectors/console/pages/``, static assets and the headers on every answer.

``function_app.py`` turns an ``azure.functions.HttpRequest`` into a :class:`ConsoleRequest` and
the :class:`ConsoleResponse` back; nothing here depends on the Functions SDK, so tests call
:meth:`ConsoleApp.handle` directly as well as through the local host.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import logging
import mimetypes
import pkgutil
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from connectors.console import csrf
from connectors.console.auth import (
    ROLES,
    AuthError,
    ConsoleError,
    Principal,
    authenticate,
    platform_auth_enabled,
)
from connectors.console.render import render_page
from connectors.storage.interfaces import AuditRecord
from tap_core.parsing.timestamps import parse_iso_datetime

if TYPE_CHECKING:
    from connectors.service.runtime import Runtime

log = logging.getLogger("tap365.console")

#: Where the console lives under the function app (host.json's routePrefix "api" + the route).
BASE = "/api/console"
STATIC_DIR = Path(__file__).parent / "static"
#: Largest POST body read (a policy document is the largest form; far below this).
MAX_FORM_BYTES = 1024 * 1024
#: Fields read from one form at most.
MAX_FORM_FIELDS = 1000
#: Highest page number a list accepts (with the page size, bounded again by TAP365_CONSOLE_MAX_ROWS).
MAX_PAGE = 10_000

#: The navigation, in order: (label, path). Pages may 404 until their handler lands.
NAV: tuple[tuple[str, str], ...] = (
    ("Overview", "/"),
    ("Held mail", "/held"),
    ("Release requests", "/requests"),
    ("Reports", "/reports"),
    ("Campaigns", "/campaigns"),
    ("Clicks", "/clicks"),
    ("Audit", "/audit"),
    ("Policy", "/policy"),
    ("Health", "/health"),
)

#: Messages a handler may show after a redirect (``ctx.redirect(path, notice=key)``): only these
#: texts, so a link cannot make the console say something of an attacker's choosing.
NOTICES: dict[str, str] = {}


def register_notice(key: str, text: str) -> str:
    """Make ``text`` showable after a redirect with ``notice=key``; returns ``key``."""
    NOTICES[key] = text
    return key


@dataclass(frozen=True)
class ConsoleRequest:
    method: str
    #: The path below ``/api/console``, starting with "/" ("/" for the overview).
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    #: Lower-cased names.
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: The full URL as the host saw it (for the Origin check).
    url: str = ""

    @cached_property
    def form(self) -> dict[str, str]:
        """A urlencoded POST body's fields (the last of repeated names); empty otherwise."""
        ctype = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if self.method != "POST" or ctype != "application/x-www-form-urlencoded":
            return {}
        text = self.body.decode("utf-8", "replace")
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))

    def form_list(self, name: str) -> list[str]:
        """Every value of a repeated form field (checkboxes), in order."""
        text = self.body.decode("utf-8", "replace") if self.form else ""
        return [
            v for k, v in parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS) if k == name
        ]


def request_from(
    method: str, request_url: str, headers: Mapping[str, str], params: Mapping[str, str], body: bytes
) -> ConsoleRequest:
    """A ConsoleRequest from what the Functions host gives: the path is cut from the raw URL (still
    percent-encoded, so an encoded "/" inside a route value stays one segment)."""
    raw_path = urlsplit(request_url).path
    lowered = raw_path.lower()
    rest = raw_path[len(BASE) :] if lowered.startswith(BASE) else raw_path
    return ConsoleRequest(
        method=method.upper(),
        path=rest if rest.startswith("/") else "/" + rest,
        query=dict(params),
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        url=request_url,
    )


@dataclass
class ConsoleResponse:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


#: Sent with every answer, pages and assets alike.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with a form
    # POST, which the CSRF origin check must refuse; other sites still get no referrer.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True)
class Paging:
    """A list page: ``page`` from 1, ``size`` rows; bounded by the settings."""

    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


@dataclass(frozen=True)
class PageOf:
    """One page of rows, for the ``pager`` macro in ``_macros.html``."""

    items: list[Any]
    page: int
    size: int
    has_next: bool
    #: The store's read stopped at TAP365_CONSOLE_MAX_ROWS: older rows exist but are not listed.
    truncated: bool


class Context:
    """What a page handler gets: the request, the person, their tenant, and helpers."""

    def __init__(
        self,
        app: ConsoleApp,
        request: ConsoleRequest,
        principal: Principal,
        params: Mapping[str, str],
        nav_path: str,
    ) -> None:
        self.app = app
        self.runtime = app.runtime
        self.settings = app.runtime.settings
        self.stores = app.runtime.stores
        self.request = request
        self.principal = principal
        #: Path parameters of the route (``{name}`` segments, percent-decoded).
        self.params = dict(params)
        self.nav_path = nav_path

    @property
    def tenant_id(self) -> str:
        """The signed-in person's tenant: the only tenant any store call of a page may use."""
        return self.principal.tenant_id

    @property
    def can_act(self) -> bool:
        """Admins act; analysts read (their POSTs are refused before any handler runs)."""
        return self.principal.is_admin

    @cached_property
    def csrf_token(self) -> str:
        return csrf.issue(self.app.keyring, self.tenant_id, self.principal.upn)

    def render(self, template: str, *, status: int = 200, title: str = "", **values: Any) -> ConsoleResponse:
        notice = NOTICES.get(self.request.query.get("notice", ""), "")
        body = render_page(
            template,
            principal=self.principal,
            nav=NAV if self.principal.role else (),  # no console role: no console to navigate
            active=self.nav_path,
            csrf_token=self.csrf_token,
            can_act=self.can_act,
            title=title,
            notice=notice,
            **values,
        )
        return ConsoleResponse(status, body.encode("utf-8"))

    def redirect(self, path: str, *, notice: str = "", **query: str) -> ConsoleResponse:
        """303 to a console path (after a POST). ``notice`` names a registered notice."""
        if notice and notice not in NOTICES:
            raise KeyError(f"notice {notice!r} is not registered (register_notice)")
        params = {**query, **({"notice": notice} if notice else {})}
        location = url(path) + (("?" + urlencode(params)) if params else "")
        return ConsoleResponse(303, b"", "text/plain; charset=utf-8", {"Location": location})

    def audit(
        self, action: str, target: str, reason: str, details: Mapping[str, Any] | None = None
    ) -> AuditRecord:
        """Record an admin action in the tenant's audit trail, with the person's UPN as actor."""
        return self.stores.audit.append(
            self.tenant_id,
            AuditRecord(
                actor=self.principal.upn,
                action=action,
                target=target[:500],
                reason=reason[:500],
                at=datetime.now(UTC),
                details={"via": "console", "name": self.principal.name, **(details or {})},
            ),
        )

    def paging(self) -> Paging:
        """``page`` and ``size`` from the query, clamped: size at most TAP365_CONSOLE_PAGE_SIZE."""
        limit = self.settings.console_page_size
        return Paging(
            page=_int(self.request.query.get("page"), 1, 1, MAX_PAGE),
            size=_int(self.request.query.get("size"), limit, 1, limit),
        )

    def read_limit(self, paging: Paging) -> int:
        """How many rows to read from a store for ``paging`` (one more than shown, to know whether a
        next page exists), never over TAP365_CONSOLE_MAX_ROWS."""
        return min(self.settings.console_max_rows, paging.offset + paging.size + 1)

    def page_of(self, rows: list[Any], paging: Paging, *, read: int) -> PageOf:
        """Cut one page out of ``rows`` (already filtered); ``read`` is how many rows the store
        returned: reaching TAP365_CONSOLE_MAX_ROWS means older rows exist that were not read."""
        shown = rows[paging.offset : paging.offset + paging.size]
        has_next = len(rows) > paging.offset + paging.size
        return PageOf(
            shown, paging.page, paging.size, has_next, truncated=read >= self.settings.console_max_rows
        )

    def date_param(self, name: str, *, end_of_day: bool = False) -> tuple[datetime | None, str]:
        """A date filter from the query: ``YYYY-MM-DD`` (UTC; ``end_of_day`` for an upper bound) or
        an ISO 8601 time. Returns (time or None, an error to show at the field or "")."""
        raw = self.request.query.get(name, "").strip()
        if not raw:
            return None, ""
        if len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
            raw += "T23:59:59.999999+00:00" if end_of_day else "T00:00:00+00:00"
        parsed = parse_iso_datetime(raw[:40])
        if parsed is None:
            return None, "Use a date as YYYY-MM-DD (UTC)."
        return parsed.astimezone(UTC), ""

    def int_param(self, name: str, default: int, low: int, high: int) -> int:
        """A whole number from the query, clamped to [low, high]; ``default`` when absent or not one."""
        return _int(self.request.query.get(name), default, low, high)

    def since(self, default_days: int = 14, max_days: int = 365) -> datetime:
        """The ``days`` query value as a start time (UTC), clamped to ``max_days``."""
        days = _int(self.request.query.get("days"), default_days, 1, max_days)
        return datetime.now(UTC) - timedelta(days=days)


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default
    return max(low, min(high, number))


def url(path: str, **query: Any) -> str:
    """The console URL of ``path`` ("/held") with an optional query."""
    clean = {k: v for k, v in query.items() if v not in (None, "")}
    return BASE + (path if path.startswith("/") else "/" + path) + (("?" + urlencode(clean)) if clean else "")


Handler = Callable[[Context], "ConsoleResponse | Awaitable[ConsoleResponse]"]


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    template: str
    handler: Handler
    #: The nav entry it belongs to ("/held" for "/held/{id}").
    nav_path: str
    #: Open to every signed-in person of a served tenant, console role or not, and their POSTs
    #: too (CSRF still checked): the pages mail sends people to (a digest's release request).
    people: bool = False


ROUTES: list[Route] = []
_SEGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def page(
    path: str, *, methods: tuple[str, ...] = ("GET",), nav: str | None = None, people: bool = False
) -> Callable[[Handler], Handler]:
    """Register a page handler: ``@page("/held/{mailbox}/{message}", methods=("GET", "POST"))``.

    ``{name}`` matches one path segment (percent-decoded into ``ctx.params``). ``nav`` names the
    navigation entry to highlight (default: the path's first segment). ``people=True`` opens the
    page, and its POSTs, to anyone signed in from a served tenant without a console role: the
    handler itself must then decide what the person may see and do (``ctx.principal``)."""
    regex = (
        "^"
        + _SEGMENT.sub(
            lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
        )
        + "/?$"
    )
    nav_path = nav if nav is not None else "/" + path.strip("/").split("/")[0]

    def register(handler: Handler) -> Handler:
        ROUTES.append(
            Route(frozenset(m.upper() for m in methods), re.compile(regex), path, handler, nav_path, people)
        )
        return handler

    return register


_pages_lock = threading.Lock()
_pages_loaded = False


def load_pages() -> None:
    """Import every module in ``connectors/console/pages/`` (each registers its routes)."""
    global _pages_loaded
    with _pages_lock:
        if _pages_loaded:
            return
        from connectors.console import pages

        for module in sorted(pkgutil.iter_modules(pages.__path__), key=lambda m: m.name):
            importlib.import_module(f"{pages.__name__}.{module.name}")
        _pages_loaded = True


class StaticAssets:
    """The files in ``static/``, read once: name -> (bytes, content type, short hash)."""

    NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}\.(?:css|js|svg|png|ico|woff2|txt)$")

    def __init__(self, folder: Path = STATIC_DIR) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for path in sorted(folder.iterdir()):
            if path.is_file() and self.NAME.match(path.name):
                data = path.read_bytes()
                ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml"):
                    ctype += "; charset=utf-8"
                self.files[path.name] = (data, ctype, hashlib.sha256(data).hexdigest()[:12])

    def url(self, name: str) -> str:
        """The asset's URL with its content hash, so a long cache never serves an old copy."""
        return f"{BASE}/static/{quote(name)}?v={self.files[name][2]}"

    def answer(self, name: str) -> ConsoleResponse:
        found = self.files.get(name) if self.NAME.match(name) else None
        if found is None:  # anything else, "../" included, is simply not one of the files
            return ConsoleResponse(
                404, b"not found\n", "text/plain; charset=utf-8", {"Cache-Control": "no-store"}
            )
        data, ctype, _ = found
        return ConsoleResponse(200, data, ctype, {"Cache-Control": "public, max-age=31536000, immutable"})


_assets: StaticAssets | None = None


def assets() -> StaticAssets:
    global _assets
    if _assets is None:
        _assets = StaticAssets()
    return _assets


class ConsoleApp:
    """One console request at a time: ``await ConsoleApp(runtime).handle(request)``."""

    def __init__(self, runtime: Runtime, *, environ: Mapping[str, str] | None = None) -> None:
        self.runtime = runtime
        #: The process environment unless a test gives its own (WEBSITE_AUTH_ENABLED is read here).
        self.environ = environ
        load_pages()

    @cached_property
    def keyring(self) -> Any:
        from connectors.keys import keyring_from_settings

        return keyring_from_settings(self.runtime.settings)

    async def handle(self, request: ConsoleRequest) -> ConsoleResponse:
        try:
            response = await self._handle(request)
        except Exception:  # a defect of ours: a plain error page, the trace in the log only
            log.exception("console %s %s failed", request.method, request.path)
            response = self._error(
                500,
                "Something went wrong",
                "The console could not answer this request. The error has been logged.",
                None,
            )
        if "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        response.headers.update(SECURITY_HEADERS)
        return response

    def _error(
        self, status: int, title: str, detail: str, principal: Principal | None, *, sign_in: str = ""
    ) -> ConsoleResponse:
        body = render_page(
            "error.html",
            principal=principal,
            nav=NAV if principal and principal.role else (),
            active="",
            csrf_token="",
            can_act=bool(principal and principal.is_admin),
            title=title,
            notice="",
            status=status,
            detail=detail,
            sign_in=sign_in,
        )
        return ConsoleResponse(status, body.encode("utf-8"))

    async def _handle(self, request: ConsoleRequest) -> ConsoleResponse:
        path = request.path or "/"
        if path.startswith("/static/"):
            if request.method != "GET":
                return ConsoleResponse(405, b"", "text/plain; charset=utf-8", {"Allow": "GET"})
            return assets().answer(path[len("/static/") :])
        try:
            principal = authenticate(
                request.headers, self.runtime.settings.console_dev_identity, self.environ
            )
        except AuthError as exc:
            # Behind App Service authentication a sign-in is one link away (its own login endpoint).
            platform = platform_auth_enabled(self.environ)
            sign_in = (
                "/.auth/login/aad?post_login_redirect_uri=" + quote(BASE + "/", safe="") if platform else ""
            )
            return self._error(exc.status, exc.title, exc.detail, None, sign_in=sign_in)
        if not await asyncio.to_thread(self._serves, principal.tenant_id):
            return self._error(
                403,
                "Tenant not served",
                "This service does not protect your tenant "
                f"({principal.tenant_id}), so there is nothing to show.",
                None,
            )
        route, params, allowed = self._match(request.method, path)
        people = route is not None and route.people
        if not principal.role and not people:
            return self._error(
                403,
                "No console role",
                f"{principal.upn} holds neither {' nor '.join(ROLES)} in "
                "this app's registration. An administrator of your tenant can assign one.",
                None,
            )
        if request.method == "POST":  # every state change, whatever the page, before its handler
            refused = self._check_post(request, principal, people=people)
            if refused is not None:
                return refused
        if route is None:
            if allowed:
                return ConsoleResponse(
                    405, b"", "text/plain; charset=utf-8", {"Allow": ", ".join(sorted(allowed))}
                )
            return self._error(404, "Page not found", "There is no console page at this address.", principal)
        ctx = Context(self, request, principal, params, route.nav_path)
        try:
            if inspect.iscoroutinefunction(route.handler):
                return await route.handler(ctx)  # type: ignore[no-any-return,misc]
            # Store calls block: off the event loop, which also serves Graph's notifications.
            return await asyncio.to_thread(route.handler, ctx)  # type: ignore[arg-type,return-value]
        except ConsoleError as exc:
            return self._error(exc.status, exc.title, exc.detail, principal)

    def _check_post(
        self, request: ConsoleRequest, principal: Principal, *, people: bool
    ) -> ConsoleResponse | None:
        if not principal.is_admin and not people:
            return self._error(
                403,
                "Read-only role",
                f"{principal.upn} has the {principal.role} role, which can look but not change anything.",
                principal,
            )
        if len(request.body) > MAX_FORM_BYTES:
            return self._error(
                413, "Form too large", f"A console form may carry at most {MAX_FORM_BYTES} bytes.", principal
            )
        try:
            csrf.check_origin(request.headers, request.url)
            token = request.form.get(csrf.FIELD) or request.headers.get("x-csrf-token", "")
            csrf.check(
                self.keyring,
                token,
                principal.tenant_id,
                principal.upn,
                self.runtime.settings.console_token_minutes * 60,
            )
        except csrf.CsrfError as exc:
            return self._error(403, "Request not accepted", str(exc), principal)
        return None

    def _serves(self, tenant_id: str) -> bool:
        """The service protects this tenant: it onboarded (and was not offboarded), or it is the
        app's home tenant."""
        home = self.runtime.settings.home_tenant_id.strip().lower()
        if home and tenant_id == home:
            return True
        tenant = self.runtime.stores.tenants.get_tenant(tenant_id)
        return tenant is not None and tenant.status != "offboarded"

    @staticmethod
    def _match(method: str, path: str) -> tuple[Route | None, dict[str, str], set[str]]:
        from urllib.parse import unquote

        allowed: set[str] = set()
        for route in ROUTES:
            found = route.pattern.match(path)
            if found is None:
                continue
            if method in route.methods:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}, allowed
            allowed |= route.methods
        return None, {}, allowed
