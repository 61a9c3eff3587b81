"""Outlook ``.msg`` files (OLE2 compound files, [MS-OXMSG]) as a :class:`Message`.

A reported message often arrives as an attached ``.msg`` (Outlook's "attach as item" on a
desktop that saves it as a file). The header fields come from the transport headers property
(``PR_TRANSPORT_MESSAGE_HEADERS``) when present, read by :func:`parse_eml` like any header
block; otherwise from the subject, sender and message-id properties. Bodies and attachments
come from their property streams; an embedded ``.msg`` becomes an attached message.

Every limit is explicit (:class:`MsgLimits`): the file's bytes, the directory entries, the
attachments, one stream's bytes and the nesting of embedded messages. A file that is not a
``.msg`` at all raises :class:`MsgError` (the caller decides what that means); a limit reached
is recorded on the message (``limits_reached``), so the pipeline holds it with the reason.
"""

from __future__ import annotations

import io

import olefile
from pydantic import BaseModel, ConfigDict, Field

from tap_core.model.message import Address, Attachment, LimitReached, Message
from tap_core.parsing.mime import DEFAULT_LIMITS, MimeLimits, clean_text, decode_bytes, parse_eml

#: MAPI property ids read ([MS-OXPROPS]).
_SUBJECT = 0x0037
_SENDER_NAME = 0x0C1A
_SENDER_EMAIL = 0x0C1F
_SENDER_SMTP = 0x5D01
_HEADERS = 0x007D
_MESSAGE_ID = 0x1035
_BODY = 0x1000
_HTML = 0x1013
_ATTACH_DATA = 0x3701
_ATTACH_NAME = 0x3704
_ATTACH_LONG_NAME = 0x3707
_ATTACH_MIME = 0x370E
#: Property types: UTF-16LE string, 8-bit string, binary, embedded object (storage).
_UNICODE, _STRING8, _BINARY, _OBJECT = 0x001F, 0x001E, 0x0102, 0x000D
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class MsgError(ValueError):
    """The bytes are not a readable ``.msg`` file."""


class MsgLimits(BaseModel):
    """How much one ``.msg`` may make the parser read."""

    model_config = ConfigDict(extra="forbid")

    #: The whole file, in bytes.
    max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    #: Directory entries (streams and storages) of the compound file.
    max_entries: int = Field(default=5000, ge=10)
    #: Attachments read per message (each embedded message counts its own).
    max_attachments: int = Field(default=100, ge=1)
    #: Bytes read of one property stream (a body, an attachment).
    max_stream_bytes: int = Field(default=40 * 1024 * 1024, ge=1024)
    #: Embedded messages within embedded messages.
    max_depth: int = Field(default=4, ge=1, le=16)


def is_msg(data: bytes) -> bool:
    return data[:8] == _OLE_MAGIC


def parse_msg(data: bytes, source: str = "", limits: MsgLimits | None = None,
              mime_limits: MimeLimits = DEFAULT_LIMITS) -> Message:
    """The message in ``data``; raises :class:`MsgError` when it is no ``.msg`` (not OLE2, or an
    OLE2 file without message properties)."""
    limits = limits or MsgLimits()
    if len(data) > limits.max_bytes:
        raise MsgError(f"the .msg file is {len(data)} bytes; at most {limits.max_bytes} are read")
    if not is_msg(data):
        raise MsgError("not an OLE2 compound file")
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as exc:  # olefile raises many kinds on damaged files
        raise MsgError(f"damaged compound file ({exc.__class__.__name__}: {exc})") from exc
    try:
        entries = ole.listdir(streams=True, storages=True)
        if len(entries) > limits.max_entries:
            raise MsgError(f"{len(entries)} directory entries; at most {limits.max_entries} are read")
        reader = _Reader(ole, limits, mime_limits)
        message = reader.message([], source, 0)
    except MsgError:
        raise
    except Exception as exc:
        raise MsgError(f"unreadable .msg ({exc.__class__.__name__}: {exc})") from exc
    finally:
        ole.close()
    if not (message.subject or message.headers or message.text_body or message.html_body):
        raise MsgError("no message properties (subject, headers or body) in the compound file")
    return message


