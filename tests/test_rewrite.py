"""HTML and text rewriting: only the rewritten values change, every other byte stays."""

from __future__ import annotations

from tap_core.urls.rewrite import rewrite_html, rewrite_text


def wrap(url: str) -> str | None:
    return "https://r.test/r/1.k.c.s?" + url if url.startswith("http") else None


def test_only_attribute_values_change() -> None:
    html = (
        '<html><head><style>a{color:red}</style></head>\n<body  class="x">'
        '<a title="a > b" href="http://a.example/?x=1&amp;y=2"  target=_blank>A</a>\n'
        "<A HREF='https://b.example/'>B</A> <a href=http://c.example/p>C</a>"
        '<a href="mailto:x@y.test">mail</a><a name="top">t</a>'
        "<script>document.write('<a href=\"http://d.example\">')</script></body></html>"
    )
    result = rewrite_html(html, wrap)
    assert [c[0] for c in result.changes] == [
        "http://a.example/?x=1&y=2", "https://b.example/", "http://c.example/p",
    ]
    expected = (
        html.replace('"http://a.example/?x=1&amp;y=2"', '"https://r.test/r/1.k.c.s?http://a.example/?x=1&amp;y=2"')
        .replace("'https://b.example/'", "'https://r.test/r/1.k.c.s?https://b.example/'")
        .replace("href=http://c.example/p", 'href="https://r.test/r/1.k.c.s?http://c.example/p"')
    )
    assert result.body == expected


def test_vml_buttons_in_conditional_comments() -> None:
    html = '<!--[if mso]><v:roundrect href="https://e.example/cta" arcsize="10%"><![endif]-->'
    result = rewrite_html(html, wrap)
    assert result.body == html.replace("https://e.example/cta", "https://r.test/r/1.k.c.s?https://e.example/cta")


def test_nothing_to_change_returns_identical_body() -> None:
    html = "<p>No links <b>here</b></p>"
    result = rewrite_html(html, wrap)
    assert result.body == html and not result.changed


def test_text_spans_replaced_in_place() -> None:
    text = "See https://a.example/x, and (https://b.example/y). mailto:me@x.test"
    spans = [(text.index("https://a"), text.index(",")), (text.index("https://b"), text.index(")."))]
    result = rewrite_text(text, spans, wrap)
    assert result.body == (
        "See https://r.test/r/1.k.c.s?https://a.example/x, and (https://r.test/r/1.k.c.s?https://b.example/y)."
        " mailto:me@x.test"
    )
