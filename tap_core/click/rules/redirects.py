"""Where the page sends the visitor without asking: meta refresh, script redirects, links a
script clicks by itself, hidden frames; and the targets of those redirects."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tap_core.click.rules.parse import Page, attr, domain_of, foreign, host_of, resolve
from tap_core.detect.rules import Rule
from tap_core.lookalike import brand_owning
from tap_core.model.findings import Finding

_JS_REDIRECT = re.compile(
    r"(?:window\.|document\.|top\.|self\.)?location(?:\.href)?\s*=\s*['\"](https?://[^'\"\s]+)|"
    r"location\.(?:replace|assign)\s*\(\s*['\"](https?://[^'\"\s]+)",
    re.I,
)
_AUTO_CLICK = re.compile(
    r"(?:getElementById\(\s*['\"]([^'\"]+)['\"]\s*\)|querySelector\(\s*['\"]#([\w-]+)['\"]\s*\)|"
    r"\$\(\s*['\"]#([\w-]+)['\"]\s*\)(?:\[0\]|\.get\(0\))?)\s*\.click\s*\(\s*\)",
    re.I,
)
_TINY = ("0", "1", "0px", "1px")


def redirect_targets(findings: Iterable[Finding]) -> list[str]:
    """The URLs that page redirects point at (for a reputation check of the next hop)."""
    return [f.evidence for f in findings if f.name == "page_meta_redirect"]


def _auto_click_findings(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    """A script clicks a link by itself as the page loads: a redirect that redirect checks miss."""
    for m in _AUTO_CLICK.finditer(page.source):
        ident = next(g for g in m.groups() if g)
        node = next((n for n in page.tree.css("a[href]") if attr(n, "id") == ident), None)
        if node is None:
            continue
        target = resolve(page.url, attr(node, "href"))
        if target.lower().startswith(("http://", "https://")) and foreign(page, target):
            host = host_of(target)
            return [
                rules["page_auto_click"].finding(m.group(0)[:80], target=host),
                rules["page_meta_redirect"].finding(target, how="scripted link click", target=host),
            ]
    return []


def _redirect_findings(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    out: list[Finding] = []
    rule = rules["page_meta_redirect"]
    for meta in page.tree.css("meta"):
        if attr(meta, "http-equiv").lower() == "refresh":
            m = re.search(r"url\s*=\s*['\"]?([^'\"]+)", attr(meta, "content"), re.I)
            if m:
                target = resolve(page.url, m.group(1).strip())
                if foreign(page, target):
                    out.append(rule.finding(target, how="meta refresh", target=host_of(target)))
                    break
    m = _JS_REDIRECT.search(page.scripts)
    if m:
        target = m.group(1) or m.group(2)
        if foreign(page, target):
            out.append(rule.finding(target, how="script", target=host_of(target)))
    return out


def redirect_findings(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    """Scripted clicks first, then redirects they do not already name."""
    clicks = _auto_click_findings(page, rules)
    seen = {(f.name, f.evidence) for f in clicks}
    return clicks + [f for f in _redirect_findings(page, rules) if (f.name, f.evidence) not in seen]


def iframe_findings(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    for frame in page.tree.css("iframe"):
        style = attr(frame, "style").replace(" ", "").lower()
        hidden = (
            attr(frame, "width") in _TINY
            or attr(frame, "height") in _TINY
            or "display:none" in style
            or "visibility:hidden" in style
            or "hidden" in frame.attributes
        )
        src = attr(frame, "src")
        host = host_of(resolve(page.url, src)) if src else ""
        if host and brand_owning(host) is not None:
            continue  # a big platform's tag/analytics frame (Google Tag Manager and the like)
        if host and domain_of(host) == page.domain:
            continue  # the site's own frame (silent sign-in renewal, keep-alive): nothing it hides
        if hidden and src and not src.lower().startswith("about:"):
            return [
                rules["page_hidden_iframe"].finding(src, target=host_of(resolve(page.url, src)) or src[:60])
            ]
    return []
