"""unwrap: real destinations behind gateway wrappers and named redirectors."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tap_core.urls.normalize import normalize_url
from tap_core.urls.unwrap import unwrap


def canon(url: str) -> str:
    n = normalize_url(url)
    assert n is not None
    return n.url


# Transcribed by hand from binref/refinery, test/units/pattern/test_urlguards.py
# (commit 520b57746329a52d3ef4a71df875b784796de588), 3-Clause BSD License,
# Copyright 2019 Jesko Hüttenhain. The Proofpoint cases originally come from Proofpoint's
# URL Decoder API documentation.
REFINERY_CASES = [
    (
        "https://urldefense.proofpoint.com/v2/url?u=http-3A__flug.de&d=QvLrbZ&c=9bHxBirl7V2BSNQqRIl"
        "Zm7QPNwtLyu7ZHB91-N5hDPk&r=8uoIV2slkgrz5DYvEV5xGmj5ibGk65FDGf7CywSLVkR&m=FhF882hCZdp8vB-uZd"
        "WzjR9Za-O_BkusWxxYolPiSCO&s=p8sGWK1qfzyeqyRjPjq1mrcScK4yzSdLsS24vqqfbGY&e=",
        "http://flug.de",
        ("proofpoint_v2",),
    ),
    (
        "https://urldefense.proofpoint.com/v1/url?u=http://www.bouncycastle.org/&amp;k=oIvRg1%2BdGA"
        "gOoM1BIlLLqw%3D%3D%0A&amp;r=IKM5u8%2B%2F%2Fi8EBhWOS%2BqGbTqCC%2BrMqWI%2FVfEAEsQO%2F0Y%3D%0A"
        "&amp;m=Ww6iaHO73mDQpPQwOwfLfN8WMapqHyvtu8jM8SjqmVQ%3D%0A&amp;s=d3583cfa53dade97025bc6274c6c"
        "8951dc29fe0f38830cf8e5a447723b9f1c9a",
        "http://www.bouncycastle.org/",
        ("proofpoint_v1",),
    ),
    (
        "https://urldefense.com/v3/__https://google.com:443/search?q=a*test&gs=ps__;Kw!-612Flbf0Jv"
        "Q3kNJkRi5Jg!Ue6tQudNKaShHg93trcdjqDP8se2ySE65jyCIe2K1D_uNjZ1Lnf6YLQERujngZv9UWf66ujQIQ$",
        "https://google.com:443/search?q=a+test&gs=ps",
        ("proofpoint_v3",),
    ),
    (
        "https://ctp.trendmicro.com/wis/clicktime/v2/clickthrough?url=https%3A%2F%2Femea01.safelink"
        "s.protection.outlook.com%2F%3Furl%3Dhttps%253A%252F%252Fearlyyears.register-me.uk%252F%26d"
        "ata%3D02%257C01%257C%257Ca33fd5f06d894aa2440608d688424db3%257Ca708279dde884b62956085a6be8c0"
        "8cc%257C0%257C0%257C636846215676444342%26sdata%3DFT9IDMzDty7e%252BHKSV4cKQCci8aXVAM8b7P9FTa"
        "e4n6o%253D%26reserved%3D0&uuid=2dd83146-2964-11e9-913a-02f49198539e&auth=31bbc6a83b73e1785"
        "39aa463ed38c9bab679818c-b4a3fff82d5c0bbc06a9f06593ed41a47737ef34",
        "https://earlyyears.register-me.uk/",
        ("trendmicro", "safelinks"),
    ),
]


@pytest.mark.parametrize(("wrapped", "original", "wrappers"), REFINERY_CASES)
def test_refinery_cases(wrapped: str, original: str, wrappers: tuple[str, ...]) -> None:
    r = unwrap(wrapped)
    assert r.url == canon(original)
    assert r.wrappers == wrappers
    assert r.opaque is None
    assert r.chain[0] == canon(wrapped)


def safelinks(url: str, host: str = "nam12.safelinks.protection.outlook.com") -> str:
    return f"https://{host}/?url={quote(url, safe='')}&data=05%7C02%7C%7C&sdata=abc%3D&reserved=0"


@pytest.mark.parametrize(
    "wrapper",
    [
        safelinks("https://evil.example/a?b=1&c=2"),
        safelinks("https://evil.example/a?b=1&c=2", "gcc02.safelinks.protection.office365.us"),
        "https://statics.teams.cdn.office.net/evergreen-assets/safelinks/1/atp-safelinks.html?url="
        + quote("https://evil.example/a?b=1&c=2", safe="")
        + "&locale=en-us",
    ],
)
def test_safe_links_variants(wrapper: str) -> None:
    r = unwrap(wrapper)
    assert r.url == "https://evil.example/a?b=1&c=2"
    assert r.wrappers == ("safelinks",)


def test_proofpoint_v3_single_and_run_length_tokens() -> None:
    # "*" takes one character, "**B" a run of three (run alphabet starts at A=2)
    wrapped = "https://urldefense.com/v3/__https://example.com/a**Bz*q__;eHl6IQ!!ABC!def$"
    assert unwrap(wrapped).url == "https://example.com/axyzz!q"


def test_proofpoint_v3_replacement_is_counted_in_characters() -> None:
    wrapped = "https://urldefense.com/v3/__https://example.com/caf*__;w6k!!x$"
    assert unwrap(wrapped).url == "https://example.com/caf%C3%A9"


def test_proofpoint_v3_without_replacements_and_single_slash() -> None:
    assert unwrap("https://urldefense.com/v3/__https:/example.com/x__;!!abc$").url == (
        "https://example.com/x"
    )


def test_proofpoint_v3_corrupt_is_opaque_not_wrong() -> None:
    r = unwrap("https://urldefense.com/v3/__https://example.com/***__;QQ!!x$")
    assert r.opaque == "proofpoint_v3"
    assert r.wrappers == ()


def test_proofpoint_v2_translation() -> None:
    wrapped = (
        "https://urldefense.proofpoint.com/v2/url?u=https-3A__media.example.com_a_b-2Dc.jpg-3Fx-3D1"
        "&d=DwMBaQ&c=x&r=y&m=z&s=w&e="
    )
    assert unwrap(wrapped).url == "https://media.example.com/a/b-c.jpg?x=1"


def test_nested_safelinks_around_proofpoint() -> None:
    inner = "https://urldefense.proofpoint.com/v2/url?u=http-3A__flug.de_x&d=a&c=b"
    r = unwrap(safelinks(inner))
    assert r.url == "http://flug.de/x"
    assert r.wrappers == ("safelinks", "proofpoint_v2")
    assert len(r.chain) == 2


def test_max_depth_stops_unwrapping() -> None:
    url = "https://dest.example/"
    for _ in range(4):
        url = safelinks(url)
    r = unwrap(url, max_depth=2)
    assert r.wrappers == ("safelinks", "safelinks")
    assert r.url.startswith("https://nam12.safelinks.protection.outlook.com/")
    assert unwrap(url).url == "https://dest.example/"


@pytest.mark.parametrize(
    ("wrapped", "dest", "name"),
    [
        ("https://www.google.com/url?q=https://evil.example/x&sa=D&ust=1", "https://evil.example/x",
         "google"),
        ("https://www.google.co.uk/url?sa=t&url=https%3A%2F%2Fevil.example%2F&usg=AOv",
         "https://evil.example/", "google"),
        ("https://www.google.com/amp/s/evil.example/page", "https://evil.example/page", "google_amp"),
        ("https://www.bing.com/ck/a?!&&p=abc&u=a1aHR0cHM6Ly93d3cuZXhhbXBsZS5jb20vcGF0aD94PTE&ntb=1",
         "https://www.example.com/path?x=1", "bing"),
        ("https://l.facebook.com/l.php?u=https%3A%2F%2Fevil.example%2Fa&h=AT0x",
         "https://evil.example/a", "facebook"),
        ("https://www.linkedin.com/redir/redirect?url=https%3A%2F%2Fevil.example%2F&urlhash=x",
         "https://evil.example/", "linkedin"),
        ("https://linkprotect.cudasvc.com/url?a=https%3a%2f%2fevil.example%2fx&c=E,1,abc&typo=1",
         "https://evil.example/x", "barracuda"),
    ],
)
def test_named_redirectors(wrapped: str, dest: str, name: str) -> None:
    r = unwrap(wrapped)
    assert r.url == dest
    assert r.wrappers == (name,)


def test_google_search_is_not_a_redirect() -> None:
    r = unwrap("https://www.google.com/url?q=phishing+awareness")
    assert r.wrappers == ()
    assert r.opaque is None


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://protect-eu.mimecast.com/s/AbCdEfGhIj?domain=example.com", "mimecast"),
        ("https://protect2.mimecast.com/s/xyz", "mimecast"),
        ("https://url.uk.m.mimecastprotect.com/s/abc?domain=x.example", "mimecast"),
        ("https://www.linkedin.com/slink?code=gbT7Rzs", "linkedin"),
        ("https://lnkd.in/eXaMpLe", "linkedin"),
        ("https://nam12.safelinks.protection.outlook.com/?data=only", "safelinks"),
    ],
)
def test_opaque_wrappers_are_named_and_kept(url: str, name: str) -> None:
    r = unwrap(url)
    assert r.opaque == name
    assert r.url == canon(url)
    assert r.wrappers == ()


def test_generic_redirect_parameters_are_not_followed() -> None:
    url = "https://tracker.example/redirect?url=https%3A%2F%2Fevil.example%2F"
    r = unwrap(url)
    assert r.url == url
    assert not r.wrapped


def own_decoder(url: str) -> str | None:
    prefix = "https://click.tap365.example/r/"
    return url[len(prefix) :].replace("~", "/") if url.startswith(prefix) else None


def test_own_links_decoded_through_hook() -> None:
    r = unwrap("https://click.tap365.example/r/https:~~dest.example~x", own_link_decoder=own_decoder)
    assert r.url == "https://dest.example/x"
    assert r.wrappers == ("tap365",)


def test_own_link_inside_safelinks() -> None:
    wrapped = safelinks("https://click.tap365.example/r/https:~~dest.example~x")
    r = unwrap(wrapped, own_hosts=["click.tap365.example"], own_link_decoder=own_decoder)
    assert r.wrappers == ("safelinks", "tap365")
    assert r.url == "https://dest.example/x"


def test_own_host_without_decoding_is_opaque() -> None:
    r = unwrap("https://click.tap365.example/r/tampered", own_hosts=["click.tap365.example"])
    assert r.opaque == "tap365"
    r = unwrap("https://click.tap365.example/bad", own_hosts=["click.tap365.example"],
               own_link_decoder=own_decoder)
    assert r.opaque == "tap365"


def test_plain_and_invalid_inputs_pass_through() -> None:
    assert unwrap("https://Example.com").url == "https://example.com/"
    assert unwrap("not a url").url == "not a url"
    assert unwrap("mailto:a@b.example").url == "mailto:a@b.example"


def test_hostile_parameters_never_raise() -> None:
    for u in (
        "https://www.bing.com/ck/a?u=a1%%%%",
        "https://urldefense.com/v3/__x__;%%%!",
        "https://urldefense.proofpoint.com/v2/url?u=-ZZ-&d=1",
        safelinks("javascript:alert(1)"),
        "https://l.facebook.com/l.php?u=",
    ):
        unwrap(u)
