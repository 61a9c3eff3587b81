"""Lure rules: what the message says, and how it disguises the words it says it with."""

from __future__ import annotations

import re
import unicodedata
from itertools import pairwise

from tap_core.lookalike import brand_owning
from tap_core.message_rules._view import (
    CLICK_CONTEXTS,
    NON_WORD_RE,
    SPACE_RE,
    MessageView,
    phrases,
    rules,
    site,
)
from tap_core.model.findings import Finding
from tap_core.parsing.domains import url_host
from tap_core.urls.platforms import is_click_tracker

_TRIM_RE = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)
#: Distinct lure phrases that make a message read as a lure through and through.
_SEVERAL_LURES = 3
#: Tokens of 10+ letters and digits with mixed case and digits, or case flipping inside a word.
_TOKEN_RE = re.compile(r"(?<![\w@.])[A-Za-z0-9]{10,}(?![\w@])")
# Each piece taken whole and never split again (atomic, possessive): "(?:...|\d+)+" tried every
# split of a digit run, "0" * 28 + "x" in a subject took 93 s (exponential); same language.
_NATURAL_TOKEN_RE = re.compile(r"(?>[A-Z]?[a-z]{2,}|[A-Z]{2,}(?![a-z])|[A-Z](?=\d)|\d+|i(?=[A-Z]))++")
_SPACED_LETTERS_RE = re.compile(r"(?<!\S)(?:\w ){2,}\w(?!\S)")


def _cta(text: str) -> str | None:
    """The call-to-action phrase of a short link text ("» Adresse bestätigen «"), if any."""
    cleaned = _TRIM_RE.sub("", SPACE_RE.sub(" ", text.lower()))
    if not cleaned or len(cleaned) > 60:
        return None
    padded = " " + NON_WORD_RE.sub(" ", cleaned) + " "
    for phrase in phrases("call_to_action.txt"):
        if f" {phrase} " in padded:
            return phrase
    return None


def call_to_action(view: MessageView) -> Finding | None:
    """A call-to-action link that leads to a site unrelated to the sender."""
    for f in view.web:
        if f.link_text and f.context in CLICK_CONTEXTS:
            phrase = _cta(f.link_text)
            link_site = site(url_host(f.url))
            if phrase and link_site and link_site != view.sender_site:
                # Mail from a brand's own domain whose button leaves the brand (and is not its
                # mailing service's tracker) is what a spoofed From looks like.
                spoofed = bool(view.sender_brand) and brand_owning(link_site) != view.sender_brand and (
                    not is_click_tracker(link_site))
                return rules()["call_to_action_offsite"].finding(
                    f"{f.link_text[:60]} -> {link_site}", "brand_sender" if spoofed else "",
                    text=f.link_text[:60], host=link_site)
    return None


def lure_text(view: MessageView) -> Finding | None:
    """The lure as the headline (subject or sender name), or several distinct lures (account
    threat, deadline, reward), weigh more than one phrase somewhere in a newsletter article."""
    lures = view.lures
    if not lures:
        return None
    in_headline = any(p in view.headline for p in lures)
    variant = ("headline_" if in_headline else "") + ("several" if len(lures) >= _SEVERAL_LURES else "")
    return rules()["credential_lure_text"].finding("; ".join(lures[:4]), variant.rstrip("_"), phrase=lures[0])


def _deceptive_sample(text: str) -> str | None:
    """A word mixing Latin with look-alike letters, written in styled math letters, or broken
    up by invisible characters (zero-width, variation selectors, foreign combining marks)."""
    for word in text.split():
        scripts: set[str] = set()
        hidden = False
        for ch in word:
            if "\U0001d400" <= ch <= "\U0001d7ff":
                return word  # Mathematical Alphanumeric Symbols: 𝗪𝗲𝗹𝗰𝗼𝗺𝗲
            category = unicodedata.category(ch)
            if ch.isalpha():
                scripts.add(unicodedata.name(ch, "").split(" ", 1)[0])
            elif category == "Cf" or (category == "Mn" and not ("\u0300" <= ch <= "\u036f")):
                hidden = True  # U+200B, U+FE0F, U+E0100..., Syriac marks over Latin letters
        if "LATIN" in scripts and (hidden or scripts & {"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE"}):
            return word
    return None


def _spaced_letters(text: str) -> str | None:
    """Letters spaced out to dodge word filters ("D P D Versand", "A D A C")."""
    m = _SPACED_LETTERS_RE.search(text)
    return m.group(0) if m and any(c.isalpha() for c in m.group(0)) else None


def deceptive_field(view: MessageView) -> tuple[str, str] | None:
    """(where, sample) of the first of subject and sender name that disguises its words."""
    for where, value in (("subject", view.message.subject), ("sender name", view.sender_name)):
        sample = _deceptive_sample(value) or _spaced_letters(value)
        if sample:
            return where, sample
    return None


def deceptive_text(view: MessageView) -> Finding | None:
    found = deceptive_field(view)
    if not found:
        return None
    where, sample = found
    return rules()["deceptive_unicode_text"].finding(sample, where=where, sample=sample)


def _random_token(subject: str) -> str | None:
    """A hash-buster: a random mix of upper, lower case and digits ("KtSaGYsPn9djSGR")."""
    for token in _TOKEN_RE.findall(subject):
        if _NATURAL_TOKEN_RE.fullmatch(token):
            continue  # MacBookPro, ORD12345AB, iPhone15Pro: words, capitals and numbers
        upper = sum(c.isupper() for c in token)
        lower = sum(c.islower() for c in token)
        flips = sum(
            1 for a, b in pairwise(token) if a.isalpha() and b.isalpha() and a.isupper() != b.isupper()
        )
        # Real words and codes have at most a couple of case changes (iPhone, McDonald, ORD12345AB).
        if upper >= 2 and lower >= 2 and flips >= 4:
            return token
    return None


def random_token(view: MessageView) -> Finding | None:
    token = _random_token(view.message.subject)
    return rules()["random_token_subject"].finding(token, sample=token) if token else None
