"""The rule on a link's visible text: it names another site than the one the link goes to."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from tap_core.lookalike.brands import brand_owning
from tap_core.model.findings import Finding
from tap_core.parsing.domains import has_known_suffix, host_matches_domain, is_ip_literal, registered_domain
from tap_core.urls.normalize import comparable_host
from tap_core.urls.platforms import is_click_tracker, site_of
from tap_core.urls.rules.parse import WEB, parse_context, rules
from tap_core.urls.rules.paths import host_of, nested_target

_TEXT_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_TEXT_HOST = re.compile(r"(?:[a-z0-9-]+\.)+[a-z0-9-]{2,63}\.?(?::\d{1,5})?(?:[/?#]\S*)?", re.IGNORECASE)
#: Suffixes that are also common file extensions: "report.md" or "setup.py" in link text is
#: a file name, not a host (unless written with www. or a scheme).
_FILE_LIKE_TLDS = frozenset("md py sh pl rs zip mov ps so js ts go rb cs php asp".split())


def _strip(link_text: str) -> str:
    return link_text.strip().strip("<>\"'()[]").rstrip(".,;:!?")


def _text_host(link_text: str) -> str | None:
    text = _strip(link_text)
    if not text or any(c.isspace() for c in text) or "@" in text.split("/", 1)[0]:
        return None
    if _TEXT_URL.fullmatch(text):
        try:
            host = urlsplit(text).hostname or ""
        except ValueError:
            return None
    elif _TEXT_HOST.fullmatch(text):
        host = re.split(r"[:/?#]", text, maxsplit=1)[0].lower().rstrip(".")
        if not host.startswith("www.") and not is_ip_literal(host):
            if not has_known_suffix(host) or host.rsplit(".", 1)[-1] in _FILE_LIKE_TLDS:
                return None
    else:
        return None
    ascii_host = comparable_host(host)
    if ascii_host is None:
        return None
    host = ascii_host
    if not is_ip_literal(host) and not has_known_suffix(host):
        return None
    return host


def _redirects_to(query: str, site: str) -> bool:
    """A parameter of the link carries an address on ``site``: the text's promise is kept."""
    for _key, value in parse_qsl(query):
        target = nested_target(value)
        nested = host_of(target) if target else ""
        if nested and site_of(nested) == site:
            return True
    return False


def link_text_mismatch(link_text: str | None, href: str) -> Finding | None:
    """The visible text names a host whose site differs from the href's; None when the text
    is not a URL or host name, or when they agree."""
    if not link_text:
        return None
    shown = _text_host(link_text)
    if shown is None:
        return None
    ctx = parse_context(href)
    if ctx is None or ctx.scheme not in WEB or not ctx.host:
        return None
    actual = ctx.host
    if site_of(shown) == ctx.site or host_matches_domain(actual, shown) or host_matches_domain(shown, actual):
        return None
    if _redirects_to(ctx.query, site_of(shown)):
        return None
    icann = registered_domain(actual, private=False)
    if is_click_tracker(icann) or is_click_tracker(ctx.site):
        variant = "tracker"
    elif _TEXT_URL.fullmatch(_strip(link_text)) or brand_owning(shown):
        # The text promises a full address, or a brand's own site: what a lure shows.
        variant = "direct"
    else:
        # A bare site name over a newsletter's own redirector ("Dilbert.com"): weaker.
        variant = "bare_host"
    return rules()["link_text_mismatch"].finding(f"{shown} -> {actual}", variant, shown=shown, actual=actual)
