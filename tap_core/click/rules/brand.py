"""Brands and banks a sign-in page names without being theirs: a known brand's name or assets
on a foreign host, or a bank's name its address does not carry."""

from __future__ import annotations

import re

from tap_core.click.rules.identify import LOOKS_KINDS, identify, owns, shared_host, shown_name
from tap_core.click.rules.parse import Page, attr, domain_of, host_of, resolve
from tap_core.click.rules.words import fold, page_words
from tap_core.detect.rules import Rule
from tap_core.lookalike import brand_owning
from tap_core.model.findings import Finding, Verdict

_LOGIN_WORDS = re.compile(
    r"\b(?:sign[ -]?in|log[ -]?in|log[ -]?on|password|passwort|contrase[ñn]a|mot de passe|senha|"
    r"verify your|iniciar sesi[óo]n|inicia sesi[óo]n|anmelden|connexion|acceder|entrar)\b",
    re.I,
)


_NAMED = frozenset({"title", "heading", "signin"})
_NAMED_OR_SHOWN = _NAMED | LOOKS_KINDS


def brand_findings(page: Page, rules: dict[str, Rule], collects: str) -> list[Finding]:
    """A page presenting a brand it is not served by while it collects a secret.

    ``collects`` names the secret the page asks for ("password", "card"...; "" for none).
    Presented beyond doubt (two kinds of evidence, see :mod:`.identify`) with a secret on a host
    that is not the brand's: ``page_brand_clone``, MALICIOUS on its own. Named in the title or
    headings only: ``page_brand_login_foreign``, a weight. Either way a form that sends the
    secret to the brand's own servers is the brand's form (a saved or embedded page)."""
    if not collects:
        return []
    out: list[Finding] = []
    # The page's registered domain too: a platform's own www host (www.tumblr.com) reads as a
    # user's site of that platform, its registered domain as the platform's.
    presented = [e for e in identify(page) if not owns(e.brand, page.host) and not owns(e.brand, page.domain)]
    targets = [
        host_of(resolve(page.url, attr(f, "action")))
        for f in page.tree.css("form")
        if attr(f, "action") and f.css_first("input[type=password]") is not None
    ]
    presented = [e for e in presented if not (targets and all(owns(e.brand, t) for t in targets))]
    top = presented[0] if presented else None
    if top is not None and top.sure:
        shown = shown_name(top.brand, page)
        out.append(
            rules["page_brand_clone"].finding(
                f"{top.brand.name} on {page.host}: {top.describe()}",
                verdict=Verdict.MALICIOUS,
                brand=shown,
                secret=collects,
            )
        )
    elif (
        top is not None
        and set(top.kinds) & _NAMED_OR_SHOWN
        and _LOGIN_WORDS.search(f"{page.title} {page.text[:3000]}")
    ):
        # Not beyond doubt: named in the title or headings, or only shown (a favicon, a logo file).
        variant = "" if set(top.kinds) & _NAMED else "shown"
        out.append(
            rules["page_brand_login_foreign"].finding(
                f"{top.brand.name} on {page.host}: {top.describe()}", variant,
                brand=shown_name(top.brand, page),
            )
        )
    own = brand_owning(page.host) or brand_owning(page.domain)
    for node in page.tree.css("img[src], link[href], script[src]"):
        ref = attr(node, "src") or attr(node, "href")
        host = host_of(resolve(page.url, ref))
        brand = brand_owning(host) if host and not shared_host(host) else None
        if brand and brand != own and domain_of(host) != page.domain:
            out.append(rules["page_brand_assets_foreign"].finding(ref, brand=brand))
            break
    return out


def bank_name_findings(page: Page, rules: dict[str, Rule], has_password: bool) -> list[Finding]:
    """A sign-in page titled with a bank's or credit union's name that its address does not carry
    (page_brand_login_foreign does this for the brands the project knows; this is for the rest)."""
    if not has_password or brand_owning(page.host) is not None:
        return []
    words = page_words()
    heading = page.tree.css_first("h1")
    named = fold(f"{page.title} {heading.text(separator=' ') if heading is not None else ''}")
    if not words.financial.search(named):
        return []
    tokens = named.split()
    names = [t for t in tokens if len(t) >= 3 and t not in words.generic and not t.isdigit()]
    host = re.sub(r"[^a-z0-9]", "", page.host)
    initials = "".join(t[0] for t in fold(page.title).split() if t not in ("of", "de", "the", "du", "der"))
    if not names or any(n in host for n in names) or (len(initials) >= 3 and initials in host):
        return []
    shown = page.title[:60] or named[:60]
    return [rules["page_bank_name_foreign"].finding(f"{shown!r} on {page.host}", name=shown)]
