"""The HTML parse every analysis uses: hostile nesting is flattened, nothing the analyses read
is lost, ordinary documents are untouched."""

from __future__ import annotations

import pytest

from tap_core.parsing.html import MAX_HTML_DEPTH, flatten_deep_nesting, parse_html


def _depth(node) -> int:
    depth = 0
    while node is not None and node.parent is not None:
        depth += 1
        node = node.parent
    return depth


def test_ordinary_documents_are_parsed_as_written() -> None:
    html = "<table><tr><td><p>a<p>b<ul><li>x<li>y</ul><div><span>z</span></div></td></tr></table>"
    assert flatten_deep_nesting(html) == (html, False)
    assert parse_html(html).flattened is False


@pytest.mark.parametrize("tag", ["div", "span", "b", "font", "blockquote", "ul", "table", "object"])
def test_deep_nesting_is_capped_and_keeps_what_the_analyses_read(tag: str) -> None:
    n = 20 * MAX_HTML_DEPTH
    html = (f"<{tag} data-x=1>" * n + '<a href="https://evil.example/login">Verify now</a>'
            '<form action="https://collect.example/p"><input type="password"></form>'
            + f"</{tag}>" * n)
    parsed = parse_html(html)
    assert parsed.flattened
    (link,) = parsed.tree.css("a")
    assert (link.attributes["href"], link.text()) == ("https://evil.example/login", "Verify now")
    assert parsed.tree.css_first("form").attributes["action"] == "https://collect.example/p"
    assert len(parsed.tree.css(f"{tag}[data-x]")) == n  # every element and attribute kept
    assert _depth(link) <= MAX_HTML_DEPTH + 8


def test_the_limit_is_a_parameter() -> None:
    html = "<div>" * 50 + "x"
    assert parse_html(html, max_depth=10).flattened
    assert not parse_html(html, max_depth=100).flattened


def test_tags_inside_scripts_are_text_not_nesting() -> None:
    script = "<script>var s = '" + "<div>" * 5000 + "';</script>"
    flat, changed = flatten_deep_nesting(script + "<p>ok</p>")
    assert not changed and flat.startswith(script)


def test_non_nesting_elements_are_left_whole() -> None:
    # A new <a> closes the open one: thousands of links never make the tree deep.
    html = "".join(f'<a href="https://x.example/{i}">t{i}</a>' for i in range(5000))
    assert flatten_deep_nesting(html) == (html, False)


def test_html_to_text_drops_blocks_in_one_pass_even_unterminated() -> None:
    from tap_core.parsing.html import html_to_text

    text = html_to_text("<p>Password: Xy7-12</p><script>var p = 'decoy1';</script><STYLE>p{}</style>"
                        "<head><title>t</title></head>a &amp; b" + "<script>" * 200_000)
    assert "Xy7-12" in text and "a & b" in text
    assert "decoy1" not in text and "p{}" not in text
    assert html_to_text("<" * 200_000 + "x").endswith("x")


# Hostile repetitions: each would take minutes if a scan restarted from every fragment; the
# assertions are about what is found, the size is what makes a quadratic scan hang.
def test_rewriter_handles_unclosed_tags_and_scripts_at_scale() -> None:
    from tap_core.urls.rewrite import rewrite_html

    real = '<a href="https://x.example/">x</a>'
    for junk in ("<a href=" * 50_000, "<script>" * 50_000, '<a href="x' * 50_000, "<" * 200_000):
        result = rewrite_html(real + junk, lambda url: "https://r.example/1" if url.startswith("https://x") else None)
        assert result.changes == [("https://x.example/", "https://r.example/1")], junk[:10]


def test_text_extraction_after_a_long_dotted_run() -> None:
    from tap_core.urls.extract import extract_text

    urls = [f.url for f in extract_text("a.b" * 50_000 + " see http://evil.example/x and www." * 3, "t")]
    assert "http://evil.example/x" in urls
    hidden = [f.url for f in extract_text("x." * 400 + "name.first@http://hidden.example/p", "t")]
    assert "http://hidden.example/p" in hidden


def test_banner_goes_after_the_first_complete_body_tag() -> None:
    from tap_core.impersonation.banner import has_banner_html

    assert not has_banner_html("<body" * 100_000)
    assert not has_banner_html('<html><body class="a>b">' + "<body" * 100_000)