class _Reader:
    def __init__(self, ole: olefile.OleFileIO, limits: MsgLimits, mime_limits: MimeLimits) -> None:
        self.ole, self.limits, self.mime_limits = ole, limits, mime_limits
        self.reached: list[LimitReached] = []

    def raw(self, base: list[str], prop: int, kind: int) -> bytes | None:
        path = [*base, f"__substg1.0_{prop:04X}{kind:04X}"]
        if not self.ole.exists("/".join(path)):
            return None
        size = self.ole.get_size("/".join(path))
        if size > self.limits.max_stream_bytes:
            # Nothing beyond the limit is read: the message is held, as for any parse limit.
            where = f"{path[-1]} over {self.limits.max_stream_bytes} bytes"
            self.reached.append(LimitReached("mime_unparseable", self.limits.max_stream_bytes, where))
        return self.ole.openstream(path).read(self.limits.max_stream_bytes)

    def text(self, base: list[str], prop: int) -> str:
        raw = self.raw(base, prop, _UNICODE)
        if raw is not None:
            return raw.decode("utf-16-le", "replace").rstrip("\x00")
        raw = self.raw(base, prop, _STRING8)
        return decode_bytes(raw.rstrip(b"\x00"), "cp1252")[0] if raw is not None else ""

    def message(self, base: list[str], source: str, depth: int) -> Message:
        headers = self.text(base, _HEADERS)
        if headers.strip():
            # The transport headers are a header block: read as every header block is.
            block = headers.strip().encode("utf-8", "replace") + b"\r\n\r\n"
            msg = parse_eml(block, source, self.mime_limits)
            msg.defects = [d for d in msg.defects if "body" not in d]
        else:
            msg = Message(source=source)
            address = self.text(base, _SENDER_SMTP) or self.text(base, _SENDER_EMAIL)
            if "@" in address:
                msg.from_address = Address(address=address.strip().lower(),
                                           name=clean_text(self.text(base, _SENDER_NAME)))
            msg.internet_message_id = self.text(base, _MESSAGE_ID).strip()
        msg.subject = msg.subject or clean_text(self.text(base, _SUBJECT))
        msg.text_body = self.text(base, _BODY) or None
        html = self.raw(base, _HTML, _BINARY)
        if html is not None:
            msg.html_body = decode_bytes(html.rstrip(b"\x00"), "utf-8")[0]
        elif (html_text := self.text(base, _HTML)):
            msg.html_body = html_text
        self.attachments(base, msg, depth)
        if depth == 0:
            msg.limits_reached.extend(self.reached)
        return msg

    def attachments(self, base: list[str], msg: Message, depth: int) -> None:
        prefix = "__attach_version1.0_#"
        storages = sorted({
            entry[len(base)] for entry in self.ole.listdir(streams=False, storages=True)
            if len(entry) == len(base) + 1 and entry[:len(base)] == base and entry[-1].startswith(prefix)
        })
        if len(storages) > self.limits.max_attachments:
            self.reached.append(LimitReached("limit_mime_parts", self.limits.max_attachments, msg.source))
        for name in storages[: self.limits.max_attachments]:
            where = [*base, name]
            filename = self.text(where, _ATTACH_LONG_NAME) or self.text(where, _ATTACH_NAME) or "attachment"
            embedded = [*where, f"__substg1.0_{_ATTACH_DATA:04X}{_OBJECT:04X}"]
            if self.ole.get_type("/".join(embedded)) == olefile.STGTY_STORAGE:
                if depth + 1 > self.limits.max_depth:
                    self.reached.append(LimitReached("limit_mime_depth", self.limits.max_depth, filename))
                    continue
                msg.attached_messages.append(self.message(embedded, f"{msg.source}#{filename}", depth + 1))
                continue
            data = self.raw(where, _ATTACH_DATA, _BINARY) or b""
            ctype = self.text(where, _ATTACH_MIME).strip().lower() or "application/octet-stream"
            msg.attachments.append(Attachment(name=clean_text(filename), content_type=ctype, data=data))


__all__ = ["MsgError", "MsgLimits", "is_msg", "parse_msg"]
