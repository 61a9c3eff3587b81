"""``queueTrigger`` functions: poll an Azure Storage (or Azurite) queue as the Functions host does.

Messages are base64 (the trigger's default encoding); text that is not base64 is passed as is.
Success deletes the message. A failure makes it visible again after ``visibilityTimeout``; the
failure at ``maxDequeueCount`` moves the original message text to ``<queue>-poison``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.storage.queue import QueueClient, QueueServiceClient

from connectors.localhost.config import QueueOptions
from connectors.localhost.invoke import FunctionTimeout, Invoker, convert_for_annotation
from connectors.localhost.loader import AppLoadError, FunctionSpec, resolve_app_settings
from connectors.storage.config import azurite_connection_string

if TYPE_CHECKING:
    from azure.storage.queue import QueueMessage as StorageMessage

log = logging.getLogger("tap365.localhost")
_DEV_SHORTCUT = re.compile(r"^\s*UseDevelopmentStorage\s*=\s*true\s*;?\s*$", re.IGNORECASE)
_MIN_POLL = 0.1  # seconds; the first wait after an empty poll, doubled up to maxPollingInterval
_RETRIES = 2  # the poll loop itself retries; SDK retries would only delay start-up and stopping
_MAX_VISIBILITY = 7 * 24 * 3600  # Azure's limit for a message's visibility timeout


def queue_service(connection: str) -> QueueServiceClient:
    """The queue service for a binding's ``connection`` (an app setting name), as the host resolves it."""
    name = connection or "AzureWebJobsStorage"
    for candidate in (name, f"AzureWebJobs{name}"):
        value = os.environ.get(candidate)
        if value:
            if _DEV_SHORTCUT.match(value):
                value = azurite_connection_string()  # Azurite on its default ports
            return QueueServiceClient.from_connection_string(value, retry_total=_RETRIES)
    uri = os.environ.get(f"{name}__queueServiceUri")
    account = os.environ.get(f"{name}__accountName")
    if uri or account:
        from azure.identity import DefaultAzureCredential  # identity-based connection, as in Azure

        credential = DefaultAzureCredential(managed_identity_client_id=os.environ.get(f"{name}__clientId"))
        url = uri or f"https://{account}.queue.core.windows.net"
        return QueueServiceClient(url, credential=credential, retry_total=_RETRIES)
    raise AppLoadError(
        f"queue connection {name!r} is not configured: set the app setting {name} to a storage connection "
        f"string (\"UseDevelopmentStorage=true\" for Azurite) or {name}__accountName for identity access"
    )


def decode_body(content: str) -> bytes:
    """The trigger's base64 decoding, falling back to the raw text when it is not base64."""
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return content.encode("utf-8")


def to_function_message(message: StorageMessage) -> FunctionQueueMessage:
    """The worker's QueueMessage (a subclass of ``azure.functions.QueueMessage`` with all fields)."""
    return FunctionQueueMessage(
        id=message.id,
        body=decode_body(message.content or ""),
        dequeue_count=message.dequeue_count,
        expiration_time=message.expires_on,
        insertion_time=message.inserted_on,
        time_next_visible=message.next_visible_on,
        pop_receipt=message.pop_receipt,
    )


