"""Storage queues for notifications and delayed work, compatible with the Functions queue trigger.

Messages are sent base64-encoded (``TextBase64EncodePolicy``), which is what the Functions queue
trigger expects by default. Delayed work (e.g. polling a sandbox in 60 s) is a message sent with
``visibility_timeout``: invisible until then, no function waits.

In Azure the Functions host dequeues, retries and poisons by itself. The local host uses
:meth:`StorageQueue.receive` / :meth:`delete` / :meth:`fail`, which follow the same rules: after
``max_dequeue_count`` failed attempts the message goes to ``<name>-poison``. Unlike the Functions
host (which copies the bare content), the poison message here is a JSON envelope with the reason:
``{"queue", "reason", "dequeue_count", "message_id", "inserted_at", "content"}``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    QueueClient,
    QueueServiceClient,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

from connectors.storage.interfaces import QueueItem

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600  # the service's limit
MAX_MESSAGE_BYTES = 64 * 1024  # after base64: keep payloads to ids and small JSON


class StorageQueue:
    """One Azure Storage queue plus its ``-poison`` queue."""

    def __init__(self, service: QueueServiceClient, name: str, *, max_dequeue_count: int = 5) -> None:
        if not _NAME.match(name) or len(name) > 63 - len("-poison"):
            raise ValueError(
                f"queue name {name!r} is invalid: 3-56 lowercase letters, digits and single hyphens "
                "(56 so that '<name>-poison' is valid too)"
            )
        self.name = name
        self.poison_name = f"{name}-poison"
        self.max_dequeue_count = max_dequeue_count
        codecs = {"message_encode_policy": TextBase64EncodePolicy(),
                  "message_decode_policy": TextBase64DecodePolicy()}
        self._queue: QueueClient = service.get_queue_client(name, **codecs)
        self._poison: QueueClient = service.get_queue_client(self.poison_name, **codecs)
        self._raw: QueueClient = service.get_queue_client(  # for receive(): tolerate non-UTF-8 content
            name, message_encode_policy=BinaryBase64EncodePolicy(),
            message_decode_policy=BinaryBase64DecodePolicy(),
        )

    def ensure(self) -> None:
        """Create the queue and its poison queue (on host start; idempotent)."""
        for client in (self._queue, self._poison):
            try:
                client.create_queue()
            except ResourceExistsError:
                pass

    def send(self, content: str | bytes | Mapping[str, Any], *, visibility_timeout: int = 0,
             time_to_live: int | None = None) -> str:
        """Enqueue; JSON for mappings. ``visibility_timeout`` delays delivery (seconds, up to 7 days)."""
        text = _text(content)
        if len(text.encode()) * 4 // 3 > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"queue message too large for {self.name!r} (64 KiB after base64): put the payload in "
                "the artefact store and enqueue its name"
            )
        if not 0 <= visibility_timeout <= MAX_VISIBILITY_SECONDS:
            raise ValueError(f"visibility_timeout must be 0-{MAX_VISIBILITY_SECONDS} seconds (7 days)")
        try:
            message = self._queue.send_message(
                text, visibility_timeout=visibility_timeout or None, time_to_live=time_to_live
            )
        except ResourceNotFoundError:
            # Not created yet (a fresh deployment, whose first call is a notification: the intake
            # does not create every store first): create it, then send once more.
            self.ensure()
            message = self._queue.send_message(
                text, visibility_timeout=visibility_timeout or None, time_to_live=time_to_live
            )
        return str(message.id)

    def receive(self, max_messages: int = 16, visibility_timeout: int = 300) -> list[QueueItem]:
        """Dequeue up to ``max_messages`` (hidden for ``visibility_timeout`` s while processed).

        Messages already over ``max_dequeue_count`` (their processor crashed every time) go to
        the poison queue here instead of being handed out again.
        """
        items: list[QueueItem] = []
        for message in self._raw.receive_messages(
            messages_per_page=min(max_messages, 32), visibility_timeout=visibility_timeout,
            max_messages=max_messages,
        ):
            item = QueueItem(str(message.id), bytes(message.content).decode("utf-8", "replace"),
                             int(message.dequeue_count or 0), message.inserted_on, str(message.pop_receipt))
            if item.dequeue_count > self.max_dequeue_count:
                self._to_poison(item, f"dequeued {item.dequeue_count} times without completing "
                                      "(the processor crashed or timed out each time)")
                continue
            items.append(item)
        return items

    def delete(self, item: QueueItem) -> None:
        try:
            self._queue.delete_message(item.id, item.pop_receipt)
        except ResourceNotFoundError:
            pass  # already deleted, or our visibility expired and someone else holds it now

    def postpone(self, item: QueueItem, visibility_timeout: int, content: str | None = None) -> QueueItem:
        """Hide the message for ``visibility_timeout`` s more (and optionally replace its content)."""
        updated = self._queue.update_message(
            item.id, item.pop_receipt, content=content, visibility_timeout=visibility_timeout
        )
        return QueueItem(item.id, item.content if content is None else content, item.dequeue_count,
                         item.inserted_at, str(updated.pop_receipt))

    def fail(self, item: QueueItem, reason: str, *, retry_after: int = 0) -> bool:
        """Record a failed attempt: retried after ``retry_after`` s, or poisoned (True) at the limit."""
        if item.dequeue_count >= self.max_dequeue_count:
            self._to_poison(item, reason)
            return True
        self.postpone(item, retry_after)
        return False

    def peek_poison(self, max_messages: int = 32) -> list[dict[str, Any]]:
        return [json.loads(m.content) for m in self._poison.peek_messages(max_messages=max_messages)]

    def approximate_count(self) -> int:
        return int(self._queue.get_queue_properties().approximate_message_count or 0)

    def poison(self, content: str, reason: str, *, dequeue_count: int = 0, message_id: str = "",
               inserted_at: str | None = None) -> None:
        """Put ``content`` on ``<name>-poison`` in the envelope that carries the reason (used by
        the function when the host hands it a message for the last allowed time)."""
        envelope = {
            "queue": self.name, "reason": reason[:2000], "dequeue_count": dequeue_count,
            "message_id": message_id, "inserted_at": inserted_at, "content": content,
        }
        self._poison.send_message(json.dumps(envelope))
        # Log ids and the reason only: message content may carry personal data.
        log.warning("queue %s: message %s moved to %s after %d attempts: %s",
                    self.name, message_id, self.poison_name, dequeue_count, reason[:200])

    def _to_poison(self, item: QueueItem, reason: str) -> None:
        self.poison(item.content, reason, dequeue_count=item.dequeue_count, message_id=item.id,
                    inserted_at=item.inserted_at.isoformat() if item.inserted_at else None)
        self.delete(item)


def _text(content: str | bytes | Mapping[str, Any]) -> str:
    if isinstance(content, Mapping):
        return json.dumps(content, separators=(",", ":"), default=str)
    if isinstance(content, bytes):
        return content.decode("utf-8")
    return content
