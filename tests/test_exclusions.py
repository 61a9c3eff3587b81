from __future__ import annotations

import pytest

from tap_core.urls.exclusions import ExclusionError, UrlExclusions


@pytest.mark.parametrize(
    ("entry", "url", "matches"),
    [
        ("contoso.com", "https://contoso.com/any/path?q=1", True),
        ("contoso.com", "http://contoso.com/", True),
        ("contoso.com", "https://www.contoso.com/", False),
        ("contoso.com", "https://evilcontoso.com/", False),
        ("contoso.com", "https://contoso.com.evil.net/", False),
        ("*.contoso.com", "https://contoso.com/", True),
        ("*.contoso.com", "https://a.b.contoso.com/x", True),
        ("*.contoso.com", "https://notcontoso.com/", False),
        ("contoso.com/help/*", "https://contoso.com/help/article?id=1", True),
        ("contoso.com/help/*", "https://contoso.com/login", False),
        ("https://portal.contoso.com/*", "http://portal.contoso.com/", False),
        ("https://portal.contoso.com/*", "https://portal.contoso.com/x", True),
        ("CONTOSO.com", "https://contoso.COM/", True),
        ("bücher.example", "https://xn--bcher-kva.example/", True),
        # The host as URLs are normalised (UTS #46): "ß" stays itself, it is not "ss".
        ("straße.example", "https://straße.example/", True),
        ("straße.example", "https://strasse.example/", False),
    ],
)
def test_match(entry: str, url: str, matches: bool) -> None:
    assert (UrlExclusions([entry]).match(url) == entry) is matches


@pytest.mark.parametrize("entry", ["", "con*toso.com", "javascript://x", "*"])
def test_bad_entries_explain(entry: str) -> None:
    with pytest.raises(ExclusionError):
        UrlExclusions([entry])
