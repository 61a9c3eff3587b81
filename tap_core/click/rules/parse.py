"""The page as the rules read it: parsed once, with what its obvious encodings hide, and the
small helpers every rule family shares (hosts, attributes, forms, links)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from tap_core.model.findings import Finding
from tap_core.parsing.domains import registered_domain
from tap_core.parsing.html import parse_html

MAX_HTML_CHARS = 1_500_000  # parse at most this much of a page
_MAX_DECODE_DEPTH = 3
#: A lure that leads to a single next step links to little else.
FEW_LINKS = 3
B64_BLOB = re.compile(r"(?:atob|base64_decode|b64decode)\s*\(\s*['\"]([A-Za-z0-9+/=]{200,})['\"]")
PCT_BLOB = re.compile(r"unescape\s*\(\s*['\"]((?:%[0-9a-fA-F]{2}){60,})")


@dataclass(slots=True)
class Page:
    url: str
    host: str
    domain: str
    source: str
    lower: str
    tree: LexborHTMLParser
    text: str
    scripts: str
    title: str


def domain_of(host: str) -> str:
    return registered_domain(host) or host


def resolve(base: str, ref: str) -> str:
    """``ref`` resolved against ``base``, as written when urllib refuses it: a bracketed host
    that is no IP address ("//[evil]/") makes urljoin raise, and a page chooses its own links."""
    try:
        return urljoin(base, ref)
    except ValueError:
        return ref


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def _decode_layers(source: str) -> str:
    """The page plus what its obvious encodings hide (base64 / %-escapes), so rules see both."""
    extra: list[str] = []
    text = source
    for _ in range(_MAX_DECODE_DEPTH):
        found: list[str] = []
        for m in B64_BLOB.finditer(text):
            try:
                found.append(
                    base64.b64decode(m.group(1) + "=" * (-len(m.group(1)) % 4)).decode("utf-8", "replace")
                )
            except (binascii.Error, ValueError):
                continue
        for m in PCT_BLOB.finditer(text):
            found.append(unquote(m.group(1)))
        if not found:
            break
        extra.extend(found)
        text = "\n".join(found)
    return "\n".join([source, *extra]) if extra else source


def parse(html: str, url: str) -> Page:
    html = html[:MAX_HTML_CHARS]
    full = _decode_layers(html)
    tree = parse_html(full).tree
    # The analyses read the whole document; the visible text is read from a copy without its
    # scripts and styles (a copy of the tree costs a quarter of a second parse).
    whole = tree.clone()
    scripts = "\n".join(node.text(deep=True) or "" for node in tree.css("script"))
    for node in tree.css("script, style, noscript"):
        node.decompose()
    body = tree.body
    text = " ".join((body.text(separator=" ") if body is not None else "").split())
    host = host_of(url)
    title = tree.css_first("title")
    return Page(
        url=url,
        host=host,
        domain=domain_of(host),
        source=full,
        lower=full.lower(),
        tree=whole,
        text=text[:20000],
        scripts=scripts,
        title=" ".join(title.text().split())[:300] if title is not None else "",
    )


def attr(node: LexborNode, name: str) -> str:
    return (node.attributes.get(name) or "").strip()


def password_inputs(page: Page) -> list[LexborNode]:
    return [n for n in page.tree.css("input") if attr(n, "type").lower() == "password"]


def foreign(page: Page, target: str) -> bool:
    host = host_of(target)
    return bool(host) and domain_of(host) != page.domain


def posts(page: Page, form: LexborNode) -> str | None:
    """Where a form sends its fields when it is submitted to a server, else None."""
    action = attr(form, "action")
    if action.lower().startswith(("#", "javascript:")):
        return None
    if not action and attr(form, "method").lower() != "post":
        return None  # no action, no POST: a form that script handles, or a search box
    return resolve(page.url, action) if action else page.url


def links(page: Page) -> list[str]:
    """The page's links to other pages (not its own anchors, scripts, mail or phone links)."""
    return [
        attr(a, "href")
        for a in page.tree.css("a[href]")
        if not attr(a, "href").lower().startswith(("#", "javascript:", "mailto:", "tel:"))
    ]


def dedupe(findings: list[Finding]) -> list[Finding]:
    """The first finding of each name."""
    seen: set[str] = set()
    out: list[Finding] = []
    for f in findings:
        if f.name not in seen:
            seen.add(f.name)
            out.append(f)
    return out
