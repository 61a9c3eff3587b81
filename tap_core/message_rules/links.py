"""Link rules: where the message's links and images are, and what their shape gives away."""

from __future__ import annotations

import re
from functools import cache

from tap_core.data import data_lines
from tap_core.impersonation.freemail import is_freemail
from tap_core.message_rules._view import CLICK_CONTEXTS, IMAGE_CONTEXTS, MessageView, rules, site
from tap_core.model.findings import Finding
from tap_core.parsing.domains import url_host
from tap_core.urls.platforms import is_click_tracker

#: A first path segment that is one opaque token ("/P9fKuTJuTChpPFqlROo3/..."): mixed case and
#: digits, 16+ characters. Mailing services put such tokens in a query or under a short route
#: ("/ls/click?upn=", "/c/eJw..."); redirect scripts planted on hacked sites use the root.
_OPAQUE_ROOT_RE = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#]+/([A-Za-z0-9_=-]{16,})(?:[/?#]|$)")


@cache
def _image_hosts() -> frozenset[str]:
    return frozenset(data_lines("urls", "image_hosts.txt"))


def _public_image_host(image_host: str) -> str | None:
    for candidate in (image_host, site(image_host)):
        if candidate in _image_hosts():
            return candidate
    return None


def public_images(view: MessageView) -> Finding | None:
    """Images loaded from an anonymous public image host (the bulk layout: a clickable banner
    whose picture is hot-linked)."""
    for f in view.web:
        image_host = _public_image_host(url_host(f.url)) if f.context in IMAGE_CONTEXTS else None
        if image_host:
            return rules()["images_on_public_host"].finding(image_host, host=image_host)
    return None


def _opaque_root_token(url: str) -> str | None:
    m = _OPAQUE_ROOT_RE.match(url)
    if not m:
        return None
    token = m.group(1)
    upper = sum(c.isupper() for c in token)
    lower = sum(c.islower() for c in token)
    return token if upper >= 3 and lower >= 3 and any(c.isdigit() for c in token) else None


def opaque_offsite(view: MessageView) -> Finding | None:
    """A link to an unrelated site through an opaque token at its root."""
    for f in view.web:
        if f.context not in CLICK_CONTEXTS:
            continue
        token = _opaque_root_token(f.url)
        link_site = site(url_host(f.url)) if token else ""
        if token and link_site and link_site != view.sender_site and not is_click_tracker(link_site):
            return rules()["opaque_link_offsite"].finding(
                f"{link_site}/{token[:24]}", host=link_site, token=token[:24])
    return None


def form_in_attachment(view: MessageView) -> Finding | None:
    """An HTML attachment with a form that posts to a web site."""
    for f in view.web:
        if f.context == "form_action" and f.source.startswith("attachment:"):
            form_host = url_host(f.url)
            return rules()["form_in_attachment"].finding(f"{f.source} -> {form_host}", host=form_host)
    return None


def only_in_attachment(view: MessageView) -> Finding | None:
    """Every link inside an attachment (the PDF-lure delivery), none in the body."""
    web = view.web
    if any(not f.source.startswith("attachment:") and "/attachment:" not in f.source for f in web):
        return None
    name = web[0].source.split(":", 1)[1] if ":" in web[0].source else web[0].source
    from_freemail = is_freemail(view.sender_address.rpartition("@")[2]) if view.sender_address else False
    return rules()["links_only_in_attachment"].finding(name, "freemail" if from_freemail else "", name=name)
