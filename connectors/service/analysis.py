"""One message's analysis off the event loop, under a hard time limit.

``Pipeline.run`` is synchronous and CPU-bound: run inside the async worker, one slow message (a
hostile attachment, a pathological pattern) stops every other invocation of the process, the
click redirector included. So each analysis runs in a child process forked from the worker: the
child inherits the runtime's pipeline objects (policy, intelligence, models, attachment engine),
so nothing is rebuilt or sent in but the message already in memory, and only the Decision comes
back through a pipe. At the limit the child is killed (SIGKILL), not abandoned: its CPU and
memory are freed at once, and the caller decides from what is known (hold, with the reason).

Why a process per analysis rather than a pool: a pool's workers are forked once and would keep
the intelligence and policy of that moment; a fork per message always sees the current ones,
and killing one never breaks others. A fork costs tens of milliseconds; the parent warms each
new pipeline once so children do not each pay its lazy loading (about 0.1 s).

What the child must not do is I/O on connections it shares with the parent (the storage
clients' pooled sockets): the pipeline's sender history, domain registry and directory are the
only parts that do I/O. The history and the registry are proxies in the child that ask the
parent over the same pipe (the parent answers from its own stores and its RDAP lookups, on a
thread, so a registry's wait never stops the event loop); the directory is a snapshot of its users read in
the parent before the fork (the same object while they are unchanged, so the name index built
for it in the parent's warm-up is inherited). Where ``fork`` is not available (not Linux) the
analysis runs in a thread with the same limit; a thread cannot be stopped, so the result is
dropped at the limit and the thread finishes in the background (the log says so).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import multiprocessing
import traceback
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from tap_core.impersonation.interfaces import Directory, InternalUser
from tap_core.model.decision import Action, Decision
from tap_core.model.findings import Verdict
from tap_core.model.message import Address, Message
from tap_core.pipeline import Pipeline

log = logging.getLogger("tap365.analysis")

#: The finding-style name of the reason a message is held when its analysis was stopped.
TIME_LIMIT = "analysis_time_limit"
STOPPED = "analysis_stopped"


class AnalysisFailed(RuntimeError):
    """The pipeline raised inside the child (a defect): the caller retries like any failure."""


def _fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def held_decision(reason: str, name: str = TIME_LIMIT) -> Decision:
    """What is known when analysis did not finish: nothing clean, so hold it for a person."""
    return Decision(
        verdict=Verdict.SUSPICIOUS,
        action=Action.HOLD,
        reasons=[f"{name}: {reason}"],
        pipelines={"analysis": name},
    )


class _Proxy:
    """In the child: every method call goes to the parent's object of the same role."""

    def __init__(self, conn: Connection, role: str) -> None:
        self._conn, self._role = conn, role

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self._conn.send(("call", self._role, method, args, kwargs))
            status, value = self._conn.recv()
            if status == "ok":
                return value
            raise RuntimeError(f"{self._role}.{method} failed in the worker: {value}")

        return call


#: ``Decision.pipelines["sandbox"]`` of a message that wanted a sandbox run no configured sandbox
#: can give (decided again without one; the caller applies the policy's ``timeout_action``).
SANDBOX_UNAVAILABLE = "unavailable"


def _run(pipeline: Pipeline, message: Message, kwargs: dict[str, Any], no_sandbox: bool) -> Decision:
    decision = pipeline.run(message, **kwargs)
    if not (no_sandbox and decision.needs_sandbox):
        return decision
    # No sandbox can run these files: decide as if none were asked for (a shallow copy with a
    # sandbox-less attachment policy: everything else is shared, nothing is rebuilt).
    attachments = pipeline.policy.attachments.model_copy(update={"sandbox_families": []})
    bare = copy.copy(pipeline)
    bare.policy = pipeline.policy.model_copy(update={"attachments": attachments})
    again = bare.run(message, **kwargs)
    again.pipelines["sandbox"] = SANDBOX_UNAVAILABLE
    return again


def _child(
    conn: Connection,
    pipeline: Pipeline,
    message: Message,
    kwargs: dict[str, Any],
    no_sandbox: bool,
    directory: Directory | None,
) -> None:
    try:
        tenant = pipeline.tenant
        pipeline.tenant = dataclasses.replace(
            tenant,
            history=_Proxy(conn, "history") if tenant.history is not None else None,  # type: ignore[arg-type]
            registry=_Proxy(conn, "registry") if tenant.registry is not None else None,  # type: ignore[arg-type]
            directory=directory,
        )
        conn.send(("done", _run(pipeline, message, kwargs, no_sandbox)))
    except BaseException:  # everything goes back to the parent as text
        conn.send(("failed", traceback.format_exc(limit=8)))
    finally:
        conn.close()


class _Snapshot:
    """The directory's users as read in the parent: the child gets them with no I/O and no
    threads of the directory's own; the same object while the users are unchanged, so the name
    index the parent built for it (warm-up) is inherited, not rebuilt per message."""

    def __init__(self, users: Sequence[InternalUser]) -> None:
        self.users = users

    def internal_users(self, tenant_id: str) -> Sequence[InternalUser]:
        return self.users


_snapshots: dict[tuple[int, str], _Snapshot] = {}


async def _directory_for_child(directory: Directory | None, tenant_id: str) -> Directory | None:
    if directory is None:
        return None
    # The first read of a tenant may wait for Graph: on a thread, never on the event loop.
    users = await asyncio.to_thread(directory.internal_users, tenant_id)
    key = (id(directory), tenant_id)
    snapshot = _snapshots.get(key)
    if snapshot is None or snapshot.users is not users:
        snapshot = _snapshots[key] = _Snapshot(users)
    return snapshot


