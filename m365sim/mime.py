"""RFC 822 <-> Graph message properties, best effort like Exchange's content conversion."""

from __future__ import annotations

import email
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, make_msgid, parsedate_to_datetime
from html.parser import HTMLParser
from typing import ClassVar

Recipient = dict[str, str]  # {"name": ..., "address": ...}

BODY_PREVIEW_LENGTH = 255


@dataclass
class ParsedAttachment:
    kind: str  # "file" | "item"
    name: str
    content_type: str
    content: bytes  # file bytes, or the embedded message's MIME for item attachments
    is_inline: bool = False
    content_id: str | None = None
    item_subject: str | None = None


@dataclass
class ParsedMail:
    subject: str = ""
    from_: Recipient | None = None
    sender: Recipient | None = None
    reply_to: list[Recipient] = field(default_factory=list)
    to: list[Recipient] = field(default_factory=list)
    cc: list[Recipient] = field(default_factory=list)
    bcc: list[Recipient] = field(default_factory=list)
    internet_message_id: str = ""
    sent: datetime | None = None
    body_type: str = "text"
    body: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    importance: str = "normal"
    references: str = ""


class _TextExtractor(HTMLParser):
    _SKIP: ClassVar[frozenset[str]] = frozenset({"script", "style", "head", "title"})
    _BREAK: ClassVar[frozenset[str]] = frozenset(
        {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip_depth:
            self._skip_depth -= 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # malformed markup: fall back to crude tag stripping
        return html.unescape(re.sub(r"<[^>]+>", " ", markup))
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def body_preview(body: str, body_type: str) -> str:
    text = html_to_text(body) if body_type == "html" else body
    return re.sub(r"\s+", " ", text).strip()[:BODY_PREVIEW_LENGTH]


EXCHANGE_META = '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'


def exchange_html(markup: str) -> str:
    """The shape Exchange gives HTML bodies: a head carrying a Content-Type meta tag."""
    if "http-equiv" in markup.lower():
        return markup
    head = re.search(r"<head[^>]*>", markup, re.IGNORECASE)
    if head:
        return markup[: head.end()] + "\r\n" + EXCHANGE_META + markup[head.end() :]
    root = re.search(r"<html[^>]*>", markup, re.IGNORECASE)
    if root:
        return markup[: root.end()] + "<head>\r\n" + EXCHANGE_META + "</head>" + markup[root.end() :]
    return "<html><head>\r\n" + EXCHANGE_META + "</head><body>" + markup + "</body></html>"


def text_to_html(text: str) -> str:
    return "<html><body><pre>" + html.escape(text) + "</pre></body></html>"


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", value).strip()


def _recipients(msg: Message, name: str) -> list[Recipient]:
    values = []
    for raw in msg.get_all(name, []) if hasattr(msg, "get_all") else []:
        values.append(str(raw))
    if not values:
        return []
    try:
        header = msg[name]
        addresses = getattr(header, "addresses", None)
        if addresses is not None and len(msg.get_all(name, [])) == 1:
            return [
                {"name": a.display_name or a.addr_spec, "address": a.addr_spec}
                for a in addresses
                if a.addr_spec
            ]
    except Exception:  # noqa: S110 - malformed header: use the tolerant parser below
        pass
    result = []
    for display, addr in getaddresses(values):
        if addr:
            result.append({"name": display or addr, "address": addr})
    return result


def _header_text(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:
        raw = dict(msg.raw_items()).get(name) if hasattr(msg, "raw_items") else None
        return _unfold(str(raw or ""))
    return _unfold(str(value)) if value is not None else ""


def _decode_text(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, bytes):
            return content.decode("utf-8", "replace")
        return str(content)
    except Exception:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            charset = part.get_content_charset() or "utf-8"
            try:
                return payload.decode(charset, "replace")
            except LookupError:
                return payload.decode("utf-8", "replace")
        return str(part.get_payload() or "")


def parse_message_bytes(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=policy.default)


def parse_mail(raw: bytes) -> ParsedMail:
    """Map raw MIME to Graph's message properties. Never raises: malformed mail still lands."""
    msg = parse_message_bytes(raw)
    parsed = ParsedMail()
    parsed.subject = _header_text(msg, "Subject")
    from_list = _recipients(msg, "From")
    parsed.from_ = from_list[0] if from_list else None
    sender_list = _recipients(msg, "Sender")
    parsed.sender = sender_list[0] if sender_list else parsed.from_
    parsed.reply_to = _recipients(msg, "Reply-To")
    parsed.to = _recipients(msg, "To")
    parsed.cc = _recipients(msg, "Cc")
    parsed.bcc = _recipients(msg, "Bcc")
    parsed.internet_message_id = _header_text(msg, "Message-ID")
    parsed.references = _header_text(msg, "References")
    date_text = _header_text(msg, "Date")
    if date_text:
        try:
            sent = parsedate_to_datetime(date_text)
            parsed.sent = (sent if sent.tzinfo else sent.replace(tzinfo=UTC)).astimezone(UTC)
        except (TypeError, ValueError, IndexError):
            parsed.sent = None
    importance = (_header_text(msg, "Importance") or _header_text(msg, "X-Priority")).lower()
    if importance.startswith(("high", "1", "2")):
        parsed.importance = "high"
    elif importance.startswith(("low", "5", "4")):
        parsed.importance = "low"
    parsed.headers = [(name, _unfold(str(value))) for name, value in msg.raw_items()]

    body_parts: set[int] = set()
    body_part = _get_body(msg, ("html", "plain"))
    if body_part is not None:
        body_parts.add(id(body_part))
        parsed.body_type = "html" if body_part.get_content_subtype() == "html" else "text"
        parsed.body = _decode_text(body_part)
        alternative = _get_body(msg, ("plain",))
        if alternative is not None:
            body_parts.add(id(alternative))
    parsed.attachments = list(_attachments(msg, body_parts))
    return parsed


def _get_body(msg: Message, preference: tuple[str, ...]) -> Message | None:
    try:
        return msg.get_body(preferencelist=preference)  # type: ignore[attr-defined]
    except Exception:
        return None


def _attachments(
    part: Message, body_parts: set[int], counter: list[int] | None = None
) -> Iterator[ParsedAttachment]:
    counter = counter if counter is not None else [0]
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        counter[0] += 1
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        inner_bytes = _as_bytes(inner) if isinstance(inner, Message) else b""
        subject = _header_text(inner, "Subject") if isinstance(inner, Message) else ""
        name = part.get_filename() or subject or f"ATT{counter[0]:05d}.eml"
        yield ParsedAttachment("item", name, ctype, inner_bytes, item_subject=subject)
        return
    if part.is_multipart():
        for sub in part.get_payload() or []:
            if isinstance(sub, Message):
                yield from _attachments(sub, body_parts, counter)
        return
    if id(part) in body_parts:
        return
    counter[0] += 1
    disposition = (part.get_content_disposition() or "").lower()
    content_id = part.get("Content-ID")
    content_id = str(content_id).strip().strip("<>") if content_id else None
    # Exchange shows parts referenced by Content-ID (and not marked attachment) as inline.
    is_inline = disposition != "attachment" and bool(content_id)
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = str(part.get_payload() or "").encode("utf-8", "replace")
    name = part.get_filename() or f"ATT{counter[0]:05d}{_extension(ctype)}"
    yield ParsedAttachment("file", name, ctype, payload, is_inline=is_inline, content_id=content_id)


def _extension(ctype: str) -> str:
    return {
        "text/plain": ".txt",
        "text/html": ".htm",
        "text/calendar": ".ics",
        "application/pdf": ".pdf",
        "image/png": ".png",
        "image/jpeg": ".jpg",
        "image/gif": ".gif",
    }.get(ctype, ".bin")


def _as_bytes(msg: Message) -> bytes:
    try:
        return msg.as_bytes(policy=policy.SMTP)
    except Exception:
        return msg.as_string().encode("utf-8", "replace")


def _format_address(recipient: Recipient) -> str:
    name = recipient.get("name") or ""
    address = recipient.get("address") or ""
    try:
        if "@" in address:
            local, _, domain = address.partition("@")
            return str(Address(display_name=name if name != address else "", username=local, domain=domain))
    except (ValueError, IndexError):
        pass
    return f"{name} <{address}>" if name else address


@dataclass
class OutgoingAttachment:
    name: str
    content_type: str
    content: bytes
    is_inline: bool = False
    content_id: str | None = None


def build_mime(
    *,
    subject: str,
    body: str,
    body_type: str,
    from_: Recipient | None,
    sender: Recipient | None = None,
    to: list[Recipient] | None = None,
    cc: list[Recipient] | None = None,
    bcc: list[Recipient] | None = None,
    reply_to: list[Recipient] | None = None,
    message_id: str | None = None,
    date: datetime | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
    attachments: list[OutgoingAttachment] | None = None,
    include_bcc: bool = False,
) -> bytes:
    """Compose RFC 822 for messages created through Graph (sendMail, drafts)."""
    msg = EmailMessage(policy=policy.SMTP)
    if from_:
        msg["From"] = _format_address(from_)
    if sender and from_ and sender.get("address", "").lower() != from_.get("address", "").lower():
        msg["Sender"] = _format_address(sender)
    if to:
        msg["To"] = ", ".join(_format_address(r) for r in to)
    if cc:
        msg["Cc"] = ", ".join(_format_address(r) for r in cc)
    if bcc and include_bcc:
        msg["Bcc"] = ", ".join(_format_address(r) for r in bcc)
    if reply_to:
        msg["Reply-To"] = ", ".join(_format_address(r) for r in reply_to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="m365sim.prod.outlook.com")
    for name, value in extra_headers or []:
        msg[name] = value
    if body_type == "html":
        msg.set_content(html_to_text(body) or " ")
        msg.add_alternative(body, subtype="html")
    else:
        msg.set_content(body or "")
    for att in attachments or []:
        maintype, _, subtype = (att.content_type or "application/octet-stream").partition("/")
        msg.add_attachment(
            att.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=att.name,
            disposition="inline" if att.is_inline else "attachment",
            cid=f"<{att.content_id}>" if att.content_id else None,
        )
    return msg.as_bytes()


def rewrite_mime(
    raw: bytes,
    *,
    subject: str | None = None,
    body: tuple[str, str] | None = None,
    recipients: dict[str, list[Recipient] | Recipient | None] | None = None,
) -> bytes:
    """Reflect PATCHed properties in the MIME, keeping the rest of the structure."""
    msg = parse_message_bytes(raw)
    if subject is not None:
        _replace_header(msg, "Subject", subject)
    for header, value in (recipients or {}).items():
        if isinstance(value, dict):
            _replace_header(msg, header, _format_address(value))
        elif value:
            _replace_header(msg, header, ", ".join(_format_address(r) for r in value))
        else:
            del msg[header]
    if body is not None:
        content, content_type = body
        html_part = _get_body(msg, ("html",))
        plain_part = _get_body(msg, ("plain",))
        text = html_to_text(content) if content_type == "html" else content
        if content_type == "html":
            if html_part is not None:
                _set_text(html_part, content, "html")
                if plain_part is not None and plain_part is not html_part:
                    _set_text(plain_part, text, "plain")
            elif plain_part is not None:
                _set_text(plain_part, content, "html")
            else:
                _set_text(msg, content, "html")
        else:
            target = plain_part or html_part
            if target is None:
                _set_text(msg, content, "plain")
            else:
                _set_text(target, content, "plain")
                if html_part is not None and html_part is not target:
                    _set_text(html_part, text_to_html(content), "html")
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # set_content adds it to sub-parts
    return msg.as_bytes()


def change_attachments(
    raw: bytes, *, remove: str | None = None, add: tuple[str, str, bytes] | None = None
) -> bytes:
    """Drop the first attachment part named ``remove`` and/or append ``add`` (name, type, bytes)."""
    msg = parse_message_bytes(raw)
    if remove is not None:
        for part in msg.walk():
            if not part.is_multipart():
                continue
            children = part.get_payload()
            if not isinstance(children, list):
                continue
            match = next((c for c in children if isinstance(c, Message) and c.get_filename() == remove), None)
            if match is not None:
                children.remove(match)
                break
    if add is not None and isinstance(msg, EmailMessage):
        name, content_type, content = add
        maintype, _, subtype = content_type.partition("/")
        if msg.get_content_maintype() != "multipart" or msg.get_content_subtype() != "mixed":
            msg.make_mixed()
        msg.add_attachment(
            content, maintype=maintype or "application", subtype=subtype or "octet-stream", filename=name
        )
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]
    return msg.as_bytes()


def regenerate(raw: bytes, seed: str) -> bytes:
    """MIME as Exchange's content conversion would produce it: same headers and content,
    different multipart boundaries and re-encoded body text."""
    msg = parse_message_bytes(raw)
    token = re.sub(r"[^A-Za-z0-9]", "", seed)[:24]
    for index, part in enumerate(msg.walk()):
        if part.is_multipart():
            if part.get_content_maintype() == "multipart":
                part.set_boundary(f"_{index:03d}_{token}_")
            continue
        if part.get_content_maintype() == "text" and part.get_content_disposition() != "attachment":
            try:
                _set_text(part, _decode_text(part), part.get_content_subtype())
            except Exception:  # noqa: S112 - leave an undecodable part as it was
                continue
            if part is not msg:
                del part["MIME-Version"]
    return msg.as_bytes()


def _replace_header(msg: Message, name: str, value: str) -> None:
    # Keep the header where it was, as a content conversion would.
    if name in msg:
        msg.replace_header(name, value)
    else:
        msg[name] = value


def _set_text(part: Message, content: str, subtype: str) -> None:
    # set_content replaces Content-Type/CTE but keeps other headers of the part.
    disposition = part.get("Content-Disposition")
    part.set_content(content, subtype=subtype)  # type: ignore[attr-defined]
    if disposition and not part.get("Content-Disposition"):
        part["Content-Disposition"] = disposition


def sent_datetime(parsed: ParsedMail, fallback: datetime) -> datetime:
    return (parsed.sent or fallback).replace(microsecond=0)
