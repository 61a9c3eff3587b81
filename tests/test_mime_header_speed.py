"""The parser's short cuts give what the standard library's header registry gives: unstructured
headers without encoded words are joined without it, short values are parsed once per process
(bounded by HEADER_CACHE_MAX_CHARS and HEADER_CACHE_ENTRIES)."""

from __future__ import annotations

import email
import email.policy
import tracemalloc

import pytest

from tap_core.parsing import mime
from tap_core.parsing.mime import parse_eml


def _registry_value(name: str, raw: str) -> str:
    """What ``email.policy.default`` makes of the header, the reference."""
    msg = email.message_from_string(f"{name}: {raw}\n\nbody\n", policy=email.policy.default)
    return str(msg[name])


@pytest.mark.parametrize("raw", [
    "plain text, nothing to decode",
    "folded\n\tover two lines",
    "looks =?like an encoded word but is not",
    "=?utf-8?q?no_end",
    "half =?utf-8?x?wrong-encoding?= here",
    "=?utf-8?q?caf=C3=A9?= =?utf-8?q?_bar?= between words",
    "word=?utf-8?q?glued?=to text",
    "=?utf-8?b?" + "w6k=" + "?=",
    "a\x0cform feed stays",
    # Base64 encoded words only (decoded without the parser): a character cut between two words,
    # half a UTF-16 character, an unknown charset, bad padding, blanks around, a word glued on.
    "\t=?utf-8?B?R3LDvMOf?=\n =?utf-8?b?ZSDDpA==?= ",
    "=?utf-8?B?S8O2?= =?utf-8?B?tmxu?=",
    "=?utf-16?B?AEc=?= =?utf-16?B?cg==?=",
    "=?x-nope?B?S8O2bG4=?=",
    "=?utf-8?B?S8O2bG4?= =?utf-8?B?S8O2bG4===?=",
    "=?utf-8?B?S8O2bG4=?==?utf-8?B?S8O2bG4=?=",
    "=?utf-8?B?S8O2bG4=?= trailing text",
    "=?utf-8?Q?caf=C3=A9_bar?= =?iso-8859-1?q?=E9t=E9?=",
    "=?utf-8?Q?a=C3?=\t=?utf-8?Q?b=A9?=  ",
])
def test_unstructured_values_are_the_registrys(raw: str) -> None:
    message = parse_eml(f"X-Note: {raw}\nSubject: s\n\nbody\n".encode())
    assert message.header("x-note") == _registry_value("X-Note", raw)


@pytest.mark.parametrize(("name", "raw"), [
    ("From", '"Doe, Jane" <Jane@Example.COM>'),
    ("From", "=?utf-8?q?J=C3=B6rg?= <j@x.test>"),
    ("To", "a@x.test, B <b@y.test>"),
    ("Date", "Tue, 8 Dec 2026 00:28:44 +0100"),
    ("Content-Type", 'text/plain; charset="utf-8"'),
])
def test_structured_values_are_the_registrys_and_repeat(name: str, raw: str) -> None:
    data = f"{name}: {raw}\nSubject: s\n\nbody\n".encode()
    first, again = parse_eml(data), parse_eml(data)  # the second reads the cached header
    assert first.header(name) == again.header(name) == _registry_value(name, raw)
    assert first == again


def test_long_values_are_not_cached_and_the_cache_is_bounded() -> None:
    mime._parsed_header.cache_clear()
    long_subject = "x " * mime.HEADER_CACHE_MAX_CHARS + "=?utf-8?q?caf=C3=A9?="
    message = parse_eml(f"Subject: {long_subject}\n\nbody\n".encode())
    assert message.subject == _registry_value("Subject", long_subject)
    assert mime._parsed_header.cache_info().currsize == 0  # parsed, not kept
    parse_eml(b"Subject: short\n\nbody\n")
    assert mime._parsed_header.cache_info().currsize == 1
    for i in range(mime.HEADER_CACHE_ENTRIES + 50):
        parse_eml(f"Subject: subject number {i}\n\nbody\n".encode())
    assert mime._parsed_header.cache_info().currsize == mime.HEADER_CACHE_ENTRIES


def test_hostile_encoded_word_starts_stay_verbatim() -> None:
    raw = "=?a?q?x " * 900  # many starts, no end: the check stays linear, the value verbatim
    message = parse_eml(f"X-Note: {raw}\n\nbody\n".encode())
    assert message.header("x-note") == raw == _registry_value("X-Note", raw)


def test_a_full_cache_stays_small() -> None:
    # The heaviest parsed headers are address lists: fill the cache with the longest it keeps.
    mime._parsed_header.cache_clear()
    tracemalloc.start()
    try:
        for i in range(mime.HEADER_CACHE_ENTRIES):
            value = ", ".join(f'"P {i} {j}" <p{i}.{j}@ex{j}.test>' for j in range(10))
            while len(value) > mime.HEADER_CACHE_MAX_CHARS:
                value = value.rsplit(",", 1)[0]
            parse_eml(f"To: {value}\n\nbody\n".encode())
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        mime._parsed_header.cache_clear()
    assert held < 40 * 1024 * 1024
