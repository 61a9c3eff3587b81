"""URL extraction from text and HTML (fixtures are built here, not copied); attachments: see
tests/attachments/test_urls.py."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tap_core.urls.extract import (
    dedupe,
    extract_html,
    extract_text,
    group_by_url,
)
from tap_core.urls.model import FoundUrl


def raws(text: str) -> list[str]:
    return [f.raw for f in extract_text(text, "body.text")]


def urls(found: list[FoundUrl]) -> list[str]:
    return [f.url for f in found]


# -- plain text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("See http://example.com for more", ["http://example.com"]),
        ("HTTPS://Example.COM/Path?q=1#frag", ["HTTPS://Example.COM/Path?q=1#frag"]),
        ("visit www.example.co.uk/offers today", ["www.example.co.uk/offers"]),
        ("mirror at example.com or foo.net", ["example.com", "foo.net"]),
        ("ftp://files.example.org/pub/x.tgz", ["ftp://files.example.org/pub/x.tgz"]),
        ("go http://user:pw@intranet:8080/x", ["http://user:pw@intranet:8080/x"]),
        ("http://192.168.1.20:8080/admin and http://[2001:db8::1]/x",
         ["http://192.168.1.20:8080/admin", "http://[2001:db8::1]/x"]),
        ("президент.рф and http://bücher.example/", ["президент.рф", "http://bücher.example/"]),
    ],
)
def test_text_urls_found_verbatim(text: str, expected: list[str]) -> None:
    assert raws(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("End of sentence http://example.com/a.", ["http://example.com/a"]),
        ("Really? http://example.com/a?!", ["http://example.com/a"]),
        ("list: http://a.example/x, http://b.example/y;", ["http://a.example/x", "http://b.example/y"]),
        ("(see http://example.com/foo)", ["http://example.com/foo"]),
        ("http://en.wikipedia.org/wiki/Primer_(film)", ["http://en.wikipedia.org/wiki/Primer_(film)"]),
        ("[example.com/foo_bar.jpg)]", ["example.com/foo_bar.jpg"]),
        ("<http://example.com/x>.", ["http://example.com/x"]),
        ("'http://example.com/q' and \"http://example.org/d\"",
         ["http://example.com/q", "http://example.org/d"]),
        ('<a href="https://www.example.com/">x</a>', ["https://www.example.com/"]),
        ("[click](https://www.ibm.com)[mail](mailto:someone@ibm.com)",
         ["https://www.ibm.com", "mailto:someone@ibm.com"]),
        ("http://example.com/foo_bar...", ["http://example.com/foo_bar"]),
        ("GOOGLE.COM.", ["GOOGLE.COM"]),
    ],
)
def test_trailing_punctuation_and_enclosures(text: str, expected: list[str]) -> None:
    assert raws(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "write to name@example.com today",
        "192.168.1.1@gmail.com",
        "open report.pdf and setup.exe then archive.zip or main.py",
        "version 1.2.3.4 released",
        "node.js and io.js",
        "example.invalid foo.baz",
        "http://.example.com http://-example.com",
        "http://example.com_",
        "xyz..broken.example.com",
        "/usr/local/lib/python.py",
        "google.com:500000",
        "e.g. this, i.e. that",
    ],
)
def test_text_not_urls(text: str) -> None:
    assert raws(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the host ends on a character that makes it invalid: no URL, not a shortened one
        ("test http://leadingdash.-twitter.com", []),
        ("test http://trailingdash-.twitter.com", []),
        ("http://xyz..example.com", []),
        ("see http://example.com-that-was-no-space", []),
        # but dashes and dots after a host are just punctuation
        ("-----http://www.example.com----------", ["http://www.example.com"]),
        ("see http://example.com... really", ["http://example.com"]),
        # "_" may appear in subdomains, never in the registrable label
        ("http://my_host.example.com/x http://bad_name.com/", ["http://my_host.example.com/x"]),
        ("http://xn--はじめよう.com/index.html", []),
        ("http://" + "a" * 64 + ".com/", []),
    ],
)
def test_explicit_host_shape(text: str, expected: list[str]) -> None:
    assert raws(text) == expected


def test_explicit_scheme_hosts_browsers_accept() -> None:
    found = extract_text("http://✪df.ws/123 http://%65vil.example/x http://0x7f.1/ http://intranet/",
                         "t")
    assert [f.url for f in found] == [
        "http://xn--df-oiy.ws/123", "http://evil.example/x", "http://127.0.0.1/", "http://intranet/",
    ]


def test_idn_host_written_in_cjk_and_cjk_prose() -> None:
    assert raws("http://例え.jp/パス and http://exampleこれは.com/x") == [
        "http://例え.jp/", "http://exampleこれは.com/x"
    ]
    assert raws("test http://example.comだよね.comtest/hogehoge") == ["http://example.com"]


def test_protocol_relative_and_short_ipv4_forms() -> None:
    assert raws("<script src='//www.example.com/a.js'>") == ["//www.example.com/a.js"]
    assert raws("hppt://example.com") == []
    assert raws("PRODID:Microsoft 70.9054//EN") == []  # a number, not a typed address


def test_email_local_parts_are_not_domains() -> None:
    assert raws("name.al+lastname@foo.com and www.foo:bar@host.com") == []


def test_file_like_tld_needs_a_path() -> None:
    assert raws("download archive.zip/payload") == ["archive.zip/payload"]
    assert raws("bare 10.0.0.1 vs 10.0.0.1/login") == ["10.0.0.1/login"]


def test_defanged_urls_found_and_flagged() -> None:
    found = extract_text("IOC: hxxps://evil[.]example/login and bad[.]example[.]org", "body.text")
    assert [f.raw for f in found] == ["hxxps://evil[.]example/login", "bad[.]example[.]org"]
    assert [f.url for f in found] == ["https://evil.example/login", "http://bad.example.org/"]
    assert {f.context for f in found} == {"text_defanged"}


def test_cjk_text_ends_urls() -> None:
    text = "詳細はhttps://example.com/pathをご覧ください。twitter.comこれは"
    assert raws(text) == ["https://example.com/path", "twitter.com"]


def test_raw_spans_are_exact_substrings_in_order() -> None:
    text = "A http://a.example/x. B (www.b-site.com/y) C <https://c.example> D c-site.org"
    found = extract_text(text, "body.text")
    pos = 0
    for f in found:
        i = text.index(f.raw, pos)
        pos = i + len(f.raw)
    assert urls(found) == ["http://a.example/x", "http://www.b-site.com/y", "https://c.example/",
                           "http://c-site.org/"]


def test_text_idn_display_and_ascii_url() -> None:
    (f,) = extract_text("http://пример.рф/путь", "body.text")
    assert f.url == "http://xn--e1afmkfd.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C"
    assert f.display_url.startswith("http://пример.рф/")


def test_text_urls_are_unwrapped() -> None:
    wrapped = ("https://nam12.safelinks.protection.outlook.com/?url="
               + quote("https://evil.example/x", safe="") + "&data=1&reserved=0")
    (f,) = extract_text(f"Click {wrapped} now", "body.text")
    assert f.raw == wrapped
    assert f.url == "https://evil.example/x"
    assert f.wrappers == ["safelinks"]
    assert f.wrapped_url is not None and f.wrapped_url.startswith("https://nam12.")


def test_text_max_urls() -> None:
    text = " ".join(f"http://h{i}.example/" for i in range(50))
    assert len(extract_text(text, "t", max_urls=7)) == 7


# -- HTML ---------------------------------------------------------------------------------------

HTML = """<html><head>
<base href="https://base.example/dir/">
<style>.x { background: url('https://css.example/bg.png') }</style>
<meta http-equiv="refresh" content="0; URL='https://meta.example/next'">
</head><body>
<a href="rel/page.html?a=1&amp;b=2">Click
   <b>here</b>   now</a>
