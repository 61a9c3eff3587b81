"""Message-level URL Protect: what the message around the links says about them.

A link on an unknown site is rarely damning alone; the same link behind "Verify now" in a
message that claims to be PayPal but is not sent by PayPal is. These rules (data in
``message_rules.toml``) add named findings that raise the message's URL score; they never make
a message MALICIOUS on their own.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from functools import cache
from itertools import pairwise

from tap_core.data import data_lines
from tap_core.detect.rules import Rule, family_rules
from tap_core.impersonation.freemail import is_freemail
from tap_core.lookalike import brand_mentions, brand_owning, brands_named
from tap_core.model.decision import UrlResult
from tap_core.model.findings import Finding
from tap_core.model.message import Message
from tap_core.parsing.domains import registered_domain
from tap_core.parsing.html import parse_html
from tap_core.urls.model import FoundUrl
from tap_core.urls.platforms import free_platform, is_click_tracker, platform_of

_SPACE_RE = re.compile(r"\s+")
_TRIM_RE = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)
#: Bytes of body text looked at for lure phrases: the lure is at the top.
_MAX_TEXT_CHARS = 20_000
#: A plain-text alternative shorter than this is read together with the HTML body.
_STUB_TEXT_CHARS = 500


@cache
def _rules() -> dict[str, Rule]:
    return family_rules("message", "message_rules.toml")


@cache
def _phrases(name: str) -> tuple[str, ...]:
    """A phrase list, longest first (the most specific phrase is the one reported)."""
    return tuple(sorted(set(data_lines("urls", name)), key=len, reverse=True))


def _site(host_or_address: str) -> str:
    host = host_or_address.rpartition("@")[2].lower()
    return registered_domain(host) or host


def _host(url: str) -> str:
    rest = url.partition("://")[2]
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return authority.rpartition("@")[2].split(":", 1)[0].lower()


def _body_text(message: Message) -> str:
    # The sender's display name is read first, as the reader reads it ("Herzlichen Glückwunsch").
    name = message.from_address.name if message.from_address else ""
    parts = [name, message.subject]
    if message.text_body:
        parts.append(message.text_body[:_MAX_TEXT_CHARS])
    # A short plain-text part is often a stub ("please use an HTML mail client"): the reader
    # sees the HTML one.
    if message.html_body and len(message.text_body or "") < _STUB_TEXT_CHARS:
        try:
            tree = parse_html(message.html_body[: _MAX_TEXT_CHARS * 10]).tree
            node = tree.body or tree.root
            parts.append((node.text(separator=" ") if node is not None else "")[:_MAX_TEXT_CHARS])
        except Exception:  # noqa: S110 - text for phrase matching only; the URLs were already read
            pass
    return _SPACE_RE.sub(" ", " ".join(parts)).lower()


#: Distinct lure phrases that make a message read as a lure through and through.
_SEVERAL_LURES = 3
#: Characters of body text, after the subject, where a lure names the brand it speaks for.
_BODY_OPENING_CHARS = 300


def _distinct_phrases(text: str, phrases: tuple[str, ...]) -> list[str]:
    """The phrases found in ``text``, longest first, skipping ones inside a longer hit."""
    found: list[str] = []
    for phrase in phrases:
        if phrase in text and not any(phrase in longer for longer in found):
            found.append(phrase)
    return found


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


def _cta(text: str) -> str | None:
    """The call-to-action phrase of a short link text ("» Adresse bestätigen «"), if any."""
    cleaned = _TRIM_RE.sub("", _SPACE_RE.sub(" ", text.lower()))
    if not cleaned or len(cleaned) > 60:
        return None
    padded = " " + _NON_WORD_RE.sub(" ", cleaned) + " "
    for phrase in _phrases("call_to_action.txt"):
        if f" {phrase} " in padded:
            return phrase
    return None


_NON_WORD_RE = re.compile(r"[^\w]+")
#: Tokens of 10+ letters and digits with mixed case and digits, or case flipping inside a word.
_TOKEN_RE = re.compile(r"(?<![\w@.])[A-Za-z0-9]{10,}(?![\w@])")
_NATURAL_TOKEN_RE = re.compile(r"(?:[A-Z]?[a-z]{2,}|[A-Z]{2,}(?![a-z])|[A-Z](?=\d)|\d+|i(?=[A-Z]))+")
_ADDRESS_IN_NAME_RE = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")


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
_SPACED_LETTERS_RE = re.compile(r"(?<!\S)(?:\w ){2,}\w(?!\S)")


def _spaced_letters(text: str) -> str | None:
    """Letters spaced out to dodge word filters ("D P D Versand", "A D A C")."""
    m = _SPACED_LETTERS_RE.search(text)
    return m.group(0) if m and any(c.isalpha() for c in m.group(0)) else None


def _unrelated_org_name(name: str, sender_site: str, link_sites: set[str]) -> str | None:
    """The display name when it reads as an organisation's (a role word, or one bare word) and no
    word of it appears in the sender's or the links' domains ("Europa Park" <x@otto.de>)."""
    words = [w for w in _NON_WORD_RE.split(name.lower()) if w]
    if not words or not sender_site or "@" in name:
        return None
    roles = set(_phrases("role_words.txt"))
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


# Filler before a tracking token ("Versand ...NM623", ".....RW156"), a long run of dots, or a
# long gap; folded header lines leave 4-5 spaces, a casual "wait... what" three dots.
_PADDING_RE = re.compile(r"\s[.…_]{3,}[A-Z0-9]{2,}|[.…_]{6,}|\S\s{8,}\S")
_IMAGE_CONTEXTS = frozenset({"img_src", "img_in_link", "css_url"})  # CSS backgrounds are images too


#: A first path segment that is one opaque token ("/P9fKuTJuTChpPFqlROo3/..."): mixed case and
#: digits, 16+ characters. Mailing services put such tokens in a query or under a short route
#: ("/ls/click?upn=", "/c/eJw..."); redirect scripts planted on hacked sites use the root.
_OPAQUE_ROOT_RE = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#]+/([A-Za-z0-9_=-]{16,})(?:[/?#]|$)")


def _opaque_root_token(url: str) -> str | None:
    m = _OPAQUE_ROOT_RE.match(url)
    if not m:
        return None
    token = m.group(1)
    upper = sum(c.isupper() for c in token)
    lower = sum(c.islower() for c in token)
    return token if upper >= 3 and lower >= 3 and any(c.isdigit() for c in token) else None


@cache
def _image_hosts() -> frozenset[str]:
    return frozenset(data_lines("urls", "image_hosts.txt"))


def _padding(value: str) -> str | None:
    """Runs of spaces or dots inside a sender name or subject ("DPD Versand      ...NM623")."""
    m = _PADDING_RE.search(value.strip())
    return m.group(0) if m else None


def _public_image_host(host: str) -> str | None:
    site = _site(host)
    for candidate in (host, site):
        if candidate in _image_hosts():
            return candidate
    return None


def _org_name(name: str) -> bool:
    """A display name that reads as an organisation's: it names a brand or a role word."""
    if not name or "@" in name:
        return False
    roles = set(_phrases("role_words.txt"))
    return bool(brands_named(name)) or any(w in roles for w in _NON_WORD_RE.split(name.lower()) if w)


