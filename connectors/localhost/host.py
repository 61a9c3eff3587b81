"""The local Functions host: load ``function_app.py``, serve its HTTP functions with uvicorn, poll its
queues and run its timers, all on one asyncio loop in a background thread.

    with LocalHost(Path("."), port=0) as host:
        httpx.get(host.base_url + "/api/health")

``serve()`` is the blocking form behind ``tap365 serve``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType, TracebackType

import uvicorn

from connectors.localhost.config import (
    DEFAULT_PORT,
    HostJson,
    apply_values,
    load_host_json,
    load_local_settings,
)
from connectors.localhost.http import HttpFrontEnd
from connectors.localhost.invoke import Invoker
from connectors.localhost.loader import FunctionSpec, load_functions
from connectors.localhost.queues import QueueListener
from connectors.localhost.timers import TimerRunner
from connectors.logs import quiet_third_party_loggers

log = logging.getLogger("tap365.localhost")
READY_LINE = "tap365 serve ready"


class LocalHostError(RuntimeError):
    """The host could not start (port in use, app failed to load, ...)."""


class LocalHost:
    """One running app. ``start()`` returns once HTTP is listening; ``stop()`` drains and stops.

    ``settings_file`` defaults to ``<app_root>/local.settings.json``; its ``Values`` go into
    ``os.environ`` unless already set, and are taken out again by ``stop()``. ``port=None`` uses
    ``Host.LocalHttpPort`` from the settings, else 7071; ``port=0`` picks a free port.
    """

    def __init__(self, app_root: Path, *, port: int | None = None, host: str = "127.0.0.1",
                 settings_file: Path | None = None, grace_seconds: float = 30.0,
                 max_workers: int = 32, processing_visibility: float | None = None) -> None:
        # max_workers: threads for HTTP functions; queue and timer functions get theirs on top.
        self.app_root = Path(app_root).resolve()
        self.host = host
        self._port = port
        self._settings_file = settings_file
        self._grace = grace_seconds
        self._max_workers = max_workers
        # Seconds a received queue message stays hidden while it runs (None: the host's 10 minutes).
        self._processing_visibility = processing_visibility
        self._functions: list[FunctionSpec] = []
        self._host_json = HostJson()
        self._applied_env: list[str] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._socket: socket.socket | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._listeners: list[QueueListener] = []
        self._timers: list[TimerRunner] = []
        self._http: HttpFrontEnd | None = None

    # -- public ---------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._socket is None:
            raise LocalHostError("the host is not started")
        return int(self._socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{name}:{self.port}"

    @property
    def api_url(self) -> str:
        """``base_url`` plus the route prefix (``/api`` by default)."""
        prefix = self._host_json.route_prefix
        return f"{self.base_url}/{prefix}" if prefix else self.base_url

    @property
    def functions(self) -> list[FunctionSpec]:
        return list(self._functions)

    @property
    def function_errors(self) -> dict[str, str]:
        """Functions loaded but not served (as the Functions host reports them in error), with why."""
        return dict(self._http.errors) if self._http is not None else {}

    @property
    def host_json(self) -> HostJson:
        return self._host_json

    def start(self, timeout: float = 30.0) -> None:
        if self._thread is not None:
            raise LocalHostError("the host is already started")
        try:
            self._prepare()
        except BaseException:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._restore_env()
            raise
        self._thread = threading.Thread(target=self._thread_main, name="tap365-localhost", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            error = self._error
            self.stop()
            raise LocalHostError(f"the local host did not start: {error or 'timed out'}") from error

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting requests and polling, wait for running functions (up to the grace), clean up."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is not None:
            if loop is not None and stopping is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(stopping.set)
                except RuntimeError:
                    pass  # the loop already finished
            thread.join(timeout if timeout is not None else self._grace + 10)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._thread = None
        self._restore_env()

    def wait(self) -> None:
        """Block until the host stops (for ``serve``)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def __enter__(self) -> LocalHost:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> LocalHost:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

    # -- internals ------------------------------------------------------------------------------
    def _prepare(self) -> None:
        settings_path = self._settings_file or self.app_root / "local.settings.json"
        settings = load_local_settings(settings_path, required=self._settings_file is not None)
        self._applied_env = apply_values(settings.values)
        self._host_json = load_host_json(self.app_root)
        self._functions = load_functions(self.app_root)
        self._build_triggers()
        port = self._port if self._port is not None else settings.local_http_port or DEFAULT_PORT
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, port))
        except OSError as exc:
            sock.close()
            raise LocalHostError(
                f"cannot listen on {self.host}:{port} ({exc.strerror}); choose another port with --port"
            ) from exc
        sock.listen(128)
        self._socket = sock

    def _restore_env(self) -> None:
        for key in self._applied_env:
            os.environ.pop(key, None)
        self._applied_env = []

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(), or logged if it happens later
            self._error = exc
            if self._ready.is_set():
                log.exception("the local host stopped with an error")
        finally:
            self._ready.set()

    def _build_triggers(self) -> None:
        """Build every trigger before listening, so a bad schedule or connection fails the start."""
        timeout = self._host_json.function_timeout
        # Enough threads that a queued sync function never spends its functionTimeout waiting for one.
        queues = self._host_json.queues
        queue_functions = sum(1 for s in self._functions if s.trigger_type == "queueTrigger")
        per_queue = queues.batch_size + queues.threshold
        workers = self._max_workers + queue_functions * per_queue + len(self._functions)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="tap365-fn")
        invoker = Invoker(self._executor, timeout, str(self.app_root))
        self._listeners = [QueueListener(s, queues, invoker, timeout, self._processing_visibility)
                           for s in self._functions if s.trigger_type == "queueTrigger"]
        self._timers = [TimerRunner(s, invoker) for s in self._functions if s.trigger_type == "timerTrigger"]
        self._http = HttpFrontEnd(self._functions, self._host_json.route_prefix, invoker)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = stopping = asyncio.Event()
        listeners, timers, app = self._listeners, self._timers, self._http
        assert self._socket is not None and app is not None
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                                server_header=False, timeout_graceful_shutdown=int(self._grace))
        server = uvicorn.Server(config)
        tasks = [asyncio.create_task(server.serve(sockets=[self._socket]), name="http")]
        if listeners:  # create the queues before "ready" (bounded: an absent Azurite must not block start)
            await asyncio.wait([asyncio.create_task(q.ensure_queues()) for q in listeners], timeout=10)
        while not server.started:
            if tasks[0].done():
                tasks[0].result()  # raises why uvicorn could not start
                raise LocalHostError("uvicorn stopped during start-up")
            await asyncio.sleep(0.01)
        tasks += [asyncio.create_task(q.run(stopping), name=q.spec.name) for q in listeners]
        tasks += [asyncio.create_task(timer.run(stopping), name=timer.spec.name) for timer in timers]
        for task in tasks:
            task.add_done_callback(_log_crash)
        for spec in self._functions:
            log.info("function %s", spec.describe())
        self._ready.set()
        await stopping.wait()
        server.should_exit = True
        _, pending = await asyncio.wait(tasks, timeout=self._grace)
        for task in pending:
            log.warning("stopping %s: still running after %g s, cancelled", task.get_name(), self._grace)
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped unexpectedly", task.get_name(), exc_info=task.exception())


def serve(app_root: Path, *, port: int | None = None, host: str = "127.0.0.1",
          settings_file: Path | None = None, processing_visibility: float | None = None) -> None:
    """Run the app until Ctrl-C (or SIGTERM); prints ``tap365 serve ready <base-url>`` once listening."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_third_party_loggers()
    local = LocalHost(app_root, port=port, host=host, settings_file=settings_file,
                      processing_visibility=processing_visibility)
    local.start()
    for name, reason in local.function_errors.items():
        print(f"tap365 serve: function {name} is in error and not served: {reason}", file=sys.stderr)
    print(f"{READY_LINE} {local.base_url}", flush=True)

    def _interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        local.wait()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        local.stop()
        signal.signal(signal.SIGTERM, previous)
