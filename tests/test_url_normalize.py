"""normalize_url: browser-like parsing plus canonical forms for comparison."""

from __future__ import annotations

import random

import pytest

from tap_core.urls.normalize import NormalizedUrl, comparable_host, normalize_url


def norm(raw: str, base: str | None = None) -> NormalizedUrl:
    n = normalize_url(raw, base)
    assert n is not None, raw
    return n


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080", "http://example.com:8080/"),
        ("ftp://Files.Example.com:21/pub", "ftp://files.example.com/pub"),
        ("http://example.com./x", "http://example.com/x"),
        ("  http://example.com/\n", "http://example.com/"),
        ("http://exa\nmple.com/p\tath", "http://example.com/path"),
        ("http://example.com?", "http://example.com/"),
        ("http://example.com/#", "http://example.com/"),
    ],
)
def test_case_ports_and_empty_parts(raw: str, url: str) -> None:
    assert norm(raw).url == url


def test_idn_host_is_punycode_with_unicode_display() -> None:
    n = norm("http://Bücher.Example/straße?q=ü")
    assert n.host == "xn--bcher-kva.example"
    assert n.display_host == "bücher.example"
    assert n.url == "http://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%BC"
    assert n.display_url.startswith("http://bücher.example/")


def test_comparable_host_is_the_normalised_url_host() -> None:
    assert comparable_host("Bücher.Example.") == norm("http://Bücher.Example/").host
    assert comparable_host("Straße.DE") == "xn--strae-oqa.de"  # UTS #46, not IDNA 2003
    assert comparable_host("Example.COM.") == "example.com"
    assert comparable_host("a\ufffd.com") is None  # refused by browsers


def test_punycode_input_gets_unicode_display() -> None:
    n = norm("http://xn--e1aybc.xn--p1ai/")
    assert n.display_host == "тест.рф"
    assert n.url == "http://xn--e1aybc.xn--p1ai/"


def test_fullwidth_dots_separate_labels() -> None:
    assert norm("http://hoho．example。com#t").url == "http://hoho.example.com/#t"


def test_labels_idna2008_rejects_fall_back_like_browsers() -> None:
    # U+272A is disallowed by IDNA2008 but browsers encode it (UTS #46 non-strict)
    assert norm("http://✪df.ws/123").host == "xn--df-oiy.ws"
    assert norm("http://my_host.example.com").host == "my_host.example.com"


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("http://1113515555/", "66.94.230.35"),
        ("http://0x3f8f29a4/pro", "63.143.41.164"),
        ("http://0xc0.052000001", "192.168.0.1"),
        ("http://0.0xFFFFFF", "0.255.255.255"),
        ("http://192.168.0.1./", "192.168.0.1"),
        ("http://%30%78%63%30%2e%30%32%35%30.01", "192.168.0.1"),
        ("https://[0:0::1]:8443/", "::1"),
        ("http://[::eeee:192.168.0.1]/", "::eeee:c0a8:1"),
    ],
)
def test_ip_hosts_in_every_spelling(raw: str, host: str) -> None:
    assert norm(raw).host == host


def test_ipv6_url_keeps_brackets() -> None:
    n = norm("https://user:pw@[::1]:8443/x")
    assert n.url == "https://user:pw@[::1]:8443/x"
    assert n.port == 8443


def test_backslashes_and_extra_slashes_as_browsers_read_them() -> None:
    assert norm("https:\\\\evil.example\\a\\b").url == "https://evil.example/a/b"
    assert norm("http:/\\www.google.com/foo?bar=baz#").url == "http://www.google.com/foo?bar=baz"
    assert norm("http:////////user:@google.com:99?foo").host == "google.com"


def test_percent_encoding_is_canonical() -> None:
    n = norm("http://example.com/%7euser/%41b%2fc?x=%2a%61 b#frag%7E")
    assert n.path == "/~user/Ab%2Fc"
    assert n.query == "x=%2Aa%20b"
    assert n.fragment == "frag~"
    # a stray "%" is left alone, as browsers do
    assert norm("http://example.com/100%zz").path == "/100%zz"


def test_dot_segments_removed() -> None:
    assert norm("http://x.example/a/./b/../c/%2e%2E/d").path == "/a/d"
    assert norm("http://x.example/a/b/..").path == "/a/"


def test_userinfo_kept_for_heuristics() -> None:
    n = norm("https://www.bank.example@evil.example/login")
    assert n.host == "evil.example"
    assert n.userinfo == "www.bank.example"
    assert n.url == "https://www.bank.example@evil.example/login"
    assert norm("http://@example.com").userinfo is None


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("hxxp://evil.example/x", "http://evil.example/x"),
        ("hXXps://evil[.]example/x", "https://evil.example/x"),
        ("https[:]//evil(.)example", "https://evil.example/"),
        ("hxxp[://]evil[.]example", "http://evil.example/"),
        ("fxp://files[.]example", "ftp://files.example/"),
        ("evil[dot]example/path", "http://evil.example/path"),
    ],
)
def test_defanged_forms_are_rearmed_and_flagged(raw: str, url: str) -> None:
    n = norm(raw)
    assert n.url == url
    assert n.defanged


def test_plain_url_not_flagged_defanged() -> None:
    assert not norm("https://example.com/a").defanged


@pytest.mark.parametrize(
    ("ref", "base", "url"),
    [
        ("../x/./y?q#f", "https://Ex.com/a/b/c", "https://ex.com/a/x/y?q#f"),
        ("page.html", "http://x.example/dir/file?x", "http://x.example/dir/page.html"),
        ("?q=1", "http://x.example/a", "http://x.example/a?q=1"),
        ("#top", "http://x.example/a?b", "http://x.example/a?b#top"),
        ("//cdn.example/a", "https://x.example/", "https://cdn.example/a"),
        ("/root", "https://x.example/a/b", "https://x.example/root"),
        ("https://other.example/", "https://x.example/", "https://other.example/"),
    ],
)
def test_relative_references_resolve_against_base(ref: str, base: str, url: str) -> None:
    assert norm(ref, base).url == url


