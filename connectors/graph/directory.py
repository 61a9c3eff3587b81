"""The tenant's internal users and verified domains from Graph, cached per tenant.

:class:`GraphDirectory` implements :class:`tap_core.impersonation.Directory` (the display-name
check against every internal user) and gives the runtime the tenant's verified domains (its
internal domains unless the policy lists its own).

Reads happen on a background thread with its own event loop and Graph client, at most once per
refresh interval per tenant: a message never waits for Graph except the first one of a tenant in
a fresh process, and that wait is bounded (``first_wait_seconds``); after it the message goes on
without the directory, and the fetch completes for the next one. Between refreshes the same
user sequence object is returned, so the name index built from it is reused.

Domains: ``/organization`` ``verifiedDomains`` (needs Organization.Read.All or
Directory.Read.All); without that grant, the domains of the users' addresses (User.Read.All,
which the app needs anyway) stand in, and :meth:`GraphDirectory.status` says so.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tap_core.impersonation.interfaces import InternalUser

from .client import GraphApp, TenantGraph
from .config import GraphSettings
from .errors import GraphApiError

log = logging.getLogger("tap365.directory")

USER_SELECT = "id,displayName,mail,userPrincipalName,proxyAddresses"
#: A failed read is retried after at most this long, whatever the refresh interval.
RETRY_AFTER_FAILURE_SECONDS = 60.0


@dataclass
class _Entry:
    users: tuple[InternalUser, ...] = ()
    domains: tuple[str, ...] = ()
    domains_source: str = ""
    fetched_at: str = ""
    error: str = ""
    next_due: float = 0.0
    running: bool = False
    ready: threading.Event = field(default_factory=threading.Event)


class DirectoryTooLarge(RuntimeError):
    """More users than ``max_users``: the cache keeps the previous list."""


class GraphDirectory:
    def __init__(
        self,
        settings: GraphSettings,
        *,
        refresh_seconds: float = 3600.0,
        first_wait_seconds: float = 20.0,
        max_users: int = 200_000,
        page_size: int = 999,
    ) -> None:
        if refresh_seconds < 0 or first_wait_seconds < 0 or max_users < 1 or not 1 <= page_size <= 999:
            raise ValueError("refresh_seconds and first_wait_seconds must be >= 0, max_users >= 1, "
                             "page_size 1-999 (Graph's largest /users page)")
        self.settings = settings
        self.refresh_seconds = refresh_seconds
        self.first_wait_seconds = first_wait_seconds
        self.max_users = max_users
        self.page_size = page_size
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # Graph reads started (tests check the cache holds)

    # -- the Directory protocol -------------------------------------------------------------------
    def internal_users(self, tenant_id: str) -> Sequence[InternalUser]:
        return self._entry(tenant_id).users

    # -- the runtime ------------------------------------------------------------------------------
    def verified_domains(self, tenant_id: str) -> tuple[str, ...]:
        return self._entry(tenant_id).domains

    def status(self, tenant_id: str) -> dict[str, Any]:
        entry = self._entries.get(tenant_id.lower())
        if entry is None:
            return {"loaded": False}
        return {"loaded": bool(entry.fetched_at), "users": len(entry.users), "domains": list(entry.domains),
                "domains_source": entry.domains_source, "fetched_at": entry.fetched_at, "error": entry.error}

    def refresh(self, tenant_id: str) -> None:
        """Read the tenant now, on this thread (the background reader's body; tests)."""
        entry = self._get(tenant_id)
        self._fetch_into(tenant_id, entry)

    def _get(self, tenant_id: str) -> _Entry:
        with self._lock:
            return self._entries.setdefault(tenant_id.lower(), _Entry())

    def _entry(self, tenant_id: str) -> _Entry:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.setdefault(tenant_id.lower(), _Entry())
            if not entry.running and now >= entry.next_due:
                entry.running = True
                entry.next_due = now + self.refresh_seconds
                threading.Thread(target=self._fetch_into, args=(tenant_id, entry, True),
                                 name=f"tap365-directory-{tenant_id[:8]}", daemon=True).start()
        if not entry.ready.is_set() and self.first_wait_seconds:
            entry.ready.wait(self.first_wait_seconds)
        return entry

    def _fetch_into(self, tenant_id: str, entry: _Entry, background: bool = False) -> None:
        self.fetches += 1
        try:
            users, domains, source = asyncio.run(self._read(tenant_id))
            with self._lock:
                if users != entry.users:  # keep the same object while unchanged (name index reuse)
                    entry.users = users
                entry.domains, entry.domains_source = domains, source
                entry.fetched_at, entry.error = datetime.now(UTC).isoformat(), ""
                entry.next_due = max(entry.next_due, time.monotonic() + self.refresh_seconds)
        except Exception as exc:
            log.warning("directory of tenant %s not read (keeping the previous one): %s", tenant_id, exc)
            with self._lock:
                entry.error = f"{type(exc).__name__}: {exc}"
                entry.next_due = min(entry.next_due, time.monotonic() + RETRY_AFTER_FAILURE_SECONDS)
            if not background:
                raise
        finally:
            with self._lock:
                entry.running = False
            entry.ready.set()

    async def _read(self, tenant_id: str) -> tuple[tuple[InternalUser, ...], tuple[str, ...], str]:
        async with GraphApp(self.settings) as app:
            graph = app.tenant(tenant_id)
            users = await self._users(graph)
            try:
                return users, await _verified_domains(graph), "verifiedDomains"
            except GraphApiError as exc:
                if exc.status not in (401, 403):
                    raise
                # Without Organization.Read.All: every domain a user receives mail at is ours.
                domains = sorted({a.rpartition("@")[2] for u in users for a in u.addresses})
                source = "users' addresses (grant Organization.Read.All for verifiedDomains)"
                return users, tuple(domains), source

    async def _users(self, graph: TenantGraph) -> tuple[InternalUser, ...]:
        users: list[InternalUser] = []
        async for item in graph.pages("/users", {"$select": USER_SELECT, "$top": str(self.page_size)}):
            if len(users) >= self.max_users:
                raise DirectoryTooLarge(f"tenant has more than {self.max_users} users (max_users)")
            name = str(item.get("displayName") or "").strip()
            address = str(item.get("mail") or item.get("userPrincipalName") or "").strip().lower()
            if not name or "@" not in address:
                continue
            aliases = tuple(
                sorted({p[5:].lower() for p in item.get("proxyAddresses") or []
                        if isinstance(p, str) and p.lower().startswith("smtp:") and p[5:].lower() != address})
            )
            users.append(InternalUser(name=name, address=address, aliases=aliases))
        return tuple(users)


async def _verified_domains(graph: TenantGraph) -> tuple[str, ...]:
    data = await graph.get_json("/organization", {"$select": "id,verifiedDomains"})
    names = {
        str(d.get("name") or "").strip().lower().rstrip(".")
        for org in data.get("value") or []
        for d in org.get("verifiedDomains") or []
        if isinstance(d, dict)
    }
    return tuple(sorted(n for n in names if n))
