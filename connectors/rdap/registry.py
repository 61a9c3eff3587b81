"""Registration dates by RDAP (RFC 7480-7484, 9082/9083): :class:`RdapRegistry` implements
:class:`tap_core.reputation.registration.DomainRegistry`.

One lookup: bootstrap (longest suffix match) -> the server's ``<base>domain/<name>`` with
``Accept: application/rdap+json`` -> the ``registration`` event's date. Around it:

- **Time budget** (``budget_seconds``): a lookup's clock starts when it is asked for
  (:meth:`~RdapRegistry.prefetch` or :meth:`~RdapRegistry.registrations`); ``registrations`` waits
  for it until start + budget and no longer, then answers unknown "no answer within N s". The HTTP
  call runs under the same deadline, so a pool thread is never held long after.
- **Thread pool** (``concurrency``): prefetch hands lookups to it and returns at once; the same
  domain asked twice meanwhile shares one lookup.
- **Rate limit per RDAP server** (``rate_per_second``): requests to one host are spaced at least
  1/rate apart (a token bucket of one token, with 10 % to spare for network jitter, so no
  one-second window ever holds more than ``rate``); a lookup that would wait past its deadline is
  answered unknown "rate limit of <host> reached" at once. An HTTP 429 backs that host off until
  its ``Retry-After`` (capped): no request to it meanwhile, every domain it serves answered
  unknown "rate limited by <host> (HTTP 429)" at once.
- **Cache per registered domain** (every tenant shares it: registration data is public): memory
  (bounded LRU) and, when given, an Azure table (:class:`connectors.storage.rdapcache.TableRdapCache`).
  Known dates for ``cache_days``, not_found for a day, failures for ``negative_cache_seconds``:
  the next message for a domain that just failed gets the cached unknown with its reason (source
  "cache") instead of waiting again. A storage error never fails a lookup (logged, skipped).
- **Limits on the answer**: ``max_response_bytes`` (streamed, the read stops there), redirects
  (RFC 7480 allows them) only to https -- or loopback http when the bootstrap server itself was
  loopback http -- and at most ``max_redirects`` of them.

Logs name the domain and the server only.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx

from connectors.rdap.bootstrap import Bootstrap, Server, is_loopback_host
from tap_core.parsing.domains import label_to_ascii, uts46_map
from tap_core.reputation.registration import DomainRegistration

if TYPE_CHECKING:
    from connectors.storage.rdapcache import TableRdapCache

log = logging.getLogger("tap365.rdap")

USER_AGENT = "tap365/0.1 (RDAP client; +https://github.com/tap365/tap365)"
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_REDIRECTS = frozenset((301, 302, 303, 307, 308))
#: A Retry-After that cannot be read backs off this long (still capped by max_backoff_seconds).
_DEFAULT_RETRY_AFTER = 60.0
#: Failures not worth caching: they cost no wait the next time (local decisions, bad input).
_UNCACHED = frozenset(("no_server", "rate_limit_local", "not_a_domain"))
#: Finished lookups are swept from the in-flight map once it holds this many.
_PENDING_SWEEP = 1024
#: Outcomes that are not failures.
_ANSWERED = frozenset(("known", "not_found", "cached"))


@dataclass(frozen=True, slots=True)
class RdapLimits:
    """Every limit of the client (settings ``TAP365_RDAP_*``; the rest are fixed defaults here)."""

    budget_seconds: float = 2.0
    concurrency: int = 8
    rate_per_second: float = 5.0
    cache_days: int = 30
    negative_cache_seconds: int = 600
    max_response_bytes: int = 1024 * 1024
    not_found_cache_seconds: int = 24 * 3600
    max_redirects: int = 3
    #: A server's Retry-After is honoured up to this long.
    max_backoff_seconds: float = 300.0
    #: Domains kept in memory (about 0.5 kB each).
    memory_entries: int = 10_000

    def __post_init__(self) -> None:
        if self.budget_seconds <= 0 or self.concurrency < 1 or self.rate_per_second <= 0:
            raise ValueError("RDAP budget, concurrency and rate must be positive")
        if self.max_response_bytes < 1024 or self.memory_entries < 1 or self.max_redirects < 0:
            raise ValueError("RDAP response limit must be at least 1024 bytes, memory at least 1 entry")


@dataclass(frozen=True, slots=True)
class _Outcome:
    answer: DomainRegistration
    #: "known", "not_found", "cached" (from the table), or the failure's kind (stats, and
    #: whether it is cached).
    kind: str
    #: For "cached": when the table's answer expires (memory keeps it no longer).
    expires: datetime | None = None


class _Pending:
    """One lookup under way: its result and the moment nobody waits for it any longer."""

    __slots__ = ("deadline", "future", "host", "until")

    def __init__(self, deadline: float, until: datetime, host: str) -> None:
        self.deadline = deadline
        #: The same deadline on the registry's wall clock (tests move that clock past it).
        self.until = until
        self.host = host
        self.future: Future[_Outcome] = Future()

    def answering(self, clock: float, now: datetime) -> bool:
        """Still this domain's answer: within its budget window on both clocks."""
        return clock < self.deadline and now < self.until


