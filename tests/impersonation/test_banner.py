"""The TAG banner: placement, byte-for-byte preservation, escaping, idempotence, plain text."""

from __future__ import annotations

import pytest

from tap_core.impersonation.banner import (
    BANNER_ID,
    HTML_MARKER,
    OUTLOOK_CATEGORY,
    TEXT_MARKER,
    add_banner_html,
    add_banner_text,
    has_banner_html,
    render_banner_html,
)
from tap_core.model.findings import Finding

INDICATORS = [
    Finding(
        name="display_name_vip",
        score=1,
        reason="The sender's name resembles Jane Doe, but the message comes from ceo.jane@gmail.com.",
        evidence='"Jane Doe" <ceo.jane@gmail.com> resembles VIP Jane Doe (exact)',
    ),
    Finding(
        name="domain_similarity",
        score=1,
        reason="The reply address domain c0ntoso.com resembles contoso.com.",
        evidence="Reply-To c0ntoso.com resembles contoso.com (homoglyph)",
    ),
]


def test_inserted_right_after_body_tag_and_nothing_else_changes() -> None:
    html = (
        "<html><head><title>x</title></head>\r\n"
        '<BODY class="x" data-a="1>2" style=\'a:b\'>\r\n<p>Hi</p></BODY></html>'
    )
    out = add_banner_html(html, INDICATORS)
    head = '<BODY class="x" data-a="1>2" style=\'a:b\'>'
    at = html.index(head) + len(head)
    banner = render_banner_html(INDICATORS)
    assert out == html[:at] + banner + html[at:]  # only inserted bytes
    assert out.count(BANNER_ID) == 3  # the opening and closing marker comments, and the id


def test_prepended_when_there_is_no_body_tag() -> None:
    fragment = "<p>Just a fragment</p>"
    out = add_banner_html(fragment, INDICATORS)
    assert out.startswith(HTML_MARKER) and out.endswith(fragment)


def test_every_sentence_appears_once() -> None:
    out = add_banner_html("<body></body>", INDICATORS)
    assert "resembles Jane Doe, but the message comes from ceo.jane@gmail.com." in out
    assert "c0ntoso.com resembles contoso.com." in out


def test_idempotent() -> None:
    once = add_banner_html("<html><body><p>x</p></body></html>", INDICATORS)
    assert add_banner_html(once, INDICATORS) == once
    assert add_banner_html(once, []) == once
    text = add_banner_text("Hello\n", INDICATORS)
    assert add_banner_text(text, INDICATORS) == text


def test_values_are_escaped() -> None:
    evil = Finding(
        name="display_name_vip",
        score=1,
        reason='The sender\'s name resembles <script>alert(1)</script> "&" <img src=x onerror=y>.',
        evidence="x",
    )
    out = add_banner_html("<body></body>", [evil], org_name="<b>Org</b>")
    assert "<script>" not in out and "<img" not in out and "<b>Org" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&quot;&amp;&quot;" in out
    assert "&lt;b&gt;Org&lt;/b&gt;" in out


def test_outlook_friendly_markup() -> None:
    banner = render_banner_html(INDICATORS)
    assert "class=" not in banner and "<style" not in banner and "<link" not in banner
    assert "http" not in banner and "src=" not in banner  # no external resources
    assert banner.count("<table") >= 1 and 'bgcolor="' in banner


@pytest.mark.parametrize(
    "html",
    [
        f"<html><body><p>x</p><div id='{BANNER_ID}'>fake</div>{HTML_MARKER}</body></html>",
        f"<html><body><p>{HTML_MARKER} quoted by the sender</p></body></html>",
    ],
)
def test_marker_elsewhere_in_the_body_does_not_stop_the_banner(html: str) -> None:
    out = add_banner_html(html, INDICATORS)
    assert out != html and has_banner_html(out)


def test_marker_token_rejects_a_forged_banner_at_the_top() -> None:
    forged = f"<html><body>{HTML_MARKER}<p>All good, verified sender!</p></body></html>"
    assert add_banner_html(forged, INDICATORS) == forged  # positional check alone is fooled
    out = add_banner_html(forged, INDICATORS, marker_token="t0k3n")
    assert out != forged and has_banner_html(out, marker_token="t0k3n")
    assert add_banner_html(out, INDICATORS, marker_token="t0k3n") == out


def test_text_banner_first_and_keeps_line_endings() -> None:
    text = "Hi Bob,\r\nplease pay.\r\n"
    out = add_banner_text(text, INDICATORS)
    assert out.startswith(TEXT_MARKER) and out.endswith(text)
    assert "\r\n  * The sender's name resembles Jane Doe" in out
    assert "\n" not in out.replace("\r\n", "")


def test_outlook_category_name() -> None:
    assert OUTLOOK_CATEGORY == "TAP365: Impersonation"
