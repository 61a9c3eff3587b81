"""The invocation layer and timers without storage: timeouts, context, annotations, past_due."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

from connectors.localhost.invoke import Context, FunctionTimeout, Invoker, convert_for_annotation
from connectors.localhost.loader import FunctionSpec
from connectors.localhost.queues import decode_body
from connectors.localhost.timers import TimerRunner


def _spec(fn: Any, trigger: dict[str, Any] | None = None) -> FunctionSpec:
    return FunctionSpec(fn.__name__, trigger or {"type": "queueTrigger", "name": "msg", "queueName": "q"}, fn)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_sync_and_async_functions_get_binding_name_and_context() -> None:
    seen: dict[str, Any] = {}

    def sync_fn(msg: str, context: Context) -> str:
        seen["sync"] = (msg, context.function_name)
        return "sync"

    async def async_fn(msg: bytes) -> str:
        seen["async"] = msg
        return "async"

    with ThreadPoolExecutor(2) as pool:
        invoker = Invoker(pool, 5, "/app")
        value = convert_for_annotation(_spec(sync_fn), object(), b"text")
        assert _run(invoker.call(_spec(sync_fn), value)) == "sync"
        value = convert_for_annotation(_spec(async_fn), object(), b"\x00raw")
        assert _run(invoker.call(_spec(async_fn), value)) == "async"
    assert seen == {"sync": ("text", "sync_fn"), "async": b"\x00raw"}


def test_timeout_and_a_functions_own_timeout_error_differ() -> None:
    async def slow(msg: object) -> None:
        await asyncio.sleep(5)

    def raises_timeout(msg: object) -> None:
        raise TimeoutError("the function's own")

    with ThreadPoolExecutor(2) as pool:
        invoker = Invoker(pool, 0.2, "/app")
        with pytest.raises(FunctionTimeout, match="functionTimeout"):
            _run(invoker.call(_spec(slow), None))
        with pytest.raises(TimeoutError, match="the function's own"):
            _run(invoker.call(_spec(raises_timeout), None))


def test_base64_decoding_falls_back_to_text() -> None:
    assert decode_body("aGVsbG8=") == b"hello"
    assert decode_body("hello world!") == b"hello world!"
    assert decode_body("not base64?") == b"not base64?"


def test_overrunning_timer_run_is_followed_by_one_past_due_run() -> None:
    runs: list[tuple[float, bool]] = []

    def timer_fn(timer: func.TimerRequest) -> None:
        runs.append((time.monotonic(), timer.past_due))
        if len(runs) == 1:
            time.sleep(0.9)  # overruns three 0.2 s slots

    spec = FunctionSpec("timer_fn", {"type": "timerTrigger", "name": "timer", "schedule": "00:00:00.2"}, timer_fn)

    async def main() -> None:
        with ThreadPoolExecutor(2) as pool:
            runner = TimerRunner(spec, Invoker(pool, 5, "/app"), past_due_slack=timedelta(seconds=0.1))
            stopping = asyncio.Event()
            task = asyncio.create_task(runner.run(stopping))
            while len(runs) < 3:
                await asyncio.sleep(0.02)
            stopping.set()
            await task

    _run(main())
    assert [past_due for _, past_due in runs[:3]] == [False, True, False]
    assert runs[2][0] - runs[1][0] >= 0.15  # the missed slots collapsed into one late run
