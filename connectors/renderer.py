"""Headless Chromium as the click-time renderer (implements ``tap_core.click.render.Renderer``).

One browser per process, started on first use (and again if it dies), spoken to with the Chrome
DevTools Protocol over ``--remote-debugging-pipe`` (fds 3 and 4, NUL-separated JSON): no port,
no dependency. Each render gets a fresh browser context, disposed after.

Chromium itself reaches nothing: its proxy is a dead address (``127.0.0.1:1``, nothing may
listen there but root) for every host including loopback, names resolve nowhere, WebRTC may not
send UDP past the proxy, downloads are denied, service workers are removed from the page. What
the page asks for is intercepted (``Fetch`` at the request stage, in the page and every frame
or worker it starts) and answered here: the document from the page already fetched (never
twice), everything else through the same ``SafeFetcher`` -- its pinned, vetted addresses, its
refusal of private ranges, its size and time limits -- GET only, at most ``max_requests``
requests and ``max_bytes`` bytes per render. A request the fetcher refuses is reported with
its reason code. A render that overruns its budget is abandoned (its context disposed).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from connectors.fetcher import BROWSER_USER_AGENT, SafeFetcher, accept_language
from tap_core.click.fetch import FetchBlocked, FetchedPage, FetchError
from tap_core.click.render import MAX_DOM_CHARS, RefusedRequest, RenderedDom
from tap_core.click.single_use import single_use

log = logging.getLogger(__name__)

#: Names a Chromium is looked up under when no path is configured.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Where Chromium's own connections go: nothing listens on port 1 (only root could bind it).
DEAD_PROXY = "http://127.0.0.1:1"
#: After the load event, the page may still build itself: wait until no request of its own is
#: pending for this long, at most ``_SETTLE_MAX`` (both inside the budget).
_SETTLE_QUIET = 0.3
_SETTLE_MAX = 1.5
#: The largest CDP message read (a DOM of MAX_DOM_CHARS, JSON-escaped, fits several times).
_MAX_MESSAGE = 64 * 1024 * 1024
#: Response headers not handed to the page: hop-by-hop, already decoded, or state it keeps.
_DROP_HEADERS = frozenset({
    "content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive",
    "set-cookie", "strict-transport-security", "alt-svc", "location",
})
#: Removes service workers from every document before its scripts run (a worker's own
#: requests would go to the dead proxy anyway; this keeps it from being registered at all).
_NO_SERVICE_WORKERS = "try { delete Navigator.prototype.serviceWorker; } catch (e) {}"
_SCRIPT_ON_NEW_DOCUMENT = {"source": _NO_SERVICE_WORKERS}
_INTERCEPT_ALL = {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]}
#: Frames and workers the page starts are paused until their requests are intercepted too.
_ATTACH_CHILDREN = {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True}
_READ_DOM = (
    "JSON.stringify([String(location.href), document.documentElement ? "
    f"document.documentElement.outerHTML.slice(0, {MAX_DOM_CHARS}) : ''])"
)


def find_chromium(path: str = "") -> str | None:
    """The Chromium to run: ``path`` when given (None if it is not an executable file), else the
    first of :data:`CHROMIUM_NAMES` on PATH."""
    if path:
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@cache
def _country_zones() -> dict[str, str]:
    """The first (main) time zone of each country, from the system's zone.tab."""
    zones: dict[str, str] = {}
    try:
        with open("/usr/share/zoneinfo/zone.tab", encoding="utf-8") as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3 and not line.startswith("#"):
                    zones.setdefault(parts[0].upper(), parts[2].strip())
    except OSError:
        pass
    return zones


#: Where a language without a region is mostly spoken (for its time zone).
_LANGUAGE_COUNTRY = {
    "en": "US", "de": "DE", "fr": "FR", "es": "ES", "it": "IT", "nl": "NL", "pt": "BR", "ja": "JP",
    "zh": "CN", "ko": "KR", "pl": "PL", "sv": "SE", "da": "DK", "fi": "FI", "nb": "NO", "no": "NO",
    "cs": "CZ", "tr": "TR", "ru": "RU", "uk": "UA", "he": "IL", "ar": "SA", "el": "GR", "hu": "HU",
}