def test_schemeless_input_reads_as_http() -> None:
    assert norm("www.Example.com/x").url == "http://www.example.com/x"
    assert norm("example.com:8080/x").url == "http://example.com:8080/x"
    assert norm("//example.com/x").url == "http://example.com/x"


@pytest.mark.parametrize(
    ("raw", "scheme", "host"),
    [
        ("MAILTO:Someone@Exämple.com?subject=hi", "mailto", "xn--exmple-cua.com"),
        ("tel:+1-555-0100", "tel", ""),
        ("cid:image001.png@01D9", "cid", ""),
        ("javascript:alert(1)", "javascript", ""),
        ("data:text/html;base64,PHNjcmlwdD4=", "data", ""),
        ("file:///C:/Users/x.txt", "file", ""),
        ("smb://fileserver\\share\\doc", "smb", "fileserver"),
    ],
)
def test_other_schemes_recognised(raw: str, scheme: str, host: str) -> None:
    n = norm(raw)
    assert n.scheme == scheme
    assert n.host == host
    assert not n.is_web


def test_empty_password_and_userinfo_dropped_as_browsers_do() -> None:
    assert norm("http://a:@www.example.com").url == "http://a@www.example.com/"
    assert norm("http://:@www.example.com").userinfo is None
    assert norm("https://www.bank.example:@evil.example").userinfo == "www.bank.example"


def test_reference_edge_cases_with_base() -> None:
    base = "http://example.org/foo/bar?x"
    assert norm("", base).url == "http://example.org/foo/bar?x"
    assert norm("#a\\b", base).url == "http://example.org/foo/bar?x#a\\b"


def test_mailto_is_opaque_and_web_is_not() -> None:
    assert norm("mailto:a@b.example").is_opaque
    assert norm("https://b.example").is_web
    assert norm("mailto:a@Exämple.com").url == "mailto:a@xn--exmple-cua.com"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "http://",
        "http://.example.com",
        "http://x..example",
        "http://example.com:99999/",
        "http://foo:-80/",
        "http://user:pass@/",
        "http://1.2.3.400/",
        "http://example.123/",
        "http://[not-ipv6]/",
        "http://exa mple.com/",
        "http://exa<mple.com/",
        "http://[::%31]/",
        "https://\ufffd/",
        "http://\ufdd0zyx.com/",
        "/relative/path",
        "#fragment",
        "keyword:sportscar",
        "ssh://host.example",
        "mailto:",
    ],
)
def test_not_urls_give_none(raw: str) -> None:
    assert normalize_url(raw) is None


def test_never_raises_on_noise() -> None:
    rng = random.Random(1234)  # noqa: S311 - reproducible junk, not security
    alphabet = "hxtps:/\\[]().@%#?&=-_~0123456789abcdefXYZ\u00e9\u2603\u3002\ud800 \t\n"
    for _ in range(3000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        r = normalize_url(s)
        assert r is None or r.url.isascii() or r.scheme not in ("http", "https")


def test_result_is_ascii_for_web_urls() -> None:
    n = norm("https://пример.испытание/путь?ключ=значение#фрагмент")
    assert n.url.isascii()
    assert n.display_host == "пример.испытание"


def test_the_fast_path_gives_what_the_general_parser_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    # normalize_url takes a short cut for plain URLs (and the compiled scanner the same one);
    # on seeded random URLs around its edges both must give the general parser's answer.
    from tap_core.urls import normalize

    class _Never:
        def fullmatch(self, _text: str) -> None:
            return None

    rnd = random.Random(11)  # noqa: S311 - seeded test data
    schemes = ["http://", "https://", "HTTP://", "ftp://", "Ftp://", "", "//", "hxxp://"]
    hosts = ["example.com", "a.b.co.uk", "localhost", "x", "1.2.3.4", "999", "0x7f.1",
             "a_b.com", "xn--bcher-kva.de", "XN--ls8h.la", "a..b", "ex-ample.COM", "bücher.de",
             "例え。jp", "Тест.Рф", "✪df.ws", "a\u200bb.com", "ｅｘａｍｐｌｅ．ｃｏｍ", "x\uff0fy.com",
             "straße.de", "\ufffd.com"]
    ports = ["", ":80", ":443", ":21", ":8080", ":0080", ":65535", ":65536", ":99999", ":"]
    chars = "abcXYZ019/.-_~!$&'()*+,;=:@[]{}|^`\"<>%?#\\ "
    # defanged dots and colons are re-armed by the general parser: never on the fast path
    tokens = ["[.]", "(.)", "[dot]", "(DOT)", "{.}", "[:]", "(:)", "(x)", "[y]"]
    urls = []
    for _ in range(5000):
        path = "".join(rnd.choice(chars) if rnd.random() < 0.85 else rnd.choice(tokens)
                       for _ in range(rnd.randint(0, 12)))
        if path and path[0] not in "/?#" and rnd.random() < 0.7:
            path = "/" + path
        urls.append(rnd.choice(schemes) + rnd.choice(hosts) + rnd.choice(ports) + path)
    normalize.clear_caches()
    fast = [normalize_url(u) for u in urls]
    monkeypatch.setattr(normalize, "_FAST_URL_RE", _Never())
    normalize.clear_caches()
    general = [normalize_url(u) for u in urls]
    normalize.clear_caches()
    assert fast == general
