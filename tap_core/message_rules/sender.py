"""Sender rules: what the From header says about who writes, and how it says it."""

from __future__ import annotations

import re

from tap_core.impersonation.freemail import is_freemail
from tap_core.message_rules._view import NON_WORD_RE, MessageView, phrases, rules, site
from tap_core.model.findings import Finding
from tap_core.urls.platforms import free_platform, platform_of

# From the start of a run of address characters only: every start inside it reached the same "@".
_ADDRESS_IN_NAME_RE = re.compile(r"(?<![\w.+-])[\w.+-]++@([\w-]+(?:\.[\w-]+)+)")
# Filler before a tracking token ("Versand ...NM623", ".....RW156"), a long run of dots, or a
# long gap; folded header lines leave 4-5 spaces, a casual "wait... what" three dots.
_PADDING_RE = re.compile(r"\s[.…_]{3,}[A-Z0-9]{2,}|[.…_]{6,}|\S\s{8,}\S")


def _unrelated_org_name(name: str, sender_site: str, link_sites: set[str]) -> str | None:
    """The display name when it reads as an organisation's (a role word, or one bare word) and no
    word of it appears in the sender's or the links' domains ("Europa Park" <x@otto.de>)."""
    words = [w for w in NON_WORD_RE.split(name.lower()) if w]
    if not words or not sender_site or "@" in name:
        return None
    roles = set(phrases("role_words.txt"))
    has_role = any(w in roles for w in words)
    if not has_role and len(words) != 1:
        return None  # "Jane Doe": a person's name says nothing about their domain
    meaningful = [w for w in words if len(w) >= 3 and w not in roles and not w.isdigit()]
    if not meaningful:
        return None
    labels = " ".join(s.replace("-", "").replace(".", " ") for s in {sender_site, *link_sites} if s)
    squeezed = "".join(meaningful)
    if any(w in labels for w in meaningful) or squeezed in labels.replace(" ", ""):
        return None
    return name.strip()[:60]


def unrelated_name(view: MessageView) -> Finding | None:
    name = _unrelated_org_name(view.sender_name, view.sender_site, view.link_sites)
    if not name:
        return None
    return rules()["sender_name_unrelated"].finding(
        f"{name} <- {view.sender_site}", name=name, domain=view.sender_site)


def malformed_header(view: MessageView) -> Finding | None:
    malformed = next((d for d in view.message.defects if d.startswith("From ")), "")
    return rules()["sender_header_malformed"].finding(malformed, defect=malformed) if malformed else None


def padded_header(view: MessageView) -> Finding | None:
    """Runs of spaces or dots inside a sender name or subject ("DPD Versand      ...NM623")."""
    for where, value in (("sender name", view.sender_name), ("subject", view.message.subject)):
        m = _PADDING_RE.search(value.strip())
        if m:
            return rules()["padded_header"].finding(m.group(0), where=where, sample=m.group(0))
    return None


def _org_name(name: str, brands: list[str]) -> bool:
    """A display name that reads as an organisation's: it names a brand (``brands``, those it
    names) or a role word."""
    if not name or "@" in name:
        return False
    roles = set(phrases("role_words.txt"))
    return bool(brands) or any(w in roles for w in NON_WORD_RE.split(name.lower()) if w)


def platform_or_freemail(view: MessageView) -> Finding | None:
    """An account on a shared platform, or an organisation's name on a free mailbox."""
    domain = view.sender_address.rpartition("@")[2]
    if not domain:
        return None
    platform = platform_of(domain)
    if platform and platform != domain:
        return rules()["sender_on_shared_platform"].finding(
            domain, "free" if free_platform(domain) else "", domain=domain, platform=platform)
    name = view.sender_name
    brand = view.sender_brand
    named = [b for b, where, _plain in view.brand_mentions if where == "sender name"]
    if is_freemail(domain) and _org_name(name, named) and not (brand and brand in named):
        # "Yahoo! News" from yahoo.com is the provider writing as itself.
        return rules()["freemail_org_sender"].finding(
            f"{name[:60]} <- {domain}", name=name[:60], domain=domain)
    return None


def address_in_name(view: MessageView) -> Finding | None:
    """A display name showing another address than the sender's ("service@bank" <x@bulk>)."""
    name = view.sender_name
    if not name or " via " in name.lower():
        return None
    m = _ADDRESS_IN_NAME_RE.search(name)
    if m and site(m.group(1).rstrip(".")) != view.sender_site:
        shown = m.group(0).rstrip(".")
        actual = view.sender_address
        return rules()["sender_name_address"].finding(f"{shown} -> {actual}", shown=shown, actual=actual)
    return None
