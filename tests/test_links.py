"""Signed click-time links: readable destination, encrypted context, constant-time verification."""

from __future__ import annotations

import os

import pytest

from tap_core.urls.links import (
    LinkCodec,
    LinkContext,
    LinkError,
    LinkKeyring,
    decode_link,
    message_ref,
)

TENANT = "a1b2c3d4-1111-2222-3333-444455556666"


@pytest.fixture
def codec() -> LinkCodec:
    return LinkCodec("https://tap.contoso.test/api/r", LinkKeyring({"k1": os.urandom(32)}, "k1"))


def ctx(recipient: str = "jane.doe@contoso.test") -> LinkContext:
    return LinkContext(TENANT, recipient, message_ref("<m1@contoso.test>"))


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "https://example.com/login?next=/a&b=c",
        "http://xn--bcher-kva.example/path%20with%20space?q=%E2%82%AC",
        "https://example.com/a?x=1#section-2",
        "ftp://files.example.net/pub/file.txt",
    ],
)
def test_destination_readable_and_decodable_without_key(codec: LinkCodec, url: str) -> None:
    link = codec.wrap(url, ctx())
    assert link.startswith("https://tap.contoso.test/api/r/1.k1.")
    assert url.split("#")[0] in link  # readable as written
    assert decode_link(link) == url
    verified = codec.verify(link)
    assert verified.url == url.split("#")[0]
    assert verified.context.recipient == "jane.doe@contoso.test"
    assert verified.context.tenant_id == TENANT


def test_nothing_personal_readable(codec: LinkCodec) -> None:
    link = codec.wrap("https://example.com/", ctx("someone.private@contoso.test"))
    lowered = link.removeprefix(codec.base_url).lower()
    for secret in ("someone", "private", "contoso.test", TENANT, "a1b2c3d4"):
        assert secret not in lowered


@pytest.mark.parametrize(
    "tamper",
    [
        lambda link: link.replace("example.com", "evil.example"),
        lambda link: link + "&extra=1",
        lambda link: link.replace(".k1.", ".k2."),
        lambda link: link[: link.index("?") - 1] + ("A" if link[link.index("?") - 1] != "A" else "B")
        + link[link.index("?"):],
        lambda link: link.split("?")[0],
        lambda link: link.replace("/1.k1.", "/1.k1.AAAA"),
    ],
)
def test_tampered_links_refused(codec: LinkCodec, tamper) -> None:
    link = codec.wrap("https://example.com/account", ctx())
    with pytest.raises(LinkError):
        codec.verify(tamper(link))


def test_other_key_refused() -> None:
    a = LinkCodec("https://r.test/r", LinkKeyring({"k1": os.urandom(32)}, "k1"))
    b = LinkCodec("https://r.test/r", LinkKeyring({"k1": os.urandom(32)}, "k1"))
    link = a.wrap("https://example.com/", ctx())
    with pytest.raises(LinkError, match="signature"):
        b.verify(link)


def test_key_rotation_old_links_still_verify() -> None:
    old, new = os.urandom(32), os.urandom(32)
    before = LinkCodec("https://r.test/r", LinkKeyring({"old": old}, "old"))
    link = before.wrap("https://example.com/", ctx())
    after = LinkCodec("https://r.test/r", LinkKeyring({"new": new, "old": old}, "new"))
    assert after.verify(link).kid == "old"
    assert ".new." in after.wrap("https://example.com/", ctx())
    retired = LinkCodec("https://r.test/r", LinkKeyring({"new": new}, "new"))
    with pytest.raises(LinkError, match="unknown key"):
        retired.verify(link)


def test_expiry(codec: LinkCodec) -> None:
    link = codec.wrap("https://example.com/", LinkContext(TENANT, "a@b.test", b"", issued_at=1_000_000))
    assert codec.verify(link, max_age_seconds=3600, now=1_000_000 + 60).url == "https://example.com/"
    with pytest.raises(LinkError, match="expired"):
        codec.verify(link, max_age_seconds=3600, now=1_000_000 + 7200)


def test_never_wraps_own_links_twice(codec: LinkCodec) -> None:
    link = codec.wrap("https://example.com/", ctx())
    assert codec.is_own(link)
    assert codec.wrap(link, ctx()) == link
    assert not codec.is_own("https://tap.contoso.test/api/r/other?https://example.com/")


def test_deterministic_for_same_context(codec: LinkCodec) -> None:
    c = LinkContext(TENANT, "a@b.test", b"x" * 12, issued_at=123)
    assert codec.wrap("https://example.com/", c) == codec.wrap("https://example.com/", c)


def test_keyring_rejects_weak_keys() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        LinkKeyring({"k": b"short"}, "k")
    with pytest.raises(ValueError, match="key id"):
        LinkKeyring({"bad kid!": os.urandom(32)}, "bad kid!")


def test_decode_link_rejects_non_links() -> None:
    assert decode_link("https://example.com/?q=1") is None
    assert decode_link("https://tap.test/r/1.k1.short.sig?https://x") is None
