"""Outbound HTTP from the sim: validation handshakes, change and lifecycle notifications.

Runs on the server's event loop. Deliveries retry with exponential backoff (scaled by
``notification_time_scale``) until the retry window closes, as Graph does for four hours.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from . import ids
from .clock import iso_precise
from .errors import GraphError
from .mailbox import ChangeEvent
from .subscriptions import Subscription

if TYPE_CHECKING:
    from .state import SimState

VALIDATION_FAILED = (
    "Subscription validation request failed. Notification endpoint must respond with 200 OK "
    "to validation request."
)


@dataclass
class EndpointHealth:
    samples: deque[tuple[float, bool]] = field(default_factory=deque)
    state: str = "ok"  # "ok" | "throttled" | "dropped"
    until: float = 0.0


class Notifier:
    def __init__(self, state: SimState) -> None:
        self.state = state
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.endpoints: dict[str, EndpointHealth] = {}

    # Plumbing ---------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            context = ssl.create_default_context()
            # Receivers may use certificates issued by the sim CA (m365sim.testing helpers).
            context.load_verify_locations(cafile=str(self.state.ca_path))
            self._client = httpx.AsyncClient(verify=context, trust_env=False, follow_redirects=False)
        return self._client

    def _spawn(self, coro: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (seeding at start-up): nothing can be subscribed yet
            coro.close()
            return
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> bool:
        """Wait for in-flight deliveries (tests); True when none are left."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return not self._tasks

    def pending(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.endpoints.clear()

    async def aclose(self) -> None:
        await self.cancel_all()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # Validation handshake ---------------------------------------------------------------

    async def validate(self, url: str) -> None:
        token = (
            f"Validation: Testing client application reachability for subscription Request-Id: {ids.guid()}"
        )
        target = url + ("&" if "?" in url else "?") + urlencode({"validationToken": token})
        timeout = self.state.config.validation_timeout_seconds
        try:
            response = await self._http().post(
                target,
                content=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise GraphError(400, "ValidationError", "Subscription validation request timed out.") from exc
        except httpx.HTTPError as exc:
            raise GraphError(400, "ValidationError", VALIDATION_FAILED) from exc
        if response.status_code != 200:
            raise GraphError(400, "ValidationError", VALIDATION_FAILED)
        if not response.headers.get("content-type", "").lower().startswith("text/plain"):
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Response must be text/plain.",
            )
        if response.text != token:
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Response must exactly match "
                "validationToken query parameter.",
            )

    # Change notifications ---------------------------------------------------------------

    def active(self, sub_id: str) -> bool:
        sub = self.state.subscriptions.get(sub_id)
        return bool(sub and not sub.needs_reauthorization and sub.expiration > self.state.clock.now_precise())

    def _notification_id(self, sub: Subscription, event: ChangeEvent, old: bool) -> str:
        mode = self.state.config.notification_id_type
        if mode == "immutable" or (mode == "auto" and sub.immutable_ids):
            return event.message.immutable_id
        return (event.old_rest_id or event.rest_id) if old else event.rest_id

    def on_change(self, event: ChangeEvent) -> None:
        user = event.mailbox.user
        for sub in list(self.state.subscriptions.values()):
            if sub.tenant_id != user.tenant_id or sub.user_id != user.id:
                continue
            for change_type, old in self._changes_for(sub, event):
                if change_type not in sub.change_types:
                    continue
                if not self.active(sub.id):
                    self.state.stats.delivery(sub.id).skipped_inactive += 1
                    continue
                msg_id = self._notification_id(sub, event, old)
                self._spawn(self._deliver(sub, self._change_payload(sub, event, change_type, msg_id)))

    @staticmethod
    def _changes_for(sub: Subscription, event: ChangeEvent) -> list[tuple[str, bool]]:
        """(changeType, refers-to-old-id) pairs this event means for the subscription."""
        folder = sub.folder_id
        if event.kind in ("created", "updated", "deleted"):
            return [(event.kind, False)] if folder in (None, event.folder_id) else []
        # A move: out of one folder, into another.
        if folder is None:
            return [("updated", False)] if sub.immutable_ids else [("deleted", True), ("created", False)]
        changes = []
        if folder == event.old_folder_id:
            changes.append(("deleted", True))
        if folder == event.folder_id:
            changes.append(("created", False))
        return changes

    def _change_payload(
        self, sub: Subscription, event: ChangeEvent, change_type: str, msg_id: str
    ) -> dict[str, Any]:
        resource = f"Users/{event.mailbox.user.id}/Messages/{msg_id}"
        return {
            "value": [
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": iso_precise(sub.expiration),
                    "changeType": change_type,
                    "resource": resource,
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.Message",
                        "@odata.id": resource,
                        "@odata.etag": f'W/"{event.message.change_key}"',
                        "id": msg_id,
                    },
                    "clientState": sub.client_state,
                    "tenantId": sub.tenant_id,
                }
            ]
        }

    def lifecycle(self, sub: Subscription, event: str) -> bool:
        """Send a lifecycle notification; False when the subscription has no lifecycle URL."""
        if not sub.lifecycle_url:
            return False
        payload = {
            "value": [
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": iso_precise(sub.expiration),
                    "tenantId": sub.tenant_id,
                    "clientState": sub.client_state,
                    "lifecycleEvent": event,
                }
            ]
        }
        self._spawn(self._deliver(sub, payload, url=sub.lifecycle_url, lifecycle=True))
        return True

    # Delivery ---------------------------------------------------------------------------

    async def _deliver(
        self, sub: Subscription, payload: dict[str, Any], url: str | None = None, lifecycle: bool = False
    ) -> None:
        stats = self.state.stats.delivery(sub.id)
        if lifecycle:
            stats.lifecycle += 1
        else:
            stats.notifications += 1
        faults = self.state.faults
        fired = self.state.stats.faults_fired
        # With missed_on_drop the lifecycle channel is how a drop is recovered: never drop it.
        if not (lifecycle and faults.missed_on_drop) and faults.roll(faults.drop_notifications_rate):
            stats.dropped_by_fault += 1
            fired["notification_dropped"] += 1
            if faults.missed_on_drop and not lifecycle and self.lifecycle(sub, "missed"):
                fired["missed_sent"] += 1  # Graph's signal that changes were lost: resync by delta
            return
        copies = faults.copies(fired)
        if faults.delay_notifications_ms:
            await asyncio.sleep(faults.delay_notifications_ms / 1000)
        for copy_index in range(copies):
            if copy_index:
                stats.duplicates_by_fault += 1
            await self._attempts(sub, url or sub.notification_url, payload, lifecycle)

    async def _attempts(self, sub: Subscription, url: str, payload: dict[str, Any], lifecycle: bool) -> None:
        config = self.state.config
        stats = self.state.stats.delivery(sub.id)
        scale = config.notification_time_scale
        body = json.dumps(payload).encode("utf-8")
        started = time.monotonic()
        delay = config.retry_initial_seconds * scale
        while True:
            if not lifecycle and not self.active(sub.id):
                stats.skipped_inactive += 1
                return
            health = self.endpoints.setdefault(url, EndpointHealth())
            if config.slow_endpoint_policy and health.state != "ok":
                remaining = health.until - time.monotonic()
                if remaining <= 0:
                    health.state = "ok"
                elif health.state == "dropped":
                    stats.dropped_slow_endpoint += 1
                    return
                else:  # throttled: held back until the penalty ends
                    await asyncio.sleep(remaining)
                    continue
            stats.attempts += 1
            t0 = time.monotonic()
            ok = False
            try:
                response = await self._http().post(
                    url,
                    content=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=config.notification_timeout_seconds,
                )
                stats.last_status = response.status_code
                ok = 200 <= response.status_code < 300
            except httpx.HTTPError:
                stats.last_status = None
            elapsed = time.monotonic() - t0
            slow = elapsed > config.slow_notification_seconds
            if slow:
                stats.slow += 1
            self._record(url, health, slow)
            if ok:
                stats.delivered += 1
                return
            stats.failures += 1
            if time.monotonic() - started + delay > config.retry_window_seconds * scale:
                stats.gave_up += 1
                return
            stats.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, config.retry_max_interval_seconds * scale)

    def _record(self, url: str, health: EndpointHealth, slow: bool) -> None:
        config = self.state.config
        scale = config.notification_time_scale
        now = time.monotonic()
        health.samples.append((now, slow))
        horizon = now - config.slow_endpoint_window_seconds * scale
        while health.samples and health.samples[0][0] < horizon:
            health.samples.popleft()
        if not config.slow_endpoint_policy or len(health.samples) < config.slow_endpoint_min_samples:
            return
        ratio = sum(1 for _, s in health.samples if s) / len(health.samples)
        if ratio > 0.15:
            health.state, health.until = "dropped", now + config.slow_endpoint_penalty_seconds * scale
        elif ratio > 0.10:
            health.state, health.until = "throttled", now + config.slow_endpoint_penalty_seconds * scale

    def endpoint_stats(self) -> dict[str, Any]:
        return {
            url: {
                "samples": len(h.samples),
                "slow": sum(1 for _, s in h.samples if s),
                "state": h.state,
            }
            for url, h in self.endpoints.items()
        }
