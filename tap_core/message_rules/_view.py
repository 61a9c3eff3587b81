"""What every message rule reads: the message, its web links, and values derived from them once.

The phrase lists (lure phrases, calls to action, role words) and the image hosts are data files
of ``tap_core/data/urls/``; the rules themselves are ``tap_core/data/message/message_rules.toml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property

from tap_core.data import data_lines
from tap_core.detect.rules import Rule, family_rules
from tap_core.lookalike import brand_mentions, brand_owning
from tap_core.model.decision import UrlResult
from tap_core.model.message import Message
from tap_core.parsing.domains import registered_domain, url_host
from tap_core.parsing.html import parse_html
from tap_core.urls.model import FoundUrl

SPACE_RE = re.compile(r"\s+")
NON_WORD_RE = re.compile(r"[^\w]+")
#: Bytes of body text looked at for lure phrases: the lure is at the top.
MAX_TEXT_CHARS = 20_000
#: A plain-text alternative shorter than this is read together with the HTML body.
_STUB_TEXT_CHARS = 500
#: Where a URL is an image the message loads (CSS backgrounds are images too).
IMAGE_CONTEXTS = frozenset({"img_src", "img_in_link", "css_url"})
#: Where a URL is a link a person clicks.
CLICK_CONTEXTS = ("a_href", "area_href")


@cache
def rules() -> dict[str, Rule]:
    return family_rules("message", "message_rules.toml")


@cache
def phrases(name: str) -> tuple[str, ...]:
    """A phrase list, longest first (the most specific phrase is the one reported), then in
    alphabetical order, so that the phrase reported does not depend on hash order."""
    return tuple(sorted(set(data_lines("urls", name)), key=lambda p: (-len(p), p)))


def site(host_or_address: str) -> str:
    host = host_or_address.rpartition("@")[2].lower()
    return registered_domain(host) or host


def web_links(found: list[FoundUrl], results: dict[str, UrlResult]) -> list[FoundUrl]:
    """The http(s) links found, less those the policy excludes."""
    return [f for f in found if f.url.startswith(("http://", "https://"))
            and not (results.get(f.url) and results[f.url].excluded_by)]


def distinct_phrases(text: str, phrases: tuple[str, ...]) -> list[str]:
    """The phrases found in ``text``, longest first, skipping ones inside a longer hit."""
    found: list[str] = []
    for phrase in phrases:
        if phrase in text and not any(phrase in longer for longer in found):
            found.append(phrase)
    return found


def body_text(message: Message) -> str:
    # The sender's display name is read first, as the reader reads it ("Herzlichen Glückwunsch").
    name = message.from_address.name if message.from_address else ""
    parts = [name, message.subject]
    if message.text_body:
        parts.append(message.text_body[:MAX_TEXT_CHARS])
    # A short plain-text part is often a stub ("please use an HTML mail client"): the reader
    # sees the HTML one.
    if message.html_body and len(message.text_body or "") < _STUB_TEXT_CHARS:
        try:
            tree = parse_html(message.html_body[: MAX_TEXT_CHARS * 10]).tree
            node = tree.body or tree.root
            parts.append((node.text(separator=" ") if node is not None else "")[:MAX_TEXT_CHARS])
        except Exception:  # noqa: S110 - text for phrase matching only; the URLs were already read
            pass
    return SPACE_RE.sub(" ", " ".join(parts)).lower()


@dataclass
class MessageView:
    """One message as the link rules see it; derived values are computed on first use."""

    message: Message
    web: list[FoundUrl]
    recipient: str = ""

    @cached_property
    def sender_name(self) -> str:
        sender = self.message.from_address
        return sender.name if sender else ""

    @cached_property
    def sender_address(self) -> str:
        sender = self.message.from_address
        return sender.address if sender else ""

    @cached_property
    def sender_site(self) -> str:
        return site(self.sender_address) if self.sender_address else ""

    @cached_property
    def sender_brand(self) -> str | None:
        return brand_owning(self.sender_site) if self.sender_site else None

    @cached_property
    def link_sites(self) -> set[str]:
        return {site(url_host(f.url)) for f in self.web if f.context != "img_in_link"}

    @cached_property
    def text(self) -> str:
        """Sender name, subject and the top of the body, spaces collapsed, lowercased."""
        return body_text(self.message)

    @cached_property
    def headline(self) -> str:
        return SPACE_RE.sub(" ", f"{self.sender_name} {self.message.subject}").lower()

    @cached_property
    def lures(self) -> list[str]:
        """The distinct lure phrases of :attr:`text`, longest first."""
        return distinct_phrases(self.text, phrases("lure_phrases.txt"))

    @cached_property
    def brand_mentions(self) -> list[tuple[str, str, bool]]:
        """(brand, where, plainly spelt) of the brands the sender name, then the subject, name."""
        return [(brand, where, plain)
                for where, value in (("sender name", self.sender_name), ("subject", self.message.subject))
                for brand, plain in (brand_mentions(value) if value else ())]