_warm: weakref.WeakKeyDictionary[Pipeline, Directory | None] = weakref.WeakKeyDictionary()


def _warm_up(pipeline: Pipeline, directory: Directory | None) -> None:
    """Run the pipeline once in the parent (for each directory snapshot) so each child inherits
    its lazily loaded parts and the directory's name index. On the event loop, not a thread: a
    fork while another thread is half way through loading something would copy it half done."""
    if pipeline in _warm and _warm[pipeline] is directory:
        return
    _warm[pipeline] = directory
    bare = copy.copy(pipeline)  # the caller's pipeline is shared: change only the copy
    bare.tenant = dataclasses.replace(pipeline.tenant, history=None, registry=None, directory=directory)
    try:
        warm = Message(
            source="warm-up",
            subject="warm-up",
            text_body="See https://example.com/",
            from_address=Address(name="Warm Up", address="warm-up@example.invalid"),
        )
        bare.run(warm, tenant_id=bare.tenant.tenant_id, recipient="warm-up@example.invalid")
    except Exception:  # only an optimisation: the real run reports
        log.exception("pipeline warm-up failed")


_waits: ThreadPoolExecutor | None = None
#: Analyses that may wait for their domain registry at once (each thread waits, never works).
_REGISTRY_WAITERS = 32


def _registry_waits() -> ThreadPoolExecutor:
    global _waits
    if _waits is None:
        _waits = ThreadPoolExecutor(_REGISTRY_WAITERS, thread_name_prefix="tap365-registry")
    return _waits


async def analyse(
    pipeline: Pipeline,
    message: Message,
    *,
    timeout_seconds: float,
    tenant_id: str,
    recipient: str,
    now: datetime,
    no_sandbox: bool = False,
) -> Decision:
    """``pipeline.run`` under ``timeout_seconds``; a held Decision with the reason if it did not
    finish (or its process died). A pipeline that raises gives :class:`AnalysisFailed`.
    ``no_sandbox``: no configured sandbox can run the message's files; a decision that would
    wait for one is made again without it and says so (``pipelines["sandbox"]``)."""
    kwargs: dict[str, Any] = {"tenant_id": tenant_id, "recipient": recipient, "now": now}
    if not _fork_available():
        try:
            work = asyncio.to_thread(_run, pipeline, message, kwargs, no_sandbox)
            return await asyncio.wait_for(work, timeout_seconds)
        except TimeoutError:
            log.error("analysis over %ss left running in a thread (no fork here)", timeout_seconds)
            return held_decision(f"analysis did not finish within {timeout_seconds:g} s")
    directory = await _directory_for_child(pipeline.tenant.directory, tenant_id or pipeline.tenant.tenant_id)
    _warm_up(pipeline, directory)
    return await _in_child(pipeline, message, kwargs, timeout_seconds, no_sandbox, directory)


async def _in_child(
    pipeline: Pipeline,
    message: Message,
    kwargs: dict[str, Any],
    timeout_seconds: float,
    no_sandbox: bool,
    directory: Directory | None,
) -> Decision:
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe(duplex=True)
    process = context.Process(
        target=_child, args=(child_end, pipeline, message, kwargs, no_sandbox, directory), daemon=True
    )
    loop = asyncio.get_running_loop()
    result: asyncio.Future[tuple[str, Any]] = loop.create_future()
    roles: dict[str, Any] = {"history": pipeline.tenant.history, "registry": pipeline.tenant.registry}

    def answer(call: asyncio.Future[Any]) -> None:
        try:
            reply = ("ok", call.result())
        except Exception as exc:  # the child raises it as its own error
            reply = ("error", f"{exc.__class__.__name__}: {exc}")
        try:
            parent_end.send(reply)
        except OSError:
            pass  # the child was stopped meanwhile

    def readable() -> None:
        try:
            kind, *rest = parent_end.recv()
        except (EOFError, OSError):
            if not result.done():
                result.set_result(("died", None))
            return
        if kind == "call":
            # A storage read: on a thread, so the loop goes on serving other work meanwhile.
            role, method, args, kw = rest
            target = getattr(roles[role], method)
            # A registry's wait (up to its budget) must not take the loop's default threads,
            # which every storage call of the worker needs meanwhile.
            executor = _registry_waits() if role == "registry" else None
            loop.run_in_executor(executor, lambda: target(*args, **kw)).add_done_callback(answer)
        elif not result.done():
            result.set_result((kind, rest[0]))

    process.start()
    child_end.close()  # the parent's copy: EOF reaches us when the child ends
    loop.add_reader(parent_end.fileno(), readable)
    try:
        kind, value = await asyncio.wait_for(asyncio.shield(result), timeout_seconds)
    except TimeoutError:
        kind, value = "timeout", None
    finally:
        loop.remove_reader(parent_end.fileno())
        if process.is_alive():
            process.kill()
        await asyncio.to_thread(process.join, 5)
        parent_end.close()
    if kind == "done":
        return value  # type: ignore[no-any-return]
    if kind == "failed":
        raise AnalysisFailed(f"analysis raised in its process:\n{value}")
    if kind == "timeout":
        log.warning("analysis stopped at the %ss limit (pid %s killed)", timeout_seconds, process.pid)
        return held_decision(f"analysis did not finish within {timeout_seconds:g} s")
    code = process.exitcode
    return held_decision(f"analysis process ended without a result (exit code {code})", STOPPED)


__all__ = ["SANDBOX_UNAVAILABLE", "STOPPED", "TIME_LIMIT", "AnalysisFailed", "analyse", "held_decision"]
