"""Build a :class:`~tap_core.model.message.Message` from RFC 822 / MIME bytes.

Every charset and transfer encoding the standard library knows, nested multiparts,
``message/rfc822`` parts (parsed recursively up to a depth limit) and TNEF (``winmail.dat``)
through tnefparse. Malformed input gives a message with ``defects`` recorded, never an exception.
"""

from __future__ import annotations

import codecs
import email
import email.policy
import functools
import re
from datetime import datetime
from email import _encoded_words as _ew  # type: ignore[attr-defined]  # the registry's decoder
from email.feedparser import BytesFeedParser
from email.header import decode_header, make_header
from email.headerregistry import Address as _HeaderAddress
from email.message import Message as _StdMessage
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tap_core.model.message import Address, Attachment, LimitReached, Message


class MimeLimits(BaseModel):
    """Bounds on what one message may make the parser do: the policy's ``limits`` section.

    The parser stops at each limit, so its work stays linear in the message's size; what lies
    beyond is not analysed and the message records a :class:`LimitReached` (held by the
    pipeline with the reason). The defaults are far above any legitimate mail of the corpus
    (at most 6 levels, 17 parts, 536 header lines, 49 kB of header, 124 encoded words).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Bytes of one message read; the rest is cut (a defect).
    max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    #: MIME parts (every multipart, leaf and attached message counts one) parsed.
    max_parts: int = Field(default=1000, ge=1, le=100_000)
    #: Nesting of multiparts and attached messages (the message itself is level 0).
    max_depth: int = Field(default=24, ge=1, le=200)
    #: Bytes of one attachment kept; longer ones are cut and marked truncated.
    max_attachment_bytes: int = Field(default=40 * 1024 * 1024, ge=1)
    #: Physical lines of one header block (the message's or a part's).
    max_header_lines: int = Field(default=5000, ge=10, le=1_000_000)
    #: Bytes of one header block.
    max_header_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    #: Encoded words (RFC 2047) decoded in one header; decoding many is superlinear.
    max_encoded_words: int = Field(default=1000, ge=1, le=100_000)
    #: Longer headers skip the standard library's structured parser, whose time grows with the
    #: square of the length (a 100 kB From of quotes took minutes): they are decoded leniently
    #: (encoded words, then the tolerant address parser) and the defect is recorded.
    max_header_chars: int = Field(default=16_384, ge=256)


DEFAULT_LIMITS = MimeLimits()

# Charsets that mail claims but Python does not know under that name.
_CHARSET_ALIASES = {
    "x-unknown": "latin-1",
    "unknown-8bit": "latin-1",
    "x-user-defined": "latin-1",
    "ansi_x3.4-1968": "ascii",
    "windows-874": "cp874",
    "ks_c_5601-1987": "euc_kr",
    "x-sjis": "shift_jis",
    "gb2312": "gb18030",  # a superset decodes what mislabelled senders send
    "gbk": "gb18030",
    "utf8": "utf-8",
    "default": "latin-1",
    "iso-8859-8-i": "iso-8859-8",
}

_TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
_ENCRYPTED_TYPES = {"application/pkcs7-mime", "application/x-pkcs7-mime", "multipart/encrypted"}
_SIGNED_TYPES = {"multipart/signed"}


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode ``data`` in ``charset``; returns (text, defect or None). Never raises."""
    name = (charset or "").strip().strip('"').lower() or "utf-8"
    name = _CHARSET_ALIASES.get(name, name)
    defect = None
    try:
        codecs.lookup(name)
    except LookupError:
        defect = f"unknown charset {charset!r}, decoded as UTF-8 with replacement"
        name = "utf-8"
    try:
        return data.decode(name), defect
    except UnicodeDecodeError:
        if name in ("us-ascii", "ascii", "utf-8"):
            # Undeclared 8-bit text is usually Latin-1 / Windows-1252 in old mail.
            try:
                return data.decode("utf-8"), defect
            except UnicodeDecodeError:
                return data.decode("cp1252", errors="replace"), defect
        return data.decode(name, errors="replace"), f"invalid {name} bytes replaced"