<a href="https://www.paypal.example.net/"><img src="https://img.example/btn.png" alt="PayPal  Login"></a>
<map><area href="https://area.example/" alt="Region"></map>
<div style="background-image:url(https://style.example/a.png)">Visit www.typed.example.com today</div>
<form action="/collect"><input name="p"><button formaction="https://steal.example/f">Go</button></form>
<iframe src="//frame.example/f"></iframe>
<object data="https://object.example/o.swf"></object>
<embed src="https://embed.example/e">
<a href="javascript:alert(1)">js</a>
<a href="mailto:help@example.com">mail</a>
</body></html>"""


def test_html_link_kinds_and_contexts() -> None:
    found = extract_html(HTML, "body.html")
    got = [(f.context, f.url) for f in found]
    assert got == [
        ("base_href", "https://base.example/dir/"),
        ("css_url", "https://css.example/bg.png"),
        ("meta_refresh", "https://meta.example/next"),
        ("a_href", "https://base.example/dir/rel/page.html?a=1&b=2"),
        ("a_href", "https://www.paypal.example.net/"),
        ("img_in_link", "https://img.example/btn.png"),
        ("area_href", "https://area.example/"),
        ("css_url", "https://style.example/a.png"),
        ("form_action", "https://base.example/collect"),
        ("form_action", "https://steal.example/f"),
        ("iframe_src", "https://frame.example/f"),
        ("object_data", "https://object.example/o.swf"),
        ("embed_src", "https://embed.example/e"),
        ("a_href", "javascript:alert(1)"),
        ("a_href", "mailto:help@example.com"),
        ("html_text", "http://www.typed.example.com/"),
    ]


def test_html_link_text_and_raw() -> None:
    found = {f.url: f for f in extract_html(HTML, "body.html")}
    first = found["https://base.example/dir/rel/page.html?a=1&b=2"]
    assert first.link_text == "Click here now"
    assert first.raw == "rel/page.html?a=1&b=2"  # entity-decoded attribute value
    assert found["https://www.paypal.example.net/"].link_text == "PayPal Login"  # img alt
    assert found["https://area.example/"].link_text == "Region"
    assert found["https://frame.example/f"].link_text is None


def test_html_relative_links_without_base() -> None:
    html = """<a href="#top">t</a><a href="/path">p</a><a href="./page.html">r</a>
    <a href="page.html">r</a><a href="www.example.com/x">w</a><a href="//cdn.example/y">c</a>
    <a href="user.name@example.com">m</a><a href="  https://spaced.example/  ">s</a>"""
    assert urls(extract_html(html, "b")) == [
        "http://www.example.com/x",
        "http://cdn.example/y",
        "mailto:user.name@example.com",
        "https://spaced.example/",
    ]


def test_html_wrapped_link_and_own_decoder() -> None:
    own = "https://click.tap365.example/r/https:~~dest.example~x"
    wrapped = ("https://eur01.safelinks.protection.outlook.com/?url="
               + quote("https://evil.example/", safe="") + "&amp;data=1")

    def decoder(url: str) -> str | None:
        prefix = "https://click.tap365.example/r/"
        return url[len(prefix):].replace("~", "/") if url.startswith(prefix) else None

    found = extract_html(f'<a href="{own}">a</a><a href="{wrapped}">b</a>', "body.html",
                         own_link_decoder=decoder)
    assert [(f.url, f.wrappers) for f in found] == [
        ("https://dest.example/x", ["tap365"]),
        ("https://evil.example/", ["safelinks"]),
    ]


def test_html_defanged_href_is_flagged() -> None:
    (f,) = extract_html('<a href="hxxps://evil[.]example/x">x</a>', "b")
    assert (f.context, f.url) == ("a_href_defanged", "https://evil.example/x")


def test_html_text_inside_svg_is_prose() -> None:
    found = extract_html("<svg><text>go to www.example.com now</text></svg>", "b")
    assert [(f.context, f.url) for f in found] == [("html_text", "http://www.example.com/")]


def test_html_data_images_skipped_but_data_links_kept() -> None:
    html = ('<a href="data:text/html;base64,PHNjcmlwdD4="><img src="data:image/png;base64,AAAA"></a>'
            '<p style="background:url(data:image/gif;base64,R0lG)">x</p>')
    assert [f.context for f in extract_html(html, "b")] == ["a_href"]


def test_html_text_can_be_disabled_and_malformed_html_is_fine() -> None:
    assert extract_html("<p>see www.example.com</p>", "b", include_text=False) == []
    broken = "<a href='http://x.example/\x00'><<<<div><a href=\"https://y.example\"><table></p>"
    # the HTML parser may re-open the unclosed <a> (adoption agency): same URLs, maybe twice
    assert set(urls(extract_html(broken, "b"))) == {"http://x.example/%EF%BF%BD", "https://y.example/"}
    assert extract_html("", "b") == []


# -- dedupe -------------------------------------------------------------------------------------


def test_dedupe_and_grouping_keep_first_order() -> None:
    found = extract_text(
        "http://b.example/ then HTTP://A.example and http://b.example:80/ and http://a.example/",
        "body.text",
    )
    assert urls(dedupe(found)) == ["http://b.example/", "http://a.example/"]
    groups = group_by_url(found)
    assert list(groups) == ["http://b.example/", "http://a.example/"]
    assert [f.raw for f in groups["http://b.example/"]] == ["http://b.example/", "http://b.example:80/"]
