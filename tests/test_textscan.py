"""The plain-text URL scanner on edge cases and seeded random texts made of the pieces URLs and
prose are made of (these once held a compiled twin to it, removed for saving nothing on a whole
scan): every URL comes from the text, reads as the normaliser reads it, and the limit holds.
"""

from __future__ import annotations

import random

import pytest

from tap_core.urls.extract import text_urls
from tap_core.urls.normalize import normalize_url


def _check(text: str, limit: int = 5000) -> list[tuple[str, object]]:
    pairs = list(text_urls(text, limit=limit))
    assert len(pairs) <= limit
    for raw, n in pairs:
        assert raw and raw in text, (text, raw)
        if not n.defanged:
            assert n == normalize_url(raw), (text, raw)
    return pairs


EDGE_CASES = [
    "",
    "no links here at all",
    "see http://example.com/a, and www.foo.co.uk/x. also evil[.]com and mailto:a@b.com",
    "hxxps[://]bad[.]example/x h**p://x.y.com/ fxp://files.example.org/a",
    "HTTPS://EXAMPLE.COM:443/Path?Q=1#F http://example.com:8080 ftp://example.com:21/x",
    "http://user:pass@example.com/ http://@@example.com http://a@b@c.com/",
    "(see example.com/path) [http://x.org/a_(b)] {http://y.org/}",
    "'http://quoted.example/'  \"http://dq.example/x\"  `http://bt.example`",
    "name.first@example.com write to a.b@c.co.uk, or mailto:a@b@c",
    "file.txt main.py report.zip/x v1.2.3 10.0.0.1 10.0.0.1/login 10.0.0.1:8080",
    "http://exampleこれは日本語です.com/path http://例え.jp/ twitter.jp日本語it.so",
    "http://bücher.de/ президент.рф http://✪df.ws/123 http://xn--bcher-kva.de",
    "http://example。com#test http://hoho．example。com/ www．example．com",
    "https://[::1]:1/ http:/\\[::eeee:192.168.0.1]/#x https:\\\\127.0.0.1/abc",
    "http://a.-b.com http://a-.b.com http://x..y.com http://leadingdash.-x.com",
    "text http://xo.com/~matthew+%ff-,.;x http://a.com/%41%zz",
    "ſhttp://x.com httpſ://long-s.example.com/ maılto:a@b.com",
    "end with punctuation http://example.com/x?!... (http://example.com/y)).",
    "a" * 300 + ".com " + "x.y" * 2000,
    "\u202ehttp://rtl.example.com/\u202c \u200bhttp://zw.example.com\ufeff",
    "http://a.b[dot]com http://a(DOT)b.com http://intranet/ http://x.0x1f/ http://1.2.3.4/",
    "http://a-.b.com/ http://-a.b.com/ http://a.b-/ http://Ｅｘａｍｐｌｅ．ｃｏｍ/ http://ab_c.com/",
    "http://" + "a" * 64 + ".com/ http://bücher.de:8080/x http://例え.テスト/ http://0X7F.1/",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases(text: str) -> None:
    _check(text)


_PIECES = [
    "http://", "https://", "HTTP://", "hxxp://", "h**p://", "hxxps[://]", "ftp://", "FTP://",
    "fxp://", "ftp[:]//", "mailto:", "mailto://", "www.", "example", ".com", ".co.uk", ".de",
    ".jp", ".xyz", ".app", ".zip", ".py", "[.]", "(.)", "{.}", "[dot]", "(dot)", ".", "..",
    "-", "--", "_", "@", "a@b", "/", "//", "\\", "?q=1", "#f", "%41", "%zz", ":8080", ":80",
    ":443", ":0080", ":99999", ":", "(", ")", "[", "]", "{", "}", '"', "'", "`", "<", ">", ",",
    ";", "!", "…", "*", " ", "\n", "\t", "\u3000", "例え", "日本語", "。", "．", "ｃｏｍ",
    "\u200b", "ſ", "ı", "İ", "\u0663", "1.2.3.4", "0x7f", "127.0.0.1", "xn--bcher-kva",
    "bücher", "straße", "main", "user.name", "x", "A", "github.io", "evil", "ü", "\u202e",
    "\ufeff", "\x00", "\x1c", "1", "22", "333",
    "eur01.safelinks.protection.outlook.com/?url=http%3A%2F%2Fevil.com%2F&data=1",
    "urldefense.com/v3/__http://evil.com/x__;!!abc", "www.google.com/url?q=http://evil.com/",
    "lnkd.in/abc", "l.facebook.com/l.php?u=http%3A%2F%2Fx.com", "google",
]


def test_random_texts() -> None:
    rnd = random.Random(20261130)  # noqa: S311 - seeded test data
    found = 0
    for _ in range(5_000):
        text = "".join(rnd.choice(_PIECES) for _ in range(rnd.randint(1, 14)))
        found += len(_check(text))
    assert found > 1000  # the pieces do make URLs


def test_the_url_limit_holds() -> None:
    text = " ".join(f"http://host{i}.example.com/" for i in range(50))
    assert len(_check(text, limit=7)) == 7