class _Spacing:
    """Requests to one host at least ``interval`` apart (a token bucket holding one token)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_free = 0.0
        self.lock = threading.Lock()

    def reserve(self, now: float, deadline: float) -> float | None:
        """Seconds to wait for a slot, or None when the slot is past ``deadline`` (none taken)."""
        with self.lock:
            at = max(now, self.next_free)
            if at >= deadline:
                return None
            self.next_free = at + self.interval
            return at - now


def normalize(domain: str) -> str | None:
    """A registered domain as looked up (lower case, no trailing dot), or None if it is not one."""
    name = domain.strip().rstrip(".").lower()
    if not name.isascii():  # as the rest of the project maps a host (UTS #46, then Punycode)
        try:
            name = ".".join(label if label.isascii() else label_to_ascii(label)
                            for label in uts46_map(name).split("."))
        except (UnicodeError, ValueError):
            return None
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2:
        return None
    if not all(len(label) <= 63 and _LABEL.fullmatch(label) for label in labels):
        return None
    return name


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RdapRegistry:
    """Registration dates by RDAP; thread-safe (one instance serves every message and tenant)."""

    def __init__(self, bootstrap: Bootstrap, limits: RdapLimits | None = None, *,
                 table: TableRdapCache | None = None, now: Callable[[], datetime] = _utcnow) -> None:
        self.bootstrap = bootstrap
        self.limits = limits or RdapLimits()
        self._table = table
        #: Wall clock for cache expiry (tests move it); budgets and spacing use time.monotonic.
        self._now = now
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, tuple[DomainRegistration, datetime]] = OrderedDict()
        self._pending: dict[str, _Pending] = {}
        self._spacing: dict[str, _Spacing] = {}
        self._backoff: dict[str, float] = {}
        self._counts: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._pool: ThreadPoolExecutor | None = None
        self._client: httpx.Client | None = None
        self._closed = False

    # -- the DomainRegistry protocol ---------------------------------------------------------
    def prefetch(self, domains: Iterable[str]) -> None:
        for domain in dict.fromkeys(domains):
            name = normalize(domain)
            if name is not None:
                self._start(name, count_hit=False)

    def registrations(self, domains: Sequence[str]) -> Mapping[str, DomainRegistration]:
        answers: dict[str, DomainRegistration] = {}
        waiting: dict[str, tuple[str, _Pending]] = {}
        for domain in dict.fromkeys(domains):
            name = normalize(domain)
            if name is None:
                answers[domain] = self._failed(
                    _unknown(domain, "not_a_domain", "not a domain name"))
                continue
            started = self._start(name, count_hit=True)
            if isinstance(started, _Pending):
                waiting[domain] = (name, started)
            else:
                answers[domain] = started
        for domain, (name, pending) in waiting.items():
            try:
                outcome = pending.future.result(timeout=max(0.0, pending.deadline - time.monotonic()))
            except FutureTimeout:
                outcome = self._timed_out(name, pending.host)
                # The next message does not wait again for this one. Memory only: a table write
                # here would hold the message past its budget (the lookup stores its own end).
                self._remember(outcome, table=False)
            answers[domain] = outcome.answer if outcome.kind in _ANSWERED else self._failed(outcome)
        return {domain: answers[domain] for domain in dict.fromkeys(domains)}

    # -- counters and life cycle -------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """HTTP requests made (``lookups``), cache hits, answers and failures by kind (bench)."""
        with self._lock:
            return {
                "lookups": self._counts["lookups"], "memory_hits": self._counts["memory_hits"],
                "table_hits": self._counts["table_hits"], "known": self._counts["known"],
                "not_found": self._counts["not_found"], "failures": dict(self._failures),
            }

    def close(self) -> None:
        """Stop the pool (lookups under way end at their deadline) and close connections."""
        with self._lock:
            self._closed = True
            pool, client, self._pool, self._client = self._pool, self._client, None, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if client is not None:
            client.close()

    # -- starting and finishing lookups ------------------------------------------------------
    def _start(self, name: str, *, count_hit: bool) -> DomainRegistration | _Pending:
        """The answer at once (memory, no server, backed off) or the lookup under way.

        A lookup stays this domain's answer until its deadline (a message that prefetched gets
        its own lookup's answer, with the server as source); after that, memory answers."""
        now, clock = self._now(), time.monotonic()
        with self._lock:
            pending = self._pending.get(name)
            if pending is not None and pending.answering(clock, now):
                return pending
            cached = self._memory.get(name)
            if cached is not None and cached[1] > now:
                self._memory.move_to_end(name)
                if count_hit:
                    self._counts["memory_hits"] += 1
                return cached[0]
            if cached is not None:
                del self._memory[name]
            if pending is not None and not pending.future.done():
                return pending  # past its deadline: answers "no answer within" at once
        server = self.bootstrap.server_for(name)
        if server is None:
            return self._failed(_unknown(name, "no_server", self.bootstrap.why_none(name)), count=count_hit)
        backed_off = self._backed_off(name, server.host)
        if backed_off is not None:
            return self._failed(backed_off, count=count_hit)
        with self._lock:
            pending = self._pending.get(name)
            if pending is None or (pending.future.done() and not pending.answering(clock, now)):
                if len(self._pending) >= _PENDING_SWEEP:
                    self._sweep(clock, now)
                budget = self.limits.budget_seconds
                pending = _Pending(clock + budget, now + timedelta(seconds=budget), server.host)
                self._pending[name] = pending
                self._executor().submit(self._run, name, server, pending)
        return pending

    def _sweep(self, clock: float, now: datetime) -> None:
        """Forget finished lookups past their deadline (their answers are in memory)."""
        for name in [n for n, p in self._pending.items() if p.future.done() and not p.answering(clock, now)]:
            del self._pending[name]

    def _run(self, name: str, server: Server, pending: _Pending) -> None:
        try:
            outcome = self._lookup(name, server, pending.deadline)
        except Exception as error:  # a bug here must not leave a waiter without an answer
            log.exception("RDAP lookup of %s at %s failed", name, server.host)
            outcome = _unknown(name, "error", f"lookup failed ({type(error).__name__})", server.host)
        if not self._closed:  # a lookup cut short by close() says nothing about the registry
            self._remember(outcome)
        pending.future.set_result(outcome)

    def _failed(self, outcome: _Outcome, *, count: bool = True) -> DomainRegistration:
        if count:
            with self._lock:
                self._failures[outcome.kind] += 1
        return outcome.answer

    def _timed_out(self, name: str, host: str) -> _Outcome:
        budget = f"{self.limits.budget_seconds:g}"
        return _unknown(name, "timeout", f"no answer within {budget} s", host)

    def _ttl(self, outcome: _Outcome) -> timedelta | None:
        if outcome.kind == "known":
            return timedelta(days=self.limits.cache_days)
        if outcome.kind == "not_found":
            return timedelta(seconds=self.limits.not_found_cache_seconds)
        if outcome.kind in _UNCACHED or self.limits.negative_cache_seconds <= 0:
            return None
        return timedelta(seconds=self.limits.negative_cache_seconds)

    def _remember(self, outcome: _Outcome, *, table: bool = True) -> None:
        """Keep an answer in memory and in the table, for its status's TTL."""
        name = outcome.answer.domain
        if outcome.kind == "cached":  # read from the table: in memory until the table's expiry
            if outcome.expires is not None:
                self._memorize(name, outcome.answer, outcome.expires)
            return
        ttl = self._ttl(outcome)
        if ttl is None:
            return
        expires = self._now() + ttl
        self._memorize(name, replace(outcome.answer, source="cache"), expires)
        if table and self._table is not None:
            try:
                self._table.put(outcome.answer, expires)
            except Exception as error:  # the cache is an optimisation: never fail the lookup for it
                # The type only: a storage error's text may carry the account's URL and headers.
                log.warning("RDAP cache: could not store %s (%s)", name, type(error).__name__)

    def _memorize(self, name: str, answer: DomainRegistration, expires: datetime) -> None:
        with self._lock:
            self._memory[name] = (answer, expires)
            self._memory.move_to_end(name)
            while len(self._memory) > self.limits.memory_entries:
                self._memory.popitem(last=False)

    # -- back-off after HTTP 429 --------------------------------------------------------------
    def _backed_off(self, name: str, host: str) -> _Outcome | None:
        with self._lock:
            until = self._backoff.get(host)
            if until is None:
                return None
            if until <= time.monotonic():
                del self._backoff[host]
                return None
        return _unknown(name, "rate_limited", f"rate limited by {host} (HTTP 429)", host)

    def _back_off(self, host: str, retry_after: str | None) -> float:
        seconds = _retry_after_seconds(retry_after, self._now())
        seconds = min(max(seconds, 1.0), self.limits.max_backoff_seconds)
        with self._lock:
            self._backoff[host] = max(self._backoff.get(host, 0.0), time.monotonic() + seconds)
        log.warning("RDAP server %s answered HTTP 429: no requests to it for %.0f s", host, seconds)
        return seconds

    # -- one lookup --------------------------------------------------------------------------
    def _lookup(self, name: str, server: Server, deadline: float) -> _Outcome:
        if self._table is not None:
            try:
                cached = self._table.get(name, self._now())
            except Exception as error:
                log.warning("RDAP cache: could not read %s (%s)", name, type(error).__name__)
                cached = None
            if cached is not None:
                with self._lock:
                    self._counts["table_hits"] += 1
                return _Outcome(cached[0], "cached", cached[1])
        backed_off = self._backed_off(name, server.host)
        if backed_off is not None:
            return backed_off
        if time.monotonic() >= deadline:
            return self._timed_out(name, server.host)  # queued behind other lookups all along
        with self._lock:
            spacing = self._spacing.setdefault(server.host, _Spacing(1.1 / self.limits.rate_per_second))
        client = self._http()  # built before the slot is taken: building it (TLS context) takes a while
        now = time.monotonic()
        wait = spacing.reserve(now, deadline)
        if wait is None:
            return _unknown(name, "rate_limit_local", f"rate limit of {server.host} reached", server.host)
        if wait > 0:
            time.sleep(wait)
        outcome = self._fetch(client, name, server, deadline)
        with self._lock:
            if outcome.kind in ("known", "not_found"):
                self._counts[outcome.kind] += 1
        if outcome.kind not in ("known", "not_found"):
            log.info("RDAP %s at %s: %s", name, server.host, outcome.answer.reason)
        return outcome

    def _fetch(self, client: httpx.Client, name: str, server: Server, deadline: float) -> _Outcome:
        url = server.base_url + "domain/" + name
        host = server.host
        for _hop in range(self.limits.max_redirects + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._timed_out(name, host)
            with self._lock:
                self._counts["lookups"] += 1
            try:
                with client.stream("GET", url, timeout=httpx.Timeout(remaining)) as response:
                    status = response.status_code
                    if status in _REDIRECTS:
                        target = self._redirect(name, url, response.headers.get("location"), server)
                        if isinstance(target, _Outcome):
                            return target
                        url, host = target, urlsplit(target).hostname or host
                        continue
                    if status == 404:
                        return _Outcome(DomainRegistration(name, "not_found", source=host), "not_found")
                    if status == 429:
                        self._back_off(server.host, response.headers.get("retry-after"))
                        return _unknown(name, "rate_limited", f"rate limited by {host} (HTTP 429)", host)
                    if status != 200:
                        return _unknown(name, "http_error", f"HTTP {status} from {host}", host)
                    body = self._read(response, deadline)
            except httpx.TimeoutException:
                return self._timed_out(name, host)
            except httpx.HTTPError as error:
                return _unknown(name, "network", f"no answer from {host} ({type(error).__name__})", host)
            if body is None:
                return self._timed_out(name, host)
            if isinstance(body, int):
                return _unknown(name, "too_large", f"answer from {host} larger than {body} bytes", host)
            return self._parse(name, host, body)
        return _unknown(name, "redirect", f"too many redirects from {server.host}", server.host)

    def _redirect(self, name: str, url: str, location: str | None, server: Server) -> str | _Outcome:
        host = urlsplit(url).hostname or server.host
        if not location:
            return _unknown(name, "redirect", f"redirect without a target from {host}", host)
        target = urljoin(url, location)
        parts = urlsplit(target)
        allowed = parts.scheme == "https" or (
            parts.scheme == "http" and server.loopback_http and is_loopback_host(parts.hostname or ""))
        if not allowed or not parts.hostname or parts.username is not None:
            return _unknown(name, "redirect", f"redirect from {host} to a non-https URL refused", host)
        return target

    def _read(self, response: httpx.Response, deadline: float) -> bytes | int | None:
        """The body; the size limit (int) when it is larger; None when the deadline passed."""
        limit = self.limits.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return limit
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                return limit
            if time.monotonic() > deadline:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, name: str, host: str, body: bytes) -> _Outcome:
        unreadable = _unknown(name, "unreadable", f"unreadable answer from {host}", host)
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return unreadable
        if not isinstance(document, dict):
            return unreadable
        ldh = document.get("ldhName")
        if isinstance(ldh, str) and ldh.rstrip(".").lower() != name:
            return unreadable  # an answer about another domain
        events = document.get("events")
        dates = [event.get("eventDate") for event in events if isinstance(event, dict)
                 and str(event.get("eventAction", "")).lower() == "registration"] \
            if isinstance(events, list) else []
        if not dates:
            return _unknown(name, "no_date", f"no registration date in the answer from {host}", host)
        registered = _rfc3339(dates[0])
        if registered is None or registered > self._now():
            return unreadable
        return _Outcome(DomainRegistration(name, "known", registered, source=host), "known")

    # -- shared resources --------------------------------------------------------------------
    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.limits.concurrency, thread_name_prefix="rdap")
        return self._pool

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    headers={"Accept": "application/rdap+json", "User-Agent": USER_AGENT},
                    follow_redirects=False, trust_env=False,
                    limits=httpx.Limits(max_connections=self.limits.concurrency * 2,
                                        max_keepalive_connections=self.limits.concurrency),
                )
            return self._client


def _unknown(name: str, kind: str, reason: str, source: str = "") -> _Outcome:
    return _Outcome(DomainRegistration(name, "unknown", reason=reason, source=source), kind)


def _rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        return None  # RFC 3339 requires an offset; a bare time is in no known zone
    return when.astimezone(UTC)


def _retry_after_seconds(value: str | None, now: datetime) -> float:
    if not value:
        return _DEFAULT_RETRY_AFTER
    value = value.strip()
    if value.isdigit():
        return float(int(value[:9]))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return _DEFAULT_RETRY_AFTER
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
