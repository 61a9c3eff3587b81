"""Forms that collect card, bank, identity or second-factor data, and consent or approval
screens: what phishing pages ask for after, or instead of, a password."""

from __future__ import annotations

from selectolax.lexbor import LexborNode

from tap_core.click.rules.parse import Page, attr, host_of, posts
from tap_core.click.rules.words import fold, page_words
from tap_core.detect.rules import Rule
from tap_core.lookalike import brand_owning
from tap_core.model.findings import Finding

_NOT_DATA = frozenset({"hidden", "submit", "button", "reset", "checkbox", "radio", "image", "file", "search"})


def _labels(page: Page) -> dict[str, str]:
    return {attr(n, "for"): n.text(separator=" ") for n in page.tree.css("label[for]")}


def _describe(field: LexborNode, labels: dict[str, str]) -> str:
    """What a form field is for, as its page tells: attributes, its label, the text before it."""
    parts = [attr(field, a) for a in ("name", "id", "placeholder", "aria-label", "autocomplete", "title")]
    parts.append(labels.get(attr(field, "id"), ""))
    node = field.parent
    while node is not None and node.tag not in ("form", "body"):
        if node.tag == "label":
            parts.append(node.text(separator=" "))
            break
        node = node.parent
    prev = field.prev
    while prev is not None and prev.tag == "-text" and not (prev.text() or "").strip():
        prev = prev.prev
    if prev is not None and prev.tag in ("label", "-text", "span", "p", "div"):
        parts.append((prev.text(separator=" ") or "")[:80])
    return fold(" ".join(parts))


def _form_asks(form: LexborNode, labels: dict[str, str]) -> list[str]:
    """The kinds of sensitive data a form asks for (card, bank, national_id, mfa, password...)."""
    words = page_words()
    kinds: dict[str, None] = {}
    for field in form.css("input, select, textarea"):
        kind = attr(field, "type").lower()
        if kind in _NOT_DATA:
            continue
        desc = _describe(field, labels)
        found = [name for name, pattern in words.sensitive.items() if pattern.search(desc)]
        if "new_second_factor" in found:  # a new phone or device is sensitive for MFA only
            found.remove("mfa" if "mfa" in found else "new_second_factor")
        if not found and kind == "password":
            found = ["password"]
        kinds.update(dict.fromkeys(found))
    return list(kinds)


def sensitive_form_findings(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    """A form that sends card, bank, identity or second-factor data to a server (with or without
    a password): what phishing pages collect after, or instead of, a password."""
    labels = _labels(page)
    best: tuple[list[str], str] | None = None
    for form in page.tree.css("form"):
        target = posts(page, form)
        if target is None or brand_owning(host_of(target)) is not None:
            continue  # a known brand's own servers asking for its customers' data
        kinds = _form_asks(form, labels)
        if not [k for k in kinds if k != "password"]:
            continue
        if best is None or len(kinds) > len(best[0]):
            best = (kinds, target)
    if best is None:
        return []
    kinds, target = best
    what = ", ".join(k.replace("_", " ") for k in kinds)
    rule = rules["page_form_sensitive_data"]
    variant = "combined" if len(kinds) >= 2 else kinds[0] if kinds[0] in rule.weights else "single"
    return [rule.finding(f"{what} -> {target}", variant, what=what)]


def consent_findings(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    """An OAuth-style consent screen (an app asking to read or send the visitor's mail) with an
    Allow button, or a page asking to approve a sign-in or MFA request, served outside the
    identity providers' own sites; the button must submit a form."""
    if brand_owning(page.host) is not None:
        return []
    words = page_words()
    text = fold(f"{page.title} {page.text}")
    scope = words.consent.search(text)
    signin = words.signin.search(text)
    if scope is None and signin is None:
        return []
    for form in page.tree.css("form"):
        if posts(page, form) is None:
            continue
        for control in form.css("button, input[type=submit]"):
            if attr(control, "type").lower() in ("button", "reset"):
                continue  # only what submits the form
            label = fold(control.text(separator=" ") or attr(control, "value"))
            if not label or len(label) > 40:
                continue
            if scope is not None and (words.allow.search(label) or words.approve.search(label)):
                return [
                    rules["page_consent_grant"].finding(
                        f"{scope.group(0)!r}; button {label!r}", "mail", scope=scope.group(0)
                    )
                ]
            if signin is not None and words.approve.search(label):
                return [
                    rules["page_consent_grant"].finding(
                        f"{signin.group(0)!r}; button {label!r}", "signin", scope=signin.group(0)
                    )
                ]
    return []