def locale_and_zone(language: str | None) -> tuple[str, str]:
    """The locale and time zone a person with this Accept-Language most likely has."""
    first = accept_language(language).split(",")[0].split(";")[0].strip()
    lang, _, region = first.replace("_", "-").partition("-")
    lang = lang.lower() if lang.isalpha() and len(lang) <= 3 else "en"
    region = region.split("-")[-1].upper() if region else ""
    if not (region.isalpha() and len(region) == 2):
        region = _LANGUAGE_COUNTRY.get(lang, "US")
    return f"{lang}-{region}", _country_zones().get(region, "UTC")


class CdpError(Exception):
    """The browser answered a command with an error, or is gone."""


class _Browser:
    """One running Chromium and its DevTools pipe."""

    def __init__(self, pid: int, profile: tempfile.TemporaryDirectory[str]) -> None:
        self.pid = pid
        self.profile = profile
        self.loop = asyncio.get_running_loop()
        self.alive = True
        self._next = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.listeners: dict[str, Callable[[str, dict[str, Any]], None]] = {}
        self._buffer = bytearray()
        self._writer: asyncio.WriteTransport | None = None

    @classmethod
    async def launch(cls, path: str) -> _Browser:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # The child reads fd 3 and writes fd 4: duplicate the pipe ends above them first, so no
        # dup2 maps an fd onto itself (which would leave it close-on-exec).
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_child_r, from_child_w)]
        for fd in (to_child_r, from_child_w):
            os.close(fd)
        profile = tempfile.TemporaryDirectory(prefix="tap365-chromium-")
        args = [path, *_flags(profile.name)]
        try:
            pid = os.posix_spawn(
                path, args, dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, high[0], 3),
                    (os.POSIX_SPAWN_DUP2, high[1], 4),
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                ],
                setsid=True,  # its own process group: the renderers and helpers die with it
            )
        except OSError:
            for fd in (*high, to_child_w, from_child_r):
                os.close(fd)
            profile.cleanup()
            raise
        for fd in high:
            os.close(fd)
        browser = cls(pid, profile)
        atexit.register(browser.kill)
        loop = browser.loop
        await loop.connect_read_pipe(lambda: _Reader(browser), os.fdopen(from_child_r, "rb", buffering=0))
        writer, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(to_child_w, "wb", buffering=0))
        browser._writer = writer
        return browser

    def send_nowait(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> asyncio.Future[dict[str, Any]]:
        if not self.alive or self._writer is None or self._writer.is_closing():
            raise CdpError("browser is gone")
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._pending[self._next] = future
        self._writer.write(json.dumps(message).encode("utf-8") + b"\0")
        return future

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> dict[str, Any]:
        return await self.send_nowait(method, params, session)

    def received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\0")
            if end < 0:
                if len(self._buffer) > _MAX_MESSAGE:
                    log.warning("chromium sent a message over %d bytes; restarting it", _MAX_MESSAGE)
                    self.kill()
                return
            raw, self._buffer = bytes(self._buffer[:end]), self._buffer[end + 1 :]
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            future = self._pending.pop(message["id"], None)
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(CdpError(str(message["error"].get("message", message["error"]))))
                else:
                    future.set_result(message.get("result") or {})
            return
        listener = self.listeners.get(message.get("sessionId", ""))
        if listener is not None:
            try:
                listener(message.get("method", ""), message.get("params") or {})
            except Exception:  # one render's handler must not stop the pipe
                log.exception("render event handler failed")

    def lost(self) -> None:
        self.alive = False
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CdpError("browser is gone"))
        self._pending.clear()
        self.kill()

    def kill(self) -> None:
        """Kill the browser's process group and reap it (idempotent)."""
        self.alive = False
        if self._writer is not None and not self._writer.is_closing():
            with contextlib.suppress(RuntimeError):  # its loop may be closed already
                self._writer.close()
        if self.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)  # SIGKILL: it is gone within milliseconds
            self.pid = 0
            self.profile.cleanup()


