"""The click log write: a blocking store is written from a worker thread, still before the answer."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from connectors.click_service import (
    CachedVerdict,
    ClickRequest,
    ClickService,
    ClickSettings,
    MemoryClickLog,
    MemoryRateLimiter,
    MemoryVerdictCache,
)
from connectors.storage.interfaces import ClickRecord
from tap_core.click.analyze import ClickAnalyzer
from tap_core.policy import Policy
from tap_core.urls.intel import IntelIndex
from tap_core.urls.links import LinkCodec, LinkContext, LinkKeyring, message_ref
from tap_core.urls.normalize import normalize_url

DEST = "https://www.example.com/page?id=1"
BROWSER = {"User-Agent": "Mozilla/5.0 Chrome/120", "Accept-Language": "en"}


class BlockingLog:
    """A store whose append blocks (like an Azure Table insert) and remembers its thread."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.records: list[ClickRecord] = []
        self.threads: list[int] = []

    def append(self, record: ClickRecord) -> ClickRecord:
        time.sleep(0.01)
        self.threads.append(threading.get_ident())
        if self.fail:
            raise OSError("table unavailable")
        self.records.append(record)
        return record

    def list_clicks(self, *_args: object, **_kwargs: object) -> list[ClickRecord]:
        return list(self.records)


def _click(log: object) -> tuple[int, int]:
    codec = LinkCodec("https://tap.example/api/r", LinkKeyring({"k1": b"k" * 32}, "k1"))
    link = codec.wrap(DEST, LinkContext("contoso", "ann@contoso.example", message_ref("m1"), 1_700_000_000))
    cache = MemoryVerdictCache()
    norm = normalize_url(DEST)
    assert norm is not None
    cache.put(norm.url, CachedVerdict(0.0, (), None, time.time()))
    service = ClickService(codec, lambda _t: Policy(), cache, IntelIndex(), ClickAnalyzer(None), log,  # type: ignore[arg-type]
                           MemoryRateLimiter(), ClickSettings())
    token, _, query = link.removeprefix("https://tap.example/api/r/").partition("?")

    async def run() -> tuple[int, int]:
        reply = await service.handle(ClickRequest("GET", token, query, BROWSER, "192.0.2.1"))
        return reply.status, threading.get_ident()

    return asyncio.run(run())


def test_blocking_click_log_is_written_off_the_loop_before_the_answer() -> None:
    log = BlockingLog()
    status, loop_thread = _click(log)
    assert status == 302
    assert len(log.records) == 1 and log.records[0].decision == "redirect"  # written before the reply
    assert log.threads and log.threads[0] != loop_thread


def test_memory_click_log_is_written_inline() -> None:
    log = MemoryClickLog()
    status, _ = _click(log)
    assert status == 302 and len(log.records) == 1


def test_failed_click_log_write_is_reported_not_silent(caplog: pytest.LogCaptureFixture) -> None:
    log = BlockingLog(fail=True)
    with caplog.at_level(logging.ERROR):
        status, _ = _click(log)
    assert status == 302  # the user still gets the answer
    assert any("click log append failed" in r.getMessage() for r in caplog.records)