def clean_text(value: str) -> str:
    """Text safe to store and encode: undecodable header bytes (which the standard library keeps
    as lone surrogates) become U+FFFD, as they would in a mail client."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace").encode(
            "utf-8", "replace").decode("utf-8")


def _raw_item(msg: _StdMessage, name: str) -> tuple[str, Any] | None:
    """The first header named ``name`` (any case), as ``msg.get`` finds it: (its name, raw value)."""
    lowered = name.lower()
    for key, raw in msg.raw_items():
        if key.lower() == lowered:
            return key, raw
    return None


def _lenient(raw: str) -> str:
    """A header value decoded without the structured parser: encoded words only."""
    try:
        return str(make_header(decode_header(raw)))
    except Exception:  # broken encoded words: the raw text is what a client would show
        return raw


def _over_limits(raw: str, limits: MimeLimits) -> str | None:
    """The part of a raw header value to decode leniently, or None when the structured parser may
    read it whole: over ``max_encoded_words`` only the words within the limit are kept (decoding
    more is superlinear); over ``max_header_chars`` the value is read leniently."""
    if raw.count("=?") > limits.max_encoded_words:
        cut = -1
        for _ in range(limits.max_encoded_words + 1):
            cut = raw.find("=?", cut + 1)
        return raw[:cut]
    return raw if len(raw) > limits.max_header_chars else None


#: The header objects one message's build already had the registry parse, by (name, raw value).
Parsed = dict[tuple[str, str], Any]


def _fetch(msg: _StdMessage, key: str, raw: Any, parsed: Parsed | None) -> Any:
    """``msg.policy.header_fetch_parse(key, raw)``, once per message for each (key, raw): the
    header list and the address and date readers ask for the same From, To and Cc, and the
    policy's own cache keeps short values only (a mailing list's Cc of 3 kB was parsed twice)."""
    if parsed is None or not isinstance(raw, str):
        return msg.policy.header_fetch_parse(key, raw)
    header = parsed.get((key, raw))
    if header is None:
        header = parsed[(key, raw)] = msg.policy.header_fetch_parse(key, raw)
    return header


def _safe_header(msg: _StdMessage, name: str, limits: MimeLimits = DEFAULT_LIMITS,
                 parsed: Parsed | None = None) -> str:
    item = _raw_item(msg, name)
    if item is None:
        return ""
    key, raw = item
    bounded = _over_limits(str(raw), limits)
    if bounded is not None:
        return clean_text(_lenient(bounded))
    try:
        value = _fetch(msg, key, raw, parsed)
    except Exception:  # malformed header: the registry's parser raised
        return clean_text(str(raw))
    return "" if value is None else clean_text(str(value))


def _addresses(msg: _StdMessage, name: str, defects: list[str],
               limits: MimeLimits = DEFAULT_LIMITS, parsed: Parsed | None = None) -> list[Address]:
    item = _raw_item(msg, name)
    if item is None:
        return []
    key, raw = item
    bounded = _over_limits(str(raw), limits)
    if bounded is not None:
        return [Address(name=clean_text(display).strip(), address=clean_text(addr.lower()))
                for display, addr in getaddresses([_lenient(bounded)]) if display or addr]
    try:
        header = _fetch(msg, key, raw, parsed)
    except Exception:
        header = None
        defects.append(f"malformed {name} header")
    if header is None:
        return []
    out: list[Address] = []
    parsed_ok = False
    addresses = getattr(header, "addresses", None)
    if addresses is not None:
        try:
            for a in addresses:
                if isinstance(a, _HeaderAddress):
                    out.append(Address(name=clean_text(a.display_name or ""),
                                       address=clean_text(a.addr_spec.lower())))
            parsed_ok = bool(out)
        except Exception:
            out = []
    if not parsed_ok:
        # Fall back to the tolerant parser on the raw value.
        for display, addr in getaddresses([str(header)]):
            if display or addr:
                out.append(Address(name=clean_text(display), address=clean_text(addr.lower())))
    return [a for a in out if a.address or a.name]


_MAILBOX_RE = re.compile(r"^[^@\s\"<>%]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W_][\w-]*[^\W_]$")


def _is_mailbox(address: str) -> bool:
    """A routable address: a local part, '@', and a host name with a dot (IDNA already applied)."""
    return bool(_MAILBOX_RE.match(address))


def _sender_mailbox(entries: list[Address], defects: list[str]) -> list[Address]:
    """The From mailbox when the header is malformed on purpose, as bulk lures often do.

    ``"PayPal", "PayPal" <news@x.com>`` or ``Brand Gift, <a@x.com.>, Brand`` parse as several
    entries, most of them names; the mailbox a mail client shows is the one entry with a real
    address, named by the first name-only entry. Both defects stay recorded: a From header
    that is not one valid mailbox is itself evidence (see ``sender_header_malformed``).
    """
    if not entries:
        return entries
    if len(entries) > 1:
        defects.append(f"From header holds {len(entries)} entries")
    # A quoted or dot-terminated address ('"a@x.com"', 'a@x.com.') still names its mailbox.
    fixed = [Address(name=a.name, address=a.address.strip('"').rstrip(".")) for a in entries]
    real = [(orig, a) for orig, a in zip(entries, fixed, strict=True) if _is_mailbox(a.address)]
    if not real:
        defects.append("From address is not a valid mailbox")
        return entries
    original, chosen = real[0]
    if original.address != chosen.address:
        defects.append("From address is not a valid mailbox")
    if not chosen.name:
        names = [a.name or a.address for a in fixed if not _is_mailbox(a.address)]
        if names and names[0]:
            chosen = Address(name=names[0], address=chosen.address)
    return [chosen, *[a for a in entries if a is not original]]


def from_header_defects(value: str) -> list[str]:
    """The defects :func:`parse_eml` records for a From header, for a raw value from elsewhere
    (Graph's ``internetMessageHeaders``, whose parsed ``from`` hides them)."""
    defects: list[str] = []
    entries = [Address(name=clean_text(display), address=clean_text(addr.lower()))
               for display, addr in getaddresses([value]) if display or addr]
    _sender_mailbox(entries, defects)
    return defects


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _part_filename(part: _StdMessage) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name:
        return str(name)
    # Some senders only set the name parameter on Content-Type.
    try:
        return str(part.get_param("name") or "")
    except Exception:
        return ""


def _payload_bytes(part: _StdMessage, defects: list[str], where: str) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:
        defects.append(f"{where}: could not decode payload ({exc.__class__.__name__})")
        return b""
    if data is None:
        return b""
    if isinstance(data, str):  # pragma: no cover - the stdlib returns bytes with decode=True
        return data.encode("utf-8", "replace")
    if not isinstance(data, bytes):  # pragma: no cover - decode=True gives bytes, or None for multipart
        return b""
    for defect in getattr(part, "defects", []):
        name = type(defect).__name__
        if name in ("InvalidBase64PaddingDefect", "InvalidBase64CharactersDefect",
                    "InvalidBase64LengthDefect"):
            defects.append(f"{where}: {name}")
    return data


def _subparts(part: _StdMessage) -> list[_StdMessage]:
    """The parts inside a multipart part: the parser attaches only messages to a multipart."""
    try:
        children = part.get_payload()
    except Exception:
        return []
    if not isinstance(children, list):
        return []
    return [child for child in children if isinstance(child, _StdMessage)]


#: Header names the standard library parses into structures (addresses, dates, MIME types).
_STRUCTURED = frozenset(email.policy.default.header_factory.registry)  # type: ignore[attr-defined]

#: How the registry joins a folded value: on CR and LF only (``str.splitlines`` splits on more).
_LINESEP = re.compile(r"\n|\r")
#: The start of an RFC 2047 encoded word, ``=?charset?q?`` / ``?b?``; one is there when a ``?=``
#: follows (the registry's own test, split in two so that it stays linear on a hostile value).
_ENCODED_WORD_HEAD = re.compile(r"=\?[^?]*\?[qQbB]\?")


def _has_encoded_word(value: str) -> bool:
    head = _ENCODED_WORD_HEAD.search(value)
    return head is not None and value.find("?=", head.end()) >= 0


#: One encoded word (base64 or quoted-printable) whose text does not start with "=": its end is
#: then the first "?=", as the registry finds it.
_WORD = r"=\?[^?\s*]+\?(?:[bB]\?[A-Za-z0-9+/]+=*|[qQ]\?[^?\s=][^?\s]*)\?="
#: A value of encoded words and the blanks between them alone (Exchange's X-Microsoft-Antispam-
#: Message-Info: 50 words, 4 kB, in most mail that went through Microsoft 365).
_WORDS_ONLY = re.compile(rf"([ \t]*)((?:{_WORD}[ \t]+)*{_WORD})([ \t]*)")
_WORD_RE = re.compile(_WORD)


def _plain_unstructured(key: str, raw: object) -> str | None:
    """The value of a header the registry reads as unstructured text, when it is plain (ASCII
    without encoded words: its lines joined) or encoded words only (each decoded by the
    registry's own decoder, the blanks between them dropped), or None: what the registry would
    give, without its parser. Most headers of real mail (Received, ARC, DKIM, X-...) are such;
    the registry's parser cost a quarter of a scan on them."""
    if not isinstance(raw, str) or not raw.isascii() or key.lower() in _STRUCTURED:
        return None
    value = "".join(_LINESEP.split(raw))
    if "=?" not in value or not _has_encoded_word(value):
        return value
    words = _WORDS_ONLY.fullmatch(value)
    if words is None:
        return None
    lead, body, trail = words.groups()
    try:
        text = lead + "".join(_ew.decode(word)[0] for word in _WORD_RE.findall(body)) + trail
    except (ValueError, KeyError):  # a word the registry keeps as text (utf-16 cut in half...)
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes: the registry's replacement (utils._sanitize)
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


#: Header values up to this many characters (unfolded) are parsed once per process: the same
#: Content-Type, MIME-Version or Content-Transfer-Encoding recurs in most parts of most mail, and
#: each message reads its From, To, Date and Subject more than once (the feed parser alone reads
#: a part's Content-Type several times). A parsed header weighs about 0.6 kB per character (an
#: address list of 128 characters, 80 kB), so longer values are parsed each time and the cache
#: holds at most HEADER_CACHE_ENTRIES x 80 kB (20 MB); 128 characters keep 98 % of its hits on
#: real mail.
HEADER_CACHE_MAX_CHARS = 128
#: Parsed headers kept (least recently used dropped first).
HEADER_CACHE_ENTRIES = 256


class _CachingPolicy(EmailPolicy):
    """``email.policy.default`` whose parsed headers are reused: a header object is immutable
    and depends only on (name, value), so a cached one is the very object the registry would
    build; the feed parser alone asks for a part's Content-Type several times."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        if hasattr(value, "name"):
            return value
        value = "".join(_LINESEP.split(value))
        if len(value) > HEADER_CACHE_MAX_CHARS:
            return self.header_factory(name, value)  # type: ignore[attr-defined, no-any-return]
        return _parsed_header(name, value)


_POLICY = _CachingPolicy()


@functools.lru_cache(maxsize=HEADER_CACHE_ENTRIES)
def _parsed_header(name: str, value: str) -> str:
    return _POLICY.header_factory(name, value)  # type: ignore[attr-defined, no-any-return]


class _Stop(Exception):
    """The part limit was reached: parsing stops where it is."""


class _Budget:
    """What one message (its attached messages included) may still make the parser do."""

    def __init__(self, limits: MimeLimits) -> None:
        self.limits = limits
        self.parts = 0
        self.reached: list[LimitReached] = []
        #: Parts whose content was not parsed (a container past the depth limit), by id.
        self.unread: set[int] = set()

    def reach(self, name: str, limit: int, where: str) -> None:
        if not any(r.name == name for r in self.reached):  # one of each is enough to hold
            self.reached.append(LimitReached(name, limit, where))


class _BoundedParser(BytesFeedParser):
    """The standard library's feed parser, stopped at the limits: past ``max_parts`` it stops,
    a container at ``max_depth`` is read as opaque text (its recursion is where a deep message
    ran out of stack), header blocks are cut at ``max_header_lines`` / ``max_header_bytes``.
    Every step is linear in the input. The hooks are the feed parser's own (stable since 3.3)."""

    def __init__(self, budget: _Budget, base_depth: int = 0) -> None:
        super().__init__(policy=_POLICY)
        self.budget = budget
        self.base_depth = base_depth
        self.root: _StdMessage | None = None

    def _new_message(self) -> None:
        budget = self.budget
        budget.parts += 1
        if budget.parts > budget.limits.max_parts:
            budget.reach("limit_mime_parts", budget.limits.max_parts, "")
            raise _Stop
        super()._new_message()  # type: ignore[misc]
        if self.root is None:
            self.root = self._cur  # type: ignore[attr-defined]

    def _parse_headers(self, lines: list[str]) -> None:
        limits, budget = self.budget.limits, self.budget
        depth = self.base_depth + len(self._msgstack) - 1  # type: ignore[attr-defined]
        where = f"level {depth}" if depth else "message"
        if len(lines) > limits.max_header_lines:
            budget.reach("limit_header_lines", limits.max_header_lines, where)
            lines = lines[: limits.max_header_lines]
        size = 0
        for i, line in enumerate(lines):
            size += len(line)
            if size > limits.max_header_bytes:
                budget.reach("limit_header_bytes", limits.max_header_bytes, where)
                lines = lines[:i]
                break
        super()._parse_headers(lines)  # type: ignore[misc]
        cur: _StdMessage = self._cur  # type: ignore[attr-defined]
        if depth >= limits.max_depth and cur.get_content_maintype() in ("multipart", "message"):
            # Read the container's content as text up to its parent's boundary, unparsed.
            budget.reach("limit_mime_depth", limits.max_depth, where)
            budget.unread.add(id(cur))
            del cur["content-type"]
            cur.set_default_type("text/plain")


def _parse(data: bytes, budget: _Budget, base_depth: int = 0) -> _StdMessage:
    """The message tree of ``data`` within ``budget`` (what was parsed before a stop)."""
    parser = _BoundedParser(budget, base_depth)
    try:
        parser.feed(data)
        msg = parser.close()
    except _Stop:
        msg = parser.root if parser.root is not None else _StdMessage(policy=_POLICY)
    return msg


class _Walker:
    def __init__(self, source: str, limits: MimeLimits, budget: _Budget) -> None:
        self.source = source
        self.limits = limits
        self.budget = budget

    def build(self, msg: _StdMessage, depth: int, source: str, level: int = 0) -> Message:
        """The message of ``msg``: ``depth`` counts attached messages, ``level`` MIME nesting."""
        defects: list[str] = []
        headers: list[tuple[str, str]] = []
        parsed: Parsed = {}
        limits = self.limits
        # Keep the order of appearance: iterate the raw items, decode each tolerantly.
        limit = limits.max_header_chars
        from_count = 0
        for key, raw in msg.raw_items():
            from_count += key.lower() == "from"
            bounded = _over_limits(str(raw), limits)
            if bounded is not None:
                value = _lenient(bounded)
                if len(bounded) < len(raw):
                    self.budget.reach("limit_encoded_words", limits.max_encoded_words, key)
                else:
                    defects.append(f"{key} header over {limit} characters: read leniently")
            elif (plain := _plain_unstructured(key, raw)) is not None:
                value = plain  # what the registry would make of it, 100x faster
            else:
                try:
                    value = str(_fetch(msg, key, raw, parsed))
                except Exception:
                    value = str(raw)
                    defects.append(f"malformed {key} header")
            headers.append((clean_text(key), clean_text(value)))

        from_list = _sender_mailbox(_addresses(msg, "From", defects, limits, parsed), defects)
        if from_count > 1:
            defects.append("From header appears more than once")
        sender_list = _addresses(msg, "Sender", defects, limits, parsed)
        out = Message(
            source=source,
            subject=_safe_header(msg, "Subject", limits, parsed),
            internet_message_id=_safe_header(msg, "Message-ID", limits, parsed).strip(),
            from_address=from_list[0] if from_list else None,
            sender=sender_list[0] if sender_list else (from_list[0] if from_list else None),
            reply_to=_addresses(msg, "Reply-To", defects, limits, parsed),
            to=_addresses(msg, "To", defects, limits, parsed),
            cc=_addresses(msg, "Cc", defects, limits, parsed),
            bcc=_addresses(msg, "Bcc", defects, limits, parsed),
            return_path=_safe_header(msg, "Return-Path", limits, parsed).strip().strip("<>").lower(),
            headers=headers,
            sent_at=_date(_safe_header(msg, "Date", limits, parsed)),
            defects=defects,
        )
        for defect in getattr(msg, "defects", []):
            defects.append(type(defect).__name__)
        self._walk(msg, out, depth, "", level)
        return out

    def _walk(self, part: _StdMessage, out: Message, depth: int, path: str, level: int) -> None:
        where = path or "root"
        if id(part) in self.budget.unread:
            out.defects.append(f"{where}: nested deeper than {self.limits.max_depth} levels; not parsed")
            return
        ctype = part.get_content_type().lower()
        if ctype in _ENCRYPTED_TYPES:
            out.is_encrypted = True
        if ctype in _SIGNED_TYPES:
            out.is_signed = True
        if part.is_multipart():
            children = _subparts(part)
            if ctype == "message/rfc822" or ctype.startswith("message/"):
                for child in children:
                    self._attached_message(child, out, depth, where, level + 1)
                return
            for i, child in enumerate(children):
                self._walk(child, out, depth, f"{path}.{i + 1}" if path else str(i + 1), level + 1)
            return
        if ctype.startswith("multipart/"):
            return  # a multipart the parser stopped in (part limit) before its first part
        if ctype == "message/rfc822":
            # A non-multipart container: the stdlib could not parse the inner message.
            data = _payload_bytes(part, out.defects, where)
            if data:
                self._attached_message(_parse(data, self.budget, level + 1), out, depth, where, level + 1)
            return

        filename = _part_filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        data = _payload_bytes(part, out.defects, where)
        is_body_text = ctype in ("text/plain", "text/html") and not filename and disposition != "attachment"
        if is_body_text:
            text, defect = decode_bytes(data, part.get_content_charset())
            if defect:
                out.defects.append(f"{where}: {defect}")
            if ctype == "text/html":
                out.html_body = text if out.html_body is None else out.html_body + "\n" + text
            else:
                out.text_body = text if out.text_body is None else out.text_body + "\n" + text
            return
        if ctype in _TNEF_TYPES or filename.lower() == "winmail.dat":
            if self._tnef(data, out, where):
                return
        truncated = len(data) > self.limits.max_attachment_bytes
        if truncated:
            out.defects.append(f"{where}: attachment over {self.limits.max_attachment_bytes} bytes cut")
        out.attachments.append(
            Attachment(
                name=filename or f"part-{where}",
                content_type=ctype,
                data=data[: self.limits.max_attachment_bytes],
                content_id=_safe_header(part, "Content-ID", self.limits).strip().strip("<>"),
                is_inline=disposition == "inline",
                declared_size=len(data),
                truncated=truncated,
            )
        )

    def _attached_message(self, inner: _StdMessage, out: Message, depth: int, where: str, level: int) -> None:
        try:
            nested = self.build(inner, depth + 1, f"{out.source}#{where}", level)
        except Exception as exc:  # the stdlib can still trip on pathological input
            out.defects.append(f"{where}: nested message unreadable ({exc.__class__.__name__})")
            self.budget.reach("mime_unparseable", 0, f"{where}: {exc.__class__.__name__}")
            return
        out.attached_messages.append(nested)

    def _tnef(self, data: bytes, out: Message, where: str) -> bool:
        try:
            import tnefparse

            tnef = tnefparse.TNEF(data)
        except Exception as exc:
            out.defects.append(f"{where}: TNEF unreadable ({exc.__class__.__name__})")
            return False
        html = getattr(tnef, "htmlbody", None)
        body = getattr(tnef, "body", None)
        if html and out.html_body is None:
            out.html_body = html.decode("utf-8", "replace") if isinstance(html, bytes) else str(html)
        if body and out.text_body is None:
            out.text_body = body.decode("cp1252", "replace") if isinstance(body, bytes) else str(body)
        for att in getattr(tnef, "attachments", []):
            try:
                name = att.long_filename() or att.name or "tnef-attachment"
            except Exception:
                name = getattr(att, "name", "") or "tnef-attachment"
            if isinstance(name, bytes):
                name = name.decode("cp1252", "replace")
            payload = att.data if isinstance(att.data, bytes) else b""
            out.attachments.append(
                Attachment(name=str(name).rstrip("\x00"), content_type="application/octet-stream",
                           data=payload[: self.limits.max_attachment_bytes],
                           declared_size=len(payload))
            )
        return True


_HEADER_START = re.compile(rb"^(?:From |[!-9;-~]+:)")


def looks_like_rfc822(head: bytes) -> bool:
    """Cheap sniff: does this start like a mail message (a header line or an mbox From line)?"""
    head = head.lstrip(b"\r\n")
    return bool(_HEADER_START.match(head[:200]))


#: A "From " line after a blank line starts the next message (mboxrd quotes others as ">From").
_MBOX_SEPARATOR = re.compile(rb"\r?\n\r?\n(?=From [^\r\n]*\r?\n)")


def split_mbox(data: bytes, *, max_messages: int = 100_000) -> list[bytes]:
    """The messages of an mbox file (``From `` separator lines), or ``[data]`` when it is one.

    ``>From`` quoting inside bodies is left as it is: it changes no header and no link.
    """
    if not data.startswith(b"From "):
        return [data]
    parts = [p for p in _MBOX_SEPARATOR.split(data) if p.strip()]
    return parts[:max_messages]


def parse_eml(data: bytes, source: str = "", limits: MimeLimits = DEFAULT_LIMITS) -> Message:
    """Parse an RFC 822 message within ``limits``. Never raises: problems are recorded in
    ``defects``, limits reached (and a message that could not be parsed whole) in
    ``limits_reached`` of the top message, which the pipeline holds."""
    defects: list[str] = []
    if len(data) > limits.max_bytes:
        defects.append(f"message over {limits.max_bytes} bytes; the rest was not read")
        data = data[: limits.max_bytes]
    if data.startswith(b"From ") and b"\n" in data:
        # mbox "From " line: not a header; drop it so the first header is read.
        data = data.split(b"\n", 1)[1]
    budget = _Budget(limits)
    try:
        msg = _parse(data, budget)
        result = _Walker(source, limits, budget).build(msg, 0, source)
    except Exception as exc:
        # Last resort: keep something the pipelines can still scan, and hold it for the rest.
        text, _ = decode_bytes(data, "utf-8")
        result = Message(source=source, text_body=text)
        result.defects.append(f"unparseable message ({exc.__class__.__name__}: {exc})")
        budget.reach("mime_unparseable", 0, exc.__class__.__name__)
    result.defects[:0] = defects
    result.limits_reached[:0] = budget.reached
    if not result.headers:
        result.defects.append("no header fields found")
    return result