class _Reader(asyncio.Protocol):
    def __init__(self, browser: _Browser) -> None:
        self.browser = browser

    def data_received(self, data: bytes) -> None:
        self.browser.received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.browser.lost()


def _flags(profile: str) -> list[str]:
    flags = [
        "--headless",
        "--remote-debugging-pipe",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--disable-breakpad",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--metrics-recording-only",
        "--mute-audio",
        "--hide-scrollbars",
        "--window-size=1280,800",
        # Nothing leaves the browser by itself: every connection goes to a dead proxy, loopback
        # included (<-loopback> drops its implicit bypass), and no name resolves.
        f"--proxy-server={DEAD_PROXY}",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
        "AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    return flags


class _Render:
    """One render in progress: its context, its sessions and what its page asked for."""

    def __init__(
        self, browser: _Browser, page: FetchedPage, fetcher: SafeFetcher, language: str | None,
        max_requests: int, max_bytes: int,
    ) -> None:
        self.browser, self.page, self.fetcher, self.language = browser, page, fetcher, language
        self.max_requests, self.max_bytes = max_requests, max_bytes
        self.context = ""
        self.sessions: list[str] = []
        self.served: list[str] = []
        self.refused: list[RefusedRequest] = []
        self.limited = ""
        self.document_served = False
        self.requests = 0
        self.bytes = 0
        self.inflight: set[asyncio.Task[None]] = set()
        self.last_activity = time.monotonic()
        self.loaded = asyncio.Event()

    # -- events ------------------------------------------------------------------------------
    def listener(self, session: str) -> Callable[[str, dict[str, Any]], None]:
        def on_event(method: str, params: dict[str, Any]) -> None:
            if method == "Fetch.requestPaused":
                self._spawn(self._request(session, params))
            elif method == "Page.loadEventFired" and session == self.sessions[0]:
                self.loaded.set()
            elif method == "Page.javascriptDialogOpening":
                self._spawn(self._call("Page.handleJavaScriptDialog", {"accept": False}, session))
            elif method == "Target.attachedToTarget":
                self._spawn(self._attach_child(params))
        return on_event

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def _call(self, method: str, params: dict[str, Any], session: str) -> None:
        with contextlib.suppress(CdpError):  # the target may be gone already: nothing to answer
            await self.browser.send(method, params, session)

    async def _attach_child(self, params: dict[str, Any]) -> None:
        """A frame or worker the page started: intercept its requests too, then let it run."""
        session = str(params.get("sessionId", ""))
        if not session:
            return
        self.sessions.append(session)
        self.browser.listeners[session] = self.listener(session)
        await self._call("Fetch.enable", _INTERCEPT_ALL, session)
        kind = (params.get("targetInfo") or {}).get("type", "")
        if kind in ("iframe", "page"):
            await self._call("Page.addScriptToEvaluateOnNewDocument", _SCRIPT_ON_NEW_DOCUMENT, session)
            await self._call("Target.setAutoAttach", _ATTACH_CHILDREN, session)
        await self._call("Runtime.runIfWaitingForDebugger", {}, session)

    async def _request(self, session: str, params: dict[str, Any]) -> None:
        request_id = params.get("requestId", "")
        request = params.get("request") or {}
        url = str(request.get("url", ""))
        method = str(request.get("method", "GET")).upper()
        self.last_activity = time.monotonic()
        if (not self.document_served and params.get("resourceType") == "Document"
                and url.split("#")[0] == self.page.final_url.split("#")[0]):
            self.document_served = True  # the page already fetched: never fetched twice
            await self._fulfil(session, request_id, self.page)
            return
        refused = self._refuse(url, method, str(params.get("resourceType", "")))
        if refused is not None:
            self.refused.append(refused)
            await self._fail(session, request_id, "BlockedByClient")
            return
        self.requests += 1
        try:
            fetched = await self.fetcher.fetch(url, language=self.language,
                                               stop_before=lambda u: single_use(u) is not None)
        except FetchBlocked as exc:
            self.refused.append(RefusedRequest(url[:500], exc.code, exc.detail[:200]))
            await self._fail(session, request_id, "BlockedByClient")
            return
        except FetchError:
            await self._fail(session, request_id, "Failed")
            return
        finally:
            self.last_activity = time.monotonic()
        if self.bytes + len(fetched.body) > self.max_bytes:
            self.limited = self.limited or f"more than {self.max_bytes} bytes"
            self.refused.append(RefusedRequest(url[:500], "limit", self.limited))
            await self._fail(session, request_id, "Failed")
            return
        self.bytes += len(fetched.body)
        self.served.append(url[:500])
        await self._fulfil(session, request_id, fetched)

    def _refuse(self, url: str, method: str, resource: str) -> RefusedRequest | None:
        if method != "GET":
            return RefusedRequest(url[:500], "method", f"{method[:20]} is not fetched")
        if self.requests >= self.max_requests:
            self.limited = self.limited or f"more than {self.max_requests} requests"
            return RefusedRequest(url[:500], "limit", self.limited)
        if resource == "Document" and single_use(url) is not None:
            return RefusedRequest(url[:500], "single_use", "a single-use link is not followed")
        return None

    async def _fail(self, session: str, request_id: str, reason: str) -> None:
        await self._call("Fetch.failRequest", {"requestId": request_id, "errorReason": reason}, session)

    async def _fulfil(self, session: str, request_id: str, page: FetchedPage) -> None:
        headers = [{"name": k, "value": v} for k, v in page.headers.items() if k.lower() not in _DROP_HEADERS]
        status = page.status if 200 <= page.status < 600 and not 300 <= page.status < 400 else 200
        await self._call(
            "Fetch.fulfillRequest",
            {"requestId": request_id, "responseCode": status, "responseHeaders": headers,
             "body": base64.b64encode(page.body).decode("ascii")},
            session,
        )

    # -- the render --------------------------------------------------------------------------
    async def run(self) -> tuple[str, str]:
        """(final URL, outerHTML) once the page has loaded and settled."""
        b = self.browser
        created = await b.send("Target.createBrowserContext", {"disposeOnDetach": True})
        self.context = created["browserContextId"]
        await b.send("Browser.setDownloadBehavior", {"behavior": "deny", "browserContextId": self.context})
        target = await b.send("Target.createTarget", {"url": "about:blank", "browserContextId": self.context})
        attached = await b.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        session = attached["sessionId"]
        self.sessions.append(session)
        b.listeners[session] = self.listener(session)
        locale, zone = locale_and_zone(self.language)
        await asyncio.gather(
            b.send("Page.enable", {}, session),
            b.send("Fetch.enable", _INTERCEPT_ALL, session),
            b.send("Page.addScriptToEvaluateOnNewDocument", _SCRIPT_ON_NEW_DOCUMENT, session),
            b.send("Emulation.setUserAgentOverride",
                   {"userAgent": BROWSER_USER_AGENT, "acceptLanguage": accept_language(self.language),
                    "platform": "Win32"}, session),
            b.send("Emulation.setLocaleOverride", {"locale": locale}, session),
            b.send("Emulation.setTimezoneOverride", {"timezoneId": zone}, session),
            b.send("Target.setAutoAttach", _ATTACH_CHILDREN, session),
        )
        navigated = await b.send("Page.navigate", {"url": self.page.final_url}, session)
        if navigated.get("errorText"):
            raise CdpError(f"navigation: {navigated['errorText']}")
        await self.loaded.wait()
        loaded_at = time.monotonic()
        while time.monotonic() - loaded_at < _SETTLE_MAX:
            pending = any(not t.done() for t in self.inflight)
            if not pending and time.monotonic() - self.last_activity >= _SETTLE_QUIET:
                break
            await asyncio.sleep(0.05)
        result = await b.send("Runtime.evaluate", {"expression": _READ_DOM, "returnByValue": True}, session)
        value = (result.get("result") or {}).get("value")
        final_url, html = json.loads(value) if isinstance(value, str) else (self.page.final_url, "")
        return str(final_url), str(html)[:MAX_DOM_CHARS]

    async def dispose(self) -> None:
        for task in list(self.inflight):
            task.cancel()
        for session in self.sessions:
            self.browser.listeners.pop(session, None)
        context = self.context
        if context and self.browser.alive:
            with contextlib.suppress(CdpError, TimeoutError):
                async with asyncio.timeout(5):
                    await self.browser.send("Target.disposeBrowserContext", {"browserContextId": context})

    def result(self, final_url: str = "", html: str = "", error: str = "", detail: str = "") -> RenderedDom:
        return RenderedDom(
            html=html, final_url=final_url or self.page.final_url, requests=tuple(self.served),
            refused=tuple(self.refused), error=error, detail=detail[:200], limited=self.limited,
        )


class ChromiumRenderer:
    """``render(page, language=, budget_seconds=)`` in headless Chromium. Share one instance per
    process; at most ``concurrency`` renders run at once (the others wait, within their budget)."""

    def __init__(
        self,
        fetcher: SafeFetcher,
        *,
        path: str = "",
        max_requests: int = 50,
        max_bytes: int = 8 * 1024 * 1024,
        concurrency: int = 2,
    ) -> None:
        """``path``: the Chromium executable ("" looks it up: :func:`find_chromium`)."""
        self.fetcher = fetcher
        self.path = path
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.concurrency = max(1, concurrency)
        self._browser: _Browser | None = None
        self._starting: asyncio.Task[_Browser] | None = None
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def _ensure(self) -> _Browser:
        loop = asyncio.get_running_loop()
        browser = self._browser
        if browser is not None and browser.alive and browser.loop is loop:
            return browser
        if browser is not None:  # dead, or bound to another event loop: start afresh
            browser.kill()
            self._browser = None
        if self._starting is None or self._starting.get_loop() is not loop:
            path = find_chromium(self.path)
            if path is None:
                where = f"at {self.path!r}" if self.path else "on PATH"
                raise FileNotFoundError(f"no Chromium {where}")
            self._starting = loop.create_task(_Browser.launch(path))
        starting = self._starting
        try:
            # Shielded: a render whose budget runs out while the browser starts leaves the start
            # to finish for the next one (a half-started browser would be left running).
            self._browser = await asyncio.shield(starting)
        finally:
            if starting.done():
                self._starting = None
        return self._browser

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:  # a semaphore belongs to one loop
            self._slots = (loop, asyncio.Semaphore(self.concurrency))
        return self._slots[1]

    async def render(self, page: FetchedPage, *, language: str | None, budget_seconds: float) -> RenderedDom:
        if budget_seconds <= 0:
            return RenderedDom(final_url=page.final_url, error="no_budget")
        job: _Render | None = None
        try:
            async with asyncio.timeout(budget_seconds):
                async with self._semaphore():
                    try:
                        browser = await self._ensure()
                    except OSError as exc:
                        return RenderedDom(final_url=page.final_url, error="unavailable", detail=str(exc))
                    job = _Render(browser, page, self.fetcher, language, self.max_requests, self.max_bytes)
                    try:
                        final_url, html = await job.run()
                    finally:
                        self._dispose_later(job)
            return job.result(final_url, html)
        except TimeoutError:
            if job is None:
                return RenderedDom(final_url=page.final_url, error="timeout")
            return job.result(error="timeout")
        except (CdpError, KeyError, ValueError) as exc:
            if job is None:
                return RenderedDom(final_url=page.final_url, error="failed", detail=str(exc)[:200])
            return job.result(error="failed", detail=str(exc))

    def _dispose_later(self, job: _Render) -> None:
        """Close the render's context without making its caller wait (a timed-out one is
        abandoned as it stands)."""
        task = asyncio.get_running_loop().create_task(job.dispose())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if self._browser is not None:
            self._browser.kill()
            self._browser = None
