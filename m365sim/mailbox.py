"""Mailbox store: folders, messages with REST + immutable ids, and a change log for delta."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import ids
from .clock import Clock
from .directory import User
from .errors import GraphError

Recipient = dict[str, str]

# (well-known name, display name) of the folders every Exchange mailbox has under the root.
WELL_KNOWN_FOLDERS: tuple[tuple[str, str], ...] = (
    ("inbox", "Inbox"),
    ("drafts", "Drafts"),
    ("sentitems", "Sent Items"),
    ("deleteditems", "Deleted Items"),
    ("junkemail", "Junk Email"),
    ("archive", "Archive"),
    ("outbox", "Outbox"),
    ("conversationhistory", "Conversation History"),
)
ROOT = "msgfolderroot"


@dataclass
class Attachment:
    id: str
    kind: str  # "file" | "item" | "reference"
    name: str
    content_type: str | None
    content: bytes  # file bytes; for item attachments the embedded message's MIME
    last_modified: datetime
    is_inline: bool = False
    content_id: str | None = None
    source_url: str | None = None  # reference attachments only

    @property
    def size(self) -> int:
        return len(self.content) if self.kind != "reference" else 0


@dataclass
class Message:
    immutable_id: str
    rest_id: str
    folder_id: str
    created: datetime
    last_modified: datetime
    received: datetime
    sent: datetime | None
    subject: str
    body: str
    body_type: str  # "html" | "text"
    from_: Recipient | None
    sender: Recipient | None
    to: list[Recipient]
    cc: list[Recipient]
    bcc: list[Recipient]
    reply_to: list[Recipient]
    internet_message_id: str
    conversation_id: str
    conversation_index: str
    headers: list[tuple[str, str]]
    mime: bytes  # what GET .../$value returns
    attachments: list[Attachment] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    is_read: bool = False
    is_draft: bool = False
    importance: str = "normal"
    inference_classification: str = "focused"
    flag: dict[str, Any] = field(default_factory=lambda: {"flagStatus": "notFlagged"})
    is_delivery_receipt_requested: bool | None = None
    is_read_receipt_requested: bool = False
    change_key: str = field(default_factory=ids.change_key)
    extended_properties: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0  # mailbox sequence number of the last change
    entered_seq: int = 0  # sequence number when it entered its current folder
    order: int = 0  # tie-breaker for equal receivedDateTime

    @property
    def has_attachments(self) -> bool:
        # Graph's hasAttachments ignores inline attachments (embedded images).
        return any(not a.is_inline for a in self.attachments)


@dataclass
class Folder:
    id: str
    display_name: str
    parent_id: str | None
    well_known: str | None = None
    is_hidden: bool = False


@dataclass(frozen=True)
class ChangeEvent:
    """A change that subscriptions may notify about."""

    kind: str  # "created" | "updated" | "deleted" | "moved"
    mailbox: Mailbox
    message: Message
    folder_id: str
    rest_id: str
    old_folder_id: str | None = None
    old_rest_id: str | None = None


@dataclass(frozen=True)
class Tombstone:
    seq: int
    folder_id: str
    immutable_id: str
    rest_id: str


class Mailbox:
    def __init__(self, user: User, clock: Clock) -> None:
        self.user = user
        self.clock = clock
        self.seq = 0
        self._order = 0
        self.folders: dict[str, Folder] = {}
        self.well_known: dict[str, str] = {}
        self.messages: dict[str, Message] = {}
        self.by_rest: dict[str, str] = {}
        self.tombstones: list[Tombstone] = []
        self.listeners: list[Callable[[ChangeEvent], None]] = []
        root = self._new_folder("Top of Information Store", None, ROOT)
        for name, display in WELL_KNOWN_FOLDERS:
            self._new_folder(display, root.id, name)

    # Folders -----------------------------------------------------------------

    def _new_folder(
        self, display: str, parent_id: str | None, well_known: str | None = None, hidden: bool = False
    ) -> Folder:
        folder = Folder(ids.folder_id(self.user.id), display, parent_id, well_known, hidden)
        self.folders[folder.id] = folder
        if well_known:
            self.well_known[well_known] = folder.id
        return folder

    @property
    def root(self) -> Folder:
        return self.folders[self.well_known[ROOT]]

    def folder(self, ref: str) -> Folder | None:
        """By id or well-known name (case-insensitive, as Graph accepts ``Inbox``)."""
        folder_id = self.well_known.get(ref.lower())
        if folder_id:
            return self.folders[folder_id]
        return self.folders.get(ref)

    def children(self, folder_id: str) -> list[Folder]:
        return [f for f in self.folders.values() if f.parent_id == folder_id]

    def create_folder(self, parent: Folder, display_name: str, hidden: bool) -> Folder:
        self._check_unique(parent.id, display_name)
        return self._new_folder(display_name, parent.id, None, hidden)

    def rename_folder(self, folder: Folder, display_name: str) -> None:
        if folder.display_name.lower() != display_name.lower():
            self._check_unique(folder.parent_id or "", display_name)
        folder.display_name = display_name

    def _check_unique(self, parent_id: str, display_name: str) -> None:
        for sibling in self.children(parent_id):
            if sibling.display_name.lower() == display_name.lower():
                raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.")

    def delete_folder(self, folder: Folder) -> None:
        for child in self.children(folder.id):
            self.delete_folder(child)
        for message in self.messages_in(folder.id):
            self.remove(message)
        del self.folders[folder.id]

    def folder_path(self, folder: Folder) -> str:
        parts = []
        current: Folder | None = folder
        while current and current.well_known != ROOT:
            parts.append(current.display_name)
            current = self.folders.get(current.parent_id or "")
        return "/".join(reversed(parts))

    # Messages ----------------------------------------------------------------

    def messages_in(self, folder_id: str | None) -> list[Message]:
        """Newest first, Graph's default order for message lists."""
        items = [m for m in self.messages.values() if folder_id is None or m.folder_id == folder_id]
        return sorted(items, key=lambda m: (m.received, m.order), reverse=True)

    def get_message(self, ref: str, immutable: bool, strict: bool) -> Message | None:
        """Resolve an id from a URL. With ``strict``, a request without the immutable-id
        preference only resolves REST ids (the id it would have been given)."""
        message = self.messages.get(ref)
        if message is not None and (immutable or not strict):
            return message
        immutable_id = self.by_rest.get(ref)
        return self.messages.get(immutable_id) if immutable_id else None

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _emit(self, event: ChangeEvent) -> None:
        for listener in list(self.listeners):
            listener(event)

    def add(self, message: Message, folder: Folder) -> Message:
        self._order += 1
        message.order = self._order
        message.folder_id = folder.id
        message.seq = message.entered_seq = self._next_seq()
        self.messages[message.immutable_id] = message
        self.by_rest[message.rest_id] = message.immutable_id
        self._emit(ChangeEvent("created", self, message, folder.id, message.rest_id))
        return message

    def touch(self, message: Message) -> None:
        message.seq = self._next_seq()
        message.change_key = ids.change_key()
        message.last_modified = self.clock.now()
        self._emit(ChangeEvent("updated", self, message, message.folder_id, message.rest_id))

    def move(self, message: Message, destination: Folder) -> Message:
        if destination.id == message.folder_id:
            return message
        old_folder, old_rest = message.folder_id, message.rest_id
        self.tombstones.append(Tombstone(self._next_seq(), old_folder, message.immutable_id, old_rest))
        del self.by_rest[old_rest]
        # A move gives the item a new REST id; the immutable id survives.
        message.rest_id = ids.message_rest_id(self.user.id)
        self.by_rest[message.rest_id] = message.immutable_id
        message.folder_id = destination.id
        message.seq = message.entered_seq = self._next_seq()
        message.change_key = ids.change_key()
        message.last_modified = self.clock.now()
        self._emit(ChangeEvent("moved", self, message, destination.id, message.rest_id, old_folder, old_rest))
        return message

    def copy(self, message: Message, destination: Folder) -> Message:
        now = self.clock.now()
        clone = copy.deepcopy(message)
        clone.immutable_id = ids.message_immutable_id(self.user.id)
        clone.rest_id = ids.message_rest_id(self.user.id)
        clone.created = clone.last_modified = now
        clone.change_key = ids.change_key()
        for attachment in clone.attachments:
            attachment.id = ids.attachment_id(self.user.id)
        return self.add(clone, destination)

    def remove(self, message: Message) -> None:
        self.tombstones.append(
            Tombstone(self._next_seq(), message.folder_id, message.immutable_id, message.rest_id)
        )
        del self.messages[message.immutable_id]
        del self.by_rest[message.rest_id]
        self._emit(ChangeEvent("deleted", self, message, message.folder_id, message.rest_id))
