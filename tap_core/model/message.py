"""The one message model the pipelines read, whatever the message came from.

Two builders fill it: :mod:`tap_core.parsing.mime` (an RFC 822/MIME message, e.g. an ``.eml`` file) and
:mod:`tap_core.parsing.graph_message` (a Microsoft Graph message resource as JSON). Malformed input never
raises: what could not be read is recorded in ``defects``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True, frozen=True)
class Address:
    """A mailbox: display name and address (address lowercased; '' when absent)."""

    name: str = ""
    address: str = ""

    @property
    def domain(self) -> str:
        _, _, domain = self.address.rpartition("@")
        return domain

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(slots=True, frozen=True)
class LimitReached:
    """A parse limit the message reached: what lies beyond it was not analysed, so the pipeline
    holds the message with this reason (``name`` is the finding, see limit_rules.toml)."""

    name: str
    limit: int
    #: Where: a part path ("1.2"), a header name, or what failed.
    where: str = ""


@dataclass(slots=True)
class Attachment:
    """A file carried by the message (inline parts with a filename included)."""

    name: str
    content_type: str
    data: bytes
    content_id: str = ""
    is_inline: bool = False
    #: Size as declared by the source (Graph reports it even when the bytes are not fetched).
    declared_size: int | None = None
    #: True when ``data`` is incomplete (not fetched, or cut at a configured size limit).
    truncated: bool = False

    @property
    def size(self) -> int:
        return self.declared_size if self.declared_size is not None else len(self.data)


@dataclass(slots=True)
class Message:
    """A message as the pipelines see it."""

    #: Where it came from: a file path, or ``graph:<mailbox>/<message id>``.
    source: str
    subject: str = ""
    internet_message_id: str = ""
    from_address: Address | None = None
    sender: Address | None = None
    reply_to: list[Address] = field(default_factory=list)
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    return_path: str = ""
    #: All header fields in order, as (name, decoded value).
    headers: list[tuple[str, str]] = field(default_factory=list)
    html_body: str | None = None
    text_body: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    #: Messages attached as ``message/rfc822`` (or Graph item attachments), parsed recursively.
    attached_messages: list[Message] = field(default_factory=list)
    sent_at: datetime | None = None
    received_at: datetime | None = None
    #: What could not be parsed, in words (header names, parts, charsets...).
    defects: list[str] = field(default_factory=list)
    #: Parse limits reached (the message is not analysed whole): each holds the message.
    limits_reached: list[LimitReached] = field(default_factory=list)
    #: True for S/MIME or PGP encrypted/signed bodies that cannot be read or must not be edited.
    is_encrypted: bool = False
    is_signed: bool = False

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]

    @property
    def recipients(self) -> list[Address]:
        return [*self.to, *self.cc, *self.bcc]
