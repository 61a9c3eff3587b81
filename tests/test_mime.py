"""The message model from RFC 822: charsets, encodings, nesting, TNEF, malformed input."""

from __future__ import annotations

import base64
from pathlib import Path

from tap_core.parsing.mime import MimeLimits, looks_like_rfc822, parse_eml

FIXTURES = Path(__file__).parent / "fixtures" / "mail"


def test_multipart_alternative() -> None:
    m = parse_eml((FIXTURES / "01-newsletter-clean.eml").read_bytes(), "x")
    assert m.subject == "This week at Contoso"
    assert m.from_address is not None and m.from_address.address == "news@contoso.test"
    assert m.from_address.name == "Contoso News"
    assert [a.address for a in m.to] == ["adele@contoso.test"]
    assert m.html_body and "full story" in m.html_body
    assert m.text_body and "week-48" in m.text_body
    assert m.header("message-id") == "<newsletter-0001@contoso.test>"


def test_quoted_printable_latin1() -> None:
    m = parse_eml((FIXTURES / "06-internal-memo.eml").read_bytes())
    assert m.text_body is not None and "intranet.contoso.test/plans/q4" in m.text_body


def test_charsets_and_encoded_words() -> None:
    body = "Grüße aus Köln €".encode("iso-8859-15")
    raw = (
        b"From: =?utf-8?B?" + base64.b64encode("Jörg Müller".encode()) + b"?= <j@x.test>\r\n"
        b"Subject: =?iso-8859-1?Q?R=E9sum=E9?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-15\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(body) + b"\r\n"
    )
    m = parse_eml(raw)
    assert m.from_address is not None and m.from_address.name == "Jörg Müller"
    assert m.subject == "Résumé"
    assert m.text_body == "Grüße aus Köln €"


def test_unknown_charset_is_a_defect_not_a_crash() -> None:
    raw = b"Subject: x\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nhello \xff\r\n"
    m = parse_eml(raw)
    assert m.text_body is not None and m.text_body.startswith("hello")
    assert any("charset" in d for d in m.defects)


def test_nested_message_and_attachments() -> None:
    inner = b"From: a@inner.test\r\nSubject: inner\r\nContent-Type: text/html\r\n\r\n<a href='http://in.example/'>x</a>\r\n"
    raw = (
        b"From: outer@x.test\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\n\r\n" + inner +
        b"--B\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"%PDF-1.4 test") + b"\r\n--B--\r\n"
    )
    m = parse_eml(raw)
    assert m.text_body is not None and "see attached" in m.text_body
    assert len(m.attached_messages) == 1
    assert m.attached_messages[0].subject == "inner"
    assert m.attached_messages[0].html_body is not None and "in.example" in m.attached_messages[0].html_body
    assert [(a.name, a.data) for a in m.attachments] == [("a.pdf", b"%PDF-1.4 test")]


def test_depth_and_part_limits() -> None:
    msg = b"From: x@y.test\r\nSubject: leaf\r\n\r\nleaf\r\n"
    for i in range(6):
        msg = (f"Subject: level {i}\r\nContent-Type: message/rfc822\r\n\r\n").encode() + msg
    m = parse_eml(msg, limits=MimeLimits(max_depth=2))
    assert any("deeper than 2" in d for d in _all_defects(m))
    assert [(h.name, h.limit) for h in m.limits_reached] == [("limit_mime_depth", 2)]

    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\np\r\n" for _ in range(50))
    raw = b'Subject: many\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n' + parts + b"--B--\r\n"
    m = parse_eml(raw, limits=MimeLimits(max_parts=10))
    assert [(h.name, h.limit) for h in m.limits_reached] == [("limit_mime_parts", 10)]
    assert (m.text_body or "").count("p") < 10  # parsing stopped at the limit


def _all_defects(m) -> list[str]:
    out = list(m.defects)
    for n in m.attached_messages:
        out += _all_defects(n)
    return out


def test_garbage_never_raises() -> None:
    for data in (b"", b"\x00\xff" * 100, b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
                 b"From: <<<@@@>>>\r\nTo: ,,,,\r\nDate: not a date\r\n\r\nbody"):
        m = parse_eml(data, "garbage")
        assert m.source == "garbage"


def test_broken_base64_recorded() -> None:
    raw = b"Subject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ!!!\r\n"
    m = parse_eml(raw)
    assert m.text_body is not None and m.text_body.startswith("hello")


def test_smime_flags() -> None:
    raw = b'Subject: s\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary="S"\r\n\r\n--S\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--S--\r\n'
    assert parse_eml(raw).is_signed


def test_sniff() -> None:
    assert looks_like_rfc822(b"Return-Path: <a@b>\r\n")
    assert looks_like_rfc822(b"From someone Mon Jan 1\n")
    assert not looks_like_rfc822(b"%PDF-1.4")


def test_mbox_split() -> None:
    from tap_core.parsing.mime import split_mbox

    one = b"From: a@b.test\r\nSubject: s\r\n\r\nbody\r\n"
    assert split_mbox(one) == [one]
    box = b"From a@b Mon Jan  1 00:00:00 2004\nSubject: one\n\nbody\nFrom here on\n\nFrom c@d Tue Jan  2 00:00:00 2004\nSubject: two\n\nx\n"
    parts = split_mbox(box)
    assert [parse_eml(p).subject for p in parts] == ["one", "two"]


def test_undecodable_header_bytes_become_replacement_characters() -> None:
    raw = b"From: \xff\xfe Name <us\xe9r@example.test>\r\nSubject: caf\xe9 \xff\r\n\r\nbody\r\n"
    m = parse_eml(raw)
    for text in (m.subject, m.from_address.name if m.from_address else "", m.from_address.address if m.from_address else ""):
        text.encode("utf-8")  # no lone surrogates left
    assert all(v.encode("utf-8") for _, v in m.headers)


def test_headers_over_the_limit_are_read_leniently_not_with_the_quadratic_parser() -> None:
    from tap_core.model.message import Address
    from tap_core.parsing.mime import MimeLimits

    many = ", ".join(f'"=?UTF-8?B?w6k=?= {i}" <u{i}@d.example>' for i in range(20_000))
    raw = (f'From: "{chr(34) * 100_000}" <a@b.example>\nTo: {many}\n'
           "Subject: =?UTF-8?B?w6k=?= " + "x" * 40_000 + "\n\nbody\n").encode()
    # Within a policy's header-size and encoded-word limits raised this far (the defaults hold it).
    m = parse_eml(raw, limits=MimeLimits(max_header_bytes=4 << 20, max_encoded_words=100_000))
    assert m.limits_reached == []
    assert {h.name for h in parse_eml(raw).limits_reached} == {"limit_header_bytes"}
    assert m.to[0] == Address(name="é 0", address="u0@d.example") and len(m.to) == 20_000
    assert m.subject.startswith("é x")
    assert any(d.startswith("To header over 16384 characters") for d in m.defects)
    # Under the limit the structured parser reads the same header as before.
    small = parse_eml(b'To: "=?UTF-8?B?w6k=?= 1" <u1@d.example>\nSubject: s\n\nb\n', limits=MimeLimits())
    assert small.to == [Address(name="é 1", address="u1@d.example")]
    assert not any("leniently" in d for d in small.defects)
