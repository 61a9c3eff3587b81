"""Brands and banks a sign-in page names without being theirs: a known brand's name or assets
on a foreign host, or a bank's name its address does not carry."""

from __future__ import annotations

import re

from tap_core.click.rules.parse import Page, attr, domain_of, host_of, resolve
from tap_core.click.rules.words import fold, page_words
from tap_core.detect.rules import Rule
from tap_core.lookalike import brand_owning, brands_named
from tap_core.model.findings import Finding

_LOGIN_WORDS = re.compile(
    r"\b(?:sign[ -]?in|log[ -]?in|log[ -]?on|password|passwort|contrase[ñn]a|mot de passe|senha|"
    r"verify your|iniciar sesi[óo]n|inicia sesi[óo]n|anmelden|connexion|acceder|entrar)\b",
    re.I,
)


def brand_findings(page: Page, rules: dict[str, Rule], has_password: bool) -> list[Finding]:
    if not has_password:
        return []
    out: list[Finding] = []
    title = page.tree.css_first("title")
    # Title, headings and field labels: where a page says whose sign-in it is. Not buttons: real
    # login pages offer "Sign in with Google/Apple" without pretending to be them.
    headings = " ".join(n.text(separator=" ") for n in page.tree.css("h1, h2, h3, label, legend")[:40])
    named_in = " ".join([title.text() if title else "", headings])
    own = brand_owning(page.host) or brand_owning(page.domain)
    brands = [b for b in brands_named(" ".join(named_in.split())) if b != own]
    # brands_named reads at most 500 characters; look at the title and headings separately too.
    for chunk in (title.text() if title else "", headings[:500]):
        brands.extend(b for b in brands_named(chunk) if b != own and b not in brands)
    # A form that sends the password to the named brand's own servers is that brand's form.
    targets = {
        brand_owning(host_of(resolve(page.url, attr(f, "action"))))
        for f in page.tree.css("form")
        if attr(f, "action")
    }
    brands = [b for b in brands if b not in targets]
    if brands and _LOGIN_WORDS.search(named_in):
        out.append(
            rules["page_brand_login_foreign"].finding(f"names {brands[0]} on {page.host}", brand=brands[0])
        )
    for node in page.tree.css("img[src], link[href], script[src]"):
        ref = attr(node, "src") or attr(node, "href")
        host = host_of(resolve(page.url, ref))
        brand = brand_owning(host) if host else None
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