class QueueListener:
    """Polls one queue for one function until ``stopping`` is set."""

    def __init__(self, spec: FunctionSpec, options: QueueOptions, invoker: Invoker,
                 function_timeout: float | None, processing_visibility: float | None = None) -> None:
        self.spec = spec
        self.options = options
        self.invoker = invoker
        self.queue_name = resolve_app_settings(str(spec.trigger["queueName"])).lower()
        service = queue_service(str(spec.trigger.get("connection") or ""))
        self.queue: QueueClient = service.get_queue_client(self.queue_name)
        self.poison: QueueClient = service.get_queue_client(f"{self.queue_name}-poison")
        # Hidden while running; longer than the function may take, so no second copy starts meanwhile.
        # As the Functions host: 10 minutes at least. A chaos run shortens it (processing_visibility)
        # so a killed host's messages come back in seconds, not minutes.
        default = max(600, (function_timeout or 0) + 60)
        wanted = processing_visibility if processing_visibility is not None else default
        self.processing_visibility = int(min(_MAX_VISIBILITY, max(1, wanted)))
        self._running: set[asyncio.Task[None]] = set()
        self._created = False

    async def ensure_queues(self) -> bool:
        """Create the queue and its poison queue if missing; False (logged) if storage is unreachable."""
        if self._created:
            return True
        try:
            for client in (self.queue, self.poison):
                try:
                    await asyncio.to_thread(client.create_queue)
                except ResourceExistsError:
                    pass
        except AzureError as exc:
            log.warning("queue %s for %s is not reachable yet (%s); retrying", self.queue_name,
                        self.spec.name, type(exc).__name__)
            return False
        self._created = True
        return True

    async def run(self, stopping: asyncio.Event) -> None:
        delay = _MIN_POLL
        batch = min(32, self.options.batch_size)  # 32: the most one Get Messages call returns
        while not stopping.is_set():
            if len(self._running) > self.options.threshold:
                await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
                continue
            messages = await self._poll(batch, stopping)
            if stopping.is_set():
                break
            for message in messages:
                task = asyncio.create_task(self._process(message))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if messages:
                delay = _MIN_POLL
                continue
            try:
                await asyncio.wait_for(stopping.wait(), timeout=delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, max(self.options.max_polling_interval, _MIN_POLL))
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _poll(self, count: int, stopping: asyncio.Event) -> list[Any]:
        """One Get Messages call, abandoned (not awaited) if the host stops meanwhile."""
        async def poll() -> list[Any]:
            if not await self.ensure_queues():
                return []
            try:
                return await asyncio.to_thread(self._receive, count)
            except AzureError as exc:
                log.warning("polling queue %s failed (%s); backing off", self.queue_name, type(exc).__name__)
                return []

        poll_task = asyncio.create_task(poll())
        stop_task = asyncio.create_task(stopping.wait())
        await asyncio.wait({poll_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        if not poll_task.done():
            poll_task.cancel()  # messages it may still receive reappear after their visibility timeout
            return []
        return poll_task.result()

    def _receive(self, count: int) -> list[Any]:
        return list(self.queue.receive_messages(messages_per_page=count, max_messages=count,
                                                visibility_timeout=self.processing_visibility))

    async def _process(self, message: StorageMessage) -> None:
        try:
            await self._process_one(message)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not kill the listener; the message reappears later
            log.exception("processing message %s from %s failed", message.id, self.queue_name)

    async def _process_one(self, message: StorageMessage) -> None:
        dequeue_count = message.dequeue_count or 1  # always set by Get Messages
        if dequeue_count > self.options.max_dequeue_count:
            # Already failed elsewhere as often as allowed (e.g. a host stopped mid-run): poison it.
            await self._to_poison(message, "it was dequeued more than maxDequeueCount times")
            return
        started = time.monotonic()
        body = decode_body(message.content or "")
        value = convert_for_annotation(self.spec, to_function_message(message), body)
        try:
            await self.invoker.call(self.spec, value)
        except asyncio.CancelledError:
            await self._release(message, 0)  # stopping: let another host take it at once
            raise
        except Exception as exc:
            log.error("Executed 'Functions.%s' (Failed, Id=%s, DequeueCount=%s): %s: %s", self.spec.name,
                      message.id, dequeue_count, type(exc).__name__, exc,
                      exc_info=not isinstance(exc, FunctionTimeout))
            if dequeue_count >= self.options.max_dequeue_count:
                await self._to_poison(message, f"the function failed on dequeue {dequeue_count}")
            else:
                await self._release(message, self.options.visibility_timeout)
            return
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", self.spec.name, message.id,
                 (time.monotonic() - started) * 1000)
        try:
            await asyncio.to_thread(self.queue.delete_message, message.id, message.pop_receipt)
        except (ResourceNotFoundError, AzureError) as exc:
            log.warning("could not delete message %s from %s (%s); it will run again", message.id,
                        self.queue_name, exc)

    async def _release(self, message: StorageMessage, delay: float) -> None:
        try:
            await asyncio.to_thread(self.queue.update_message, message.id, message.pop_receipt,
                                    visibility_timeout=int(delay))
        except AzureError as exc:
            log.warning("could not release message %s in %s (%s); it reappears after %d s", message.id,
                        self.queue_name, exc, self.processing_visibility)

    async def _to_poison(self, message: StorageMessage, reason: str) -> None:
        log.error(
            "Message %s has reached MaxDequeueCount of %d (%s). Moving message to queue '%s'.",
            message.id, self.options.max_dequeue_count, reason, self.poison.queue_name,
        )
        try:
            # The original message text, still base64 as it was sent, as the host copies it.
            await asyncio.to_thread(self.poison.send_message, message.content)
            await asyncio.to_thread(self.queue.delete_message, message.id, message.pop_receipt)
        except AzureError as exc:
            log.warning("could not move message %s to %s (%s)", message.id, self.poison.queue_name, exc)
