"""The pages users see at click time: block, warning (with proceed), bad link, rate limited,
single-use notice. Pure rendering: every value is HTML-escaped; the destination is shown
defanged; one inline stylesheet allowed by a per-response nonce; nothing remote but the
tenant's https logo; security headers on every page.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

MAX_SHOWN_URL = 300
#: A logo URL's host and port, written plainly: it goes verbatim into the pages' CSP img-src.
_LOGO_ORIGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?")


class Branding(BaseModel):
    """How a tenant's pages look (the policy's ``branding`` section). Everything optional;
    ``logo_url`` must be https."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    logo_url: str = ""
    support_contact: str = ""
    custom_text: str = ""
    lang: str = "en"

    @field_validator("logo_url")
    @classmethod
    def _https_only(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return ""
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or any(c in value for c in "\"'<> \\\r\n\t"):
            raise ValueError("logo_url must be an https URL")
        if _LOGO_ORIGIN.fullmatch(parts.netloc) is None:
            raise ValueError("logo_url must name its host plainly (letters, digits, dots, hyphens, a port)")
        return value

    @property
    def logo_origin(self) -> str:
        """``https://host[:port]`` of the logo: the only place the pages may load an image from."""
        return f"https://{urlsplit(self.logo_url).netloc.lower()}" if self.logo_url else ""

    @field_validator("lang")
    @classmethod
    def _lang_tag(cls, value: str) -> str:
        tag = value.strip()
        return tag if tag and len(tag) <= 20 and all(c.isalnum() or c == "-" for c in tag) else "en"


@dataclass(frozen=True, slots=True)
class RenderedPage:
    status: int
    headers: dict[str, str]
    body: bytes = field(repr=False)


def defang(url: str) -> str:
    """``https://example.com/x`` -> ``hxxps://example[.]com/x``: readable, not clickable."""
    text = url[:MAX_SHOWN_URL] + ("…" if len(url) > MAX_SHOWN_URL else "")
    scheme, sep, rest = text.partition("://")
    if sep:
        scheme = scheme.replace("http", "hxxp").replace("HTTP", "hXXP")
        host, slash, tail = rest.partition("/")
        return f"{scheme}://{host.replace('.', '[.]')}{slash}{tail}"
    return text.replace(".", "[.]")


def security_headers(nonce: str, logo_origin: str = "") -> dict[str, str]:
    img = f"img-src {logo_origin}" if logo_origin else "img-src 'none'"
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; {img}; form-action 'none'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


# Colours meet WCAG AA contrast against white text (block #b3261e 6.0:1, warning #8a4b00 6.4:1,
# info #1f4e8c 8.1:1); the page background is white with #1b1b1b text.
_COLOURS = {"block": "#b3261e", "warn": "#8a4b00", "info": "#1f4e8c"}

_CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1b1b1b;
background:#fff;line-height:1.5;font-size:16px}
.banner{background:%(colour)s;color:#fff;padding:24px 16px;min-height:120px}
.banner h1{margin:0 auto;max-width:44rem;font-size:1.6rem}
.brand{max-width:44rem;margin:0 auto 8px;display:flex;gap:12px;align-items:center;font-weight:600}
.brand img{max-height:40px;max-width:160px;background:#fff;padding:2px;border-radius:4px}
main{max-width:44rem;margin:0 auto;padding:16px}
.dest{font-family:ui-monospace,Consolas,monospace;background:#f3f3f3;border:1px solid #767676;
padding:8px;word-break:break-all;overflow-wrap:anywhere}
ul.reasons{padding-left:1.2rem}
.actions{margin-top:24px}
a.proceed{display:inline-block;padding:12px 18px;border:2px solid #1b1b1b;color:#1b1b1b;
text-decoration:none;border-radius:4px;min-height:44px}
a.proceed:focus,a.proceed:hover{outline:3px solid #1f4e8c;outline-offset:2px;background:#f3f3f3}
.custom{border-left:4px solid %(colour)s;padding-left:12px}
footer{color:#4a4a4a;font-size:.9rem;margin-top:32px}
@media (max-width:480px){.banner h1{font-size:1.3rem}main{padding:12px}}
"""


def _page(
    kind: str,
    status: int,
    title: str,
    intro: str,
    *,
    branding: Branding | None,
    destination: str = "",
    reasons: tuple[str, ...] = (),
    proceed_url: str = "",
    extra_headers: dict[str, str] | None = None,
) -> RenderedPage:
    b = branding or Branding()
    nonce = secrets.token_urlsafe(16)
    e = escape
    brand_bits = ""
    if b.logo_url:
        brand_bits += f'<img src="{e(b.logo_url)}" alt="{e(b.name or "Logo")}" referrerpolicy="no-referrer">'
    if b.name:
        brand_bits += f"<span>{e(b.name)}</span>"
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{e(b.lang)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex, nofollow">',
        f"<title>{e(title)}</title>",
        f'<style nonce="{nonce}">{_CSS % {"colour": _COLOURS[kind]}}</style></head><body>',
        f'<header class="banner" id="banner-{kind}" role="banner">',
        f'<div class="brand">{brand_bits}</div>' if brand_bits else "",
        f"<h1>{e(title)}</h1></header>",
        '<main id="main">',
        f"<p>{e(intro)}</p>",
    ]
    if destination:
        parts.append(f'<h2>Destination</h2><p class="dest" id="destination">{e(defang(destination))}</p>')
    if reasons:
        parts.append(
            '<h2>Why</h2><ul class="reasons">' + "".join(f"<li>{e(r)}</li>" for r in reasons[:8]) + "</ul>"
        )
    if b.custom_text:
        parts.append(f'<p class="custom">{e(b.custom_text)}</p>')
    if proceed_url:
        parts.append(
            '<div class="actions"><a class="proceed" id="proceed" rel="noreferrer" '
            f'href="{e(proceed_url, quote=True)}">Continue to the site anyway</a></div>'
        )
    contact = (
        f"Questions? Contact {e(b.support_contact)}."
        if b.support_contact
        else "If you think this is wrong, contact your IT support."
    )
    parts.append(
        f"<footer><p>{contact}</p><p>Protected by {e(b.name or 'your organisation')}'s "
        "link protection.</p></footer></main></body></html>"
    )
    headers = security_headers(nonce, b.logo_origin)
    headers.update(extra_headers or {})
    return RenderedPage(status, headers, "".join(parts).encode("utf-8"))


def block_page(destination: str, reasons: tuple[str, ...], branding: Branding | None = None) -> RenderedPage:
    return _page(
        "block",
        403,
        "This link has been blocked",
        "The site this link leads to was found to be dangerous (phishing or malware). "
        "It has not been opened.",
        branding=branding,
        destination=destination,
        reasons=reasons,
    )


def warning_page(
    destination: str, reasons: tuple[str, ...], branding: Branding | None = None, proceed_url: str = ""
) -> RenderedPage:
    intro = (
        (
            "This link leads to a site that looks suspicious. Only continue if you expected it "
            "and trust the sender."
        )
        if proceed_url
        else "This link leads to a site that looks suspicious. Your organisation does not allow opening it."
    )
    return _page(
        "warn",
        200,
        "Be careful with this link",
        intro,
        branding=branding,
        destination=destination,
        reasons=reasons,
        proceed_url=proceed_url,
    )


def error_page(branding: Branding | None = None, reason: str = "") -> RenderedPage:
    return _page(
        "info",
        400,
        "This link is not valid",
        "The link is damaged, expired or was not made by your organisation's link protection. "
        "It has not been followed.",
        branding=branding,
        reasons=(reason,) if reason else (),
    )


def rate_limited_page(branding: Branding | None = None, retry_after: int = 5) -> RenderedPage:
    return _page(
        "info",
        429,
        "Too many requests for this link",
        "This link was opened too often in a short time. Please wait a few seconds and try again.",
        branding=branding,
        extra_headers={"Retry-After": str(retry_after)},
    )


def held_page(destination: str, branding: Branding | None = None) -> RenderedPage:
    """For automated scanners on a single-use link: no redirect, nothing consumed."""
    return _page(
        "info",
        200,
        "Protected link",
        "This link is protected. Open it in a browser to continue.",
        branding=branding,
        destination=destination,
    )


def unavailable_page(destination: str, branding: Branding | None = None) -> RenderedPage:
    return _page(
        "info",
        503,
        "This link cannot be checked right now",
        "The link could not be checked and your organisation does not allow opening it unchecked. "
        "Please try again later.",
        branding=branding,
        destination=destination,
        extra_headers={"Retry-After": "30"},
    )
