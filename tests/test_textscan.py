"""The compiled plain-text scanner (tap_core/urls/_textscan.pyx) against the Python one.

``extract_text`` uses the compiled scanner when pip built it, so every extraction test runs
through it; these tests hold it to the Python scanner, the reference, on the same inputs:
hand-picked edge cases and seeded random texts made of the pieces URLs and prose are made of.
"""

from __future__ import annotations

import random

import pytest

from tap_core.urls import extract
from tap_core.urls.normalize import normalize_url

_textscan = extract._textscan


def test_the_compiled_scanner_is_built() -> None:
    # `make install` builds it (it needs gcc and the Python headers, on every CI machine);
    # without it extraction still works, through the Python scanner, several times slower.
    assert _textscan is not None, (
        "tap_core.urls._textscan is not built: install gcc and the Python headers, then "
        "run `make install` again"
    )


def _python(text: str, limit: int = 5000) -> list[tuple[str, object]]:
    return list(extract._scan_text_python(text, schemes_only=False, limit=limit))


def _compiled(text: str, limit: int = 5000) -> list[tuple[str, object]]:
    assert _textscan is not None
    return list(_textscan.scan_text(text, limit))


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
def test_same_urls_as_the_python_scanner_on_edge_cases(text: str) -> None:
    assert _textscan is not None
    assert _compiled(text) == _python(text)


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


def test_same_urls_as_the_python_scanner_on_random_texts() -> None:
    assert _textscan is not None
    rnd = random.Random(20261130)  # noqa: S311 - seeded test data
    for _ in range(20_000):
        text = "".join(rnd.choice(_PIECES) for _ in range(rnd.randint(1, 14)))
        assert _compiled(text) == _python(text), text


def test_same_found_urls_as_extract_text_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    # extract_text hands the whole job to the compiled module (FoundUrl records included,
    # unwrapping through extract._found when a link may be wrapped): the same records.
    assert _textscan is not None
    rnd = random.Random(7)  # noqa: S311 - seeded test data
    texts = EDGE_CASES + [
        "".join(rnd.choice(_PIECES) for _ in range(rnd.randint(1, 10))) for _ in range(5000)
    ]
    compiled = [extract.extract_text(t, "body.text") for t in texts]
    monkeypatch.setattr(extract, "_textscan", None)
    python = [extract.extract_text(t, "body.text") for t in texts]
    assert compiled == python
    assert any(f.wrappers for found in compiled for f in found)  # unwrapping was exercised


def test_the_url_limit_is_the_same() -> None:
    assert _textscan is not None
    text = " ".join(f"http://host{i}.example.com/" for i in range(50))
    assert _compiled(text, limit=7) == _python(text, limit=7)
    assert len(_compiled(text, limit=7)) == 7


def test_fast_path_urls_equal_the_normaliser_result() -> None:
    # The compiled scanner builds plain URLs itself; they must be what normalize_url gives.
    assert _textscan is not None
    text = "http://Example.COM:8080/a'b?x=1#y https://example.com:443 ftp://example.com/f x.co.uk"
    for raw, n in _compiled(text):
        assert n == normalize_url(raw)
