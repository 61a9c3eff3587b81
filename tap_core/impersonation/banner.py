"""The TAG action: a plain warning banner at the top of the message body.

Outlook (desktop renders HTML with Word) ignores CSS classes and external resources, so the
banner is one table with inline styles and ``bgcolor``. Every value is HTML-escaped. The banner
is inserted right after ``<body ...>`` (else prepended) and nothing else in the body changes, byte
for byte. A marker comment and an ``id`` make a second call a no-op, so retries never stack banners.

The marker only counts where the banner goes (first thing in the body): a sender who writes the
marker somewhere in the message cannot stop the banner. Pass ``marker_token`` (e.g. derived from a
tenant secret) so that not even a forged banner at the very top is taken for ours.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from tap_core.model.findings import Finding

#: The Outlook category put on tagged messages.
OUTLOOK_CATEGORY = "TAP365: Impersonation"
#: Marks a body that already carries the banner (HTML id, comment and plain-text first line).
BANNER_ID = "tap365-impersonation-banner"
HTML_MARKER = f"<!-- {BANNER_ID} -->"
TEXT_MARKER = "[TAP365 WARNING]"

BANNER_BACKGROUND = "#FFF4CE"
BANNER_EDGE = "#C50F1F"
_HEADLINE = "Caution: this message may be impersonating someone you trust."
_ADVICE = (
    "Do not reply, pay, open attachments or share information until you have checked with the "
    "sender through a contact you already know."
)

# "<body", then attributes (quoted values may contain ">"), then ">".
# Unquoted text stops at "<" (the next tag) and nothing is re-split: "<body" * 10,000 before one
# ">" rescanned the rest from every "<body" (quadratic).
_BODY_TAG = re.compile(r"""<body\b(?:[^<>"']++|"[^"]*+"|'[^']*+')*+>""", re.IGNORECASE)


def _sentences(indicators: Sequence[Finding]) -> list[str]:
    """One sentence per indicator: its reason, which names the concrete sender and domains."""
    return [f.reason for f in indicators if f.reason]


def _html_marker(token: str) -> str:
    return f"<!-- {BANNER_ID}:{token} -->" if token else HTML_MARKER


_BODY_START = re.compile(r"<body\b", re.IGNORECASE)


def _insert_at(html: str) -> int:
    """Just after the first complete ``<body ...>`` tag, else 0. Each "<body" is tried where it
    starts (a search would rescan the rest from every "<body" that never closes)."""
    pos = 0
    while (start := _BODY_START.search(html, pos)) is not None:
        if html.find(">", start.end()) < 0:
            return 0
        m = _BODY_TAG.match(html, start.start())
        if m:
            return m.end()
        pos = start.end()
    return 0


def has_banner_html(html: str, *, marker_token: str = "") -> bool:
    """True when the body starts (after ``<body ...>``) with our banner."""
    return html[_insert_at(html) :].lstrip().startswith(_html_marker(marker_token))


def has_banner_text(text: str) -> bool:
    return text.lstrip().startswith(TEXT_MARKER)


def render_banner_html(
    indicators: Sequence[Finding],
    *,
    org_name: str = "TAP365",
    marker_token: str = "",
    headline: str = _HEADLINE,
) -> str:
    """The banner markup alone (no surrounding document)."""
    font = "font-family:'Segoe UI',Arial,Helvetica,sans-serif;"
    items = "".join(
        f'<tr><td style="{font}font-size:14px;line-height:20px;color:#1F1F1F;padding:2px 0 2px 0;">'
        f"&#8226;&nbsp;{escape(sentence)}</td></tr>"
        for sentence in _sentences(indicators)
    )
    return (
        f"{_html_marker(marker_token)}"
        f'<table id="{BANNER_ID}" role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'border="0" bgcolor="{BANNER_BACKGROUND}" style="width:100%;border-collapse:collapse;'
        f'background-color:{BANNER_BACKGROUND};margin:0 0 12px 0;">'
        f'<tr><td width="6" bgcolor="{BANNER_EDGE}" style="width:6px;background-color:{BANNER_EDGE};'
        f'font-size:1px;line-height:1px;">&nbsp;</td>'
        f'<td style="padding:10px 14px 10px 14px;">'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        f'<tr><td style="{font}font-size:15px;line-height:22px;font-weight:bold;color:#A80000;'
        f'padding:0 0 4px 0;">{escape(headline)}</td></tr>'
        f"{items}"
        f'<tr><td style="{font}font-size:13px;line-height:18px;color:#323130;padding:6px 0 0 0;">'
        f"{escape(_ADVICE)}</td></tr>"
        f'<tr><td style="{font}font-size:11px;line-height:16px;color:#605E5C;padding:6px 0 0 0;">'
        f"Warning added by {escape(org_name)}.</td></tr>"
        f"</table></td></tr></table>"
        f"<!-- /{BANNER_ID} -->"
    )


def add_banner_html(
    html: str,
    indicators: Sequence[Finding],
    *,
    org_name: str = "TAP365",
    marker_token: str = "",
    headline: str = _HEADLINE,
) -> str:
    """``html`` with the banner right after ``<body ...>`` (or first); unchanged if already there.
    ``headline`` says what the warning is about (impersonation by default; links, attachments)."""
    if has_banner_html(html, marker_token=marker_token):
        return html
    at = _insert_at(html)
    banner = render_banner_html(indicators, org_name=org_name, marker_token=marker_token, headline=headline)
    return html[:at] + banner + html[at:]


def add_banner_text(text: str, indicators: Sequence[Finding], *, org_name: str = "TAP365") -> str:
    """``text`` with a plain-text warning block first; unchanged if already there."""
    if has_banner_text(text):
        return text
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = [f"{TEXT_MARKER} {_HEADLINE}"]
    lines += [f"  * {sentence}" for sentence in _sentences(indicators)]
    lines += [_ADVICE, f"(Warning added by {org_name}.)", "-" * 60, ""]
    return nl.join(lines) + text
