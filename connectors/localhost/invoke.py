"""Call a user function as the worker does: by binding name, sync ones on a thread pool, with a timeout."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from connectors.localhost.loader import FunctionSpec


class FunctionTimeout(Exception):
    """The function ran longer than host.json ``functionTimeout``."""


@dataclass(frozen=True)
class Context:
    """What ``azure.functions.Context`` offers that makes sense locally."""

    invocation_id: str
    function_name: str
    function_directory: str
    retry_context: None = None
    trace_context: None = None


def convert_for_annotation(spec: FunctionSpec, value: Any, body: bytes) -> Any:
    """``str``/``bytes`` annotations get the payload itself (as the worker's converters do)."""
    try:
        parameter = inspect.signature(spec.user_function).parameters.get(spec.arg_name)
    except (TypeError, ValueError):
        return value
    annotation = parameter.annotation if parameter is not None else None
    if annotation in (str, "str"):
        return body.decode("utf-8", errors="replace")
    if annotation in (bytes, "bytes"):
        return body
    return value


class Invoker:
    def __init__(self, executor: ThreadPoolExecutor, timeout: float | None, function_directory: str) -> None:
        self._executor = executor
        self._timeout = timeout
        self._directory = function_directory

    def _kwargs(self, spec: FunctionSpec, value: Any) -> dict[str, Any]:
        kwargs = {spec.arg_name: value}
        try:
            parameters = inspect.signature(spec.user_function).parameters
        except (TypeError, ValueError):
            return kwargs
        if "context" in parameters and spec.arg_name != "context":
            kwargs["context"] = Context(str(uuid.uuid4()), spec.name, self._directory)
        return kwargs

    async def call(self, spec: FunctionSpec, value: Any) -> Any:
        """Run the function; raises what it raises, or :class:`FunctionTimeout`."""
        kwargs = self._kwargs(spec, value)
        if spec.is_async:
            awaitable: Any = spec.user_function(**kwargs)
        else:
            ctx = contextvars.copy_context()
            call = functools.partial(ctx.run, spec.user_function, **kwargs)
            awaitable = asyncio.get_running_loop().run_in_executor(self._executor, call)
        task = asyncio.ensure_future(awaitable)
        try:
            done, _ = await asyncio.wait({task}, timeout=self._timeout)
        except asyncio.CancelledError:  # the host is stopping
            task.cancel()
            raise
        if not done:
            # A sync function keeps its thread until it returns (Python cannot stop a thread);
            # the real host would recycle the worker process instead.
            task.cancel()
            raise FunctionTimeout(
                f"function {spec.name!r} exceeded functionTimeout ({self._timeout:g} s in host.json)"
            )
        return task.result()