def _base64_forms(text: str) -> set[str]:
    """The stable inner parts of ``text`` in base64 at each of the three byte alignments, as
    phishing kits carry the victim's address (``#cGhpc2hpbmdAcG90``)."""
    forms = set()
    raw = text.encode("utf-8")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii").rstrip("=")
        start = (shift * 4 + 2) // 3 + (1 if shift else 0)
        inner = encoded[start:len(encoded) - 2]
        if len(inner) >= 8:
            forms.add(inner)
    return forms


def message_findings(message: Message, found: list[FoundUrl],
                     results: dict[str, UrlResult], recipient: str = "") -> list[Finding]:
    """Findings about the message's links as a whole (see module docstring)."""
    rules = _rules()
    web = [f for f in found if f.url.startswith(("http://", "https://"))
           and not (results.get(f.url) and results[f.url].excluded_by)]
    if not web:
        return []
    out: list[Finding] = []
    sender = message.from_address
    sender_site = _site(sender.address) if sender and sender.address else ""
    link_sites = {_site(_host(f.url)) for f in web if f.context != "img_in_link"}

    # A brand named where the sender introduces itself, not sent by it, links elsewhere.
    claims: list[tuple[str, str]] = []
    disguised: list[tuple[str, str]] = []
    for where, value in (("sender name", sender.name if sender else ""), ("subject", message.subject)):
        for brand, plain in brand_mentions(value) if value else ():
            claims.append((brand, where))
            if not plain:
                disguised.append((brand, where))
    sender_brand = brand_owning(sender_site) if sender_site else None
    text = _body_text(message)
    headline = _SPACE_RE.sub(" ", f"{sender.name if sender else ''} {message.subject}").lower()
    lures = _distinct_phrases(text, _phrases("lure_phrases.txt"))
    if lures and not claims:
        # A lure that names its brand only at the top of the body ("Google Cloud" over a
        # "your payment method is no longer valid" notice) claims it as much.
        opening = text[len(headline):][:_BODY_OPENING_CHARS]
        claims += [(b, "body") for b in brands_named(opening)]
    for brand, where in claims:
        if sender_brand == brand:
            continue
        if link_sites and all(brand_owning(s) == brand for s in link_sites):
            continue
        out.append(rules["brand_claim_mismatch"].finding(
            f"{brand} in {where}", where if where in ("subject", "body") else "", brand=brand, where=where))
        break

    if sender_brand:
        for f in web:
            host = _host(f.url)
            platform = free_platform(host) if f.context not in _IMAGE_CONTEXTS else None
            if platform and brand_owning(_site(host)) != sender_brand:
                out.append(rules["brand_mail_free_hosting"].finding(
                    f"{sender_brand} -> {host}", brand=sender_brand, host=host))
                break

    for f in web:
        if f.link_text and f.context in ("a_href", "area_href"):
            phrase = _cta(f.link_text)
            site = _site(_host(f.url))
            if phrase and site and site != sender_site:
                # Mail from a brand's own domain whose button leaves the brand (and is not its
                # mailing service's tracker) is what a spoofed From looks like.
                spoofed = bool(sender_brand) and brand_owning(site) != sender_brand and (
                    not is_click_tracker(site))
                out.append(rules["call_to_action_offsite"].finding(
                    f"{f.link_text[:60]} -> {site}", "brand_sender" if spoofed else "",
                    text=f.link_text[:60], host=site))
                break

    if lures:
        # The lure as the headline (subject or sender name), or several distinct lures (account
        # threat, deadline, reward), rather than one phrase somewhere in a newsletter article.
        in_headline = any(p in headline for p in lures)
        variant = ("headline_" if in_headline else "") + ("several" if len(lures) >= _SEVERAL_LURES else "")
        out.append(rules["credential_lure_text"].finding(
            "; ".join(lures[:4]), variant.rstrip("_"), phrase=lures[0]))

    deceptive_where = ""
    for where, value in (("subject", message.subject), ("sender name", sender.name if sender else "")):
        sample = _deceptive_sample(value) or _spaced_letters(value)
        if sample:
            deceptive_where = where
            out.append(rules["deceptive_unicode_text"].finding(sample, where=where, sample=sample))
            break

    # A brand disguised in the field whose characters deceptive_unicode_text already reported
    # is the same evidence; in the other field it is a second trick.
    for brand, where in disguised:
        if where != deceptive_where:
            out.append(rules["brand_name_disguised"].finding(f"{brand} in {where}", brand=brand, where=where))
            break

    unrelated = _unrelated_org_name(sender.name if sender else "", sender_site, link_sites)
    if unrelated:
        out.append(rules["sender_name_unrelated"].finding(
            f"{unrelated} <- {sender_site}", name=unrelated, domain=sender_site))

    malformed = [d for d in message.defects if d.startswith("From ")]
    if malformed:
        out.append(rules["sender_header_malformed"].finding(malformed[0], defect=malformed[0]))

    for where, value in (("sender name", sender.name if sender else ""), ("subject", message.subject)):
        sample = _padding(value)
        if sample:
            out.append(rules["padded_header"].finding(sample, where=where, sample=sample))
            break

    for f in web:
        image_host = _public_image_host(_host(f.url)) if f.context in _IMAGE_CONTEXTS else None
        if image_host:
            out.append(rules["images_on_public_host"].finding(image_host, host=image_host))
            break

    for f in web:
        if f.context not in ("a_href", "area_href"):
            continue
        token = _opaque_root_token(f.url)
        site = _site(_host(f.url)) if token else ""
        if token and site and site != sender_site and not is_click_tracker(site):
            out.append(rules["opaque_link_offsite"].finding(
                f"{site}/{token[:24]}", host=site, token=token[:24]))
            break

    sender_domain = sender.address.rpartition("@")[2] if sender and sender.address else ""
    if sender_domain:
        platform = platform_of(sender_domain)
        if platform and platform != sender_domain:
            out.append(rules["sender_on_shared_platform"].finding(
                sender_domain, "free" if free_platform(sender_domain) else "",
                domain=sender_domain, platform=platform))
        elif (sender and is_freemail(sender_domain) and _org_name(sender.name)
              and not (sender_brand and sender_brand in brands_named(sender.name))):
            # "Yahoo! News" from yahoo.com is the provider writing as itself.
            out.append(rules["freemail_org_sender"].finding(
                f"{sender.name[:60]} <- {sender_domain}", name=sender.name[:60], domain=sender_domain))

    token = _random_token(message.subject)
    if token:
        out.append(rules["random_token_subject"].finding(token, sample=token))

    if sender and sender.name and " via " not in sender.name.lower():
        m = _ADDRESS_IN_NAME_RE.search(sender.name)
        if m and _site(m.group(1).rstrip(".")) != sender_site:
            shown = m.group(0).rstrip(".")
            out.append(rules["sender_name_address"].finding(
                f"{shown} -> {sender.address}", shown=shown, actual=sender.address))

    for f in web:
        if f.context == "form_action" and f.source.startswith("attachment:"):
            host = _host(f.url)
            out.append(rules["form_in_attachment"].finding(f"{f.source} -> {host}", host=host))
            break

    in_body = [f for f in web if not f.source.startswith("attachment:") and "/attachment:" not in f.source]
    if not in_body:
        name = web[0].source.split(":", 1)[1] if ":" in web[0].source else web[0].source
        from_freemail = bool(sender and is_freemail(sender.address.rpartition("@")[2]))
        out.append(rules["links_only_in_attachment"].finding(
            name, "freemail" if from_freemail else "", name=name))

    if recipient:
        local = recipient.lower().partition("@")[0]
        subject = message.subject.lower()
        # The address itself (or its local part with an @), not a list tag like "[ilug]".
        if local and re.search(rf"(?<![\w.-]){re.escape(local)}@", subject):
            out.append(rules["recipient_in_subject"].finding(recipient, sample=message.subject[:60]))
        needle = recipient.lower()
        forms = {needle, needle.replace("@", "%40"), *_base64_forms(recipient)}
        for f in web:
            low = f.url.lower()
            if "unsubscribe" in low:
                continue
            if any(form in low for form in forms if form == form.lower()) or any(
                    form in f.url for form in forms if form != form.lower()):
                out.append(rules["recipient_in_link"].finding(recipient))
                break
    return out
