"""The compiled IDN primitives (tap_core/parsing/_idn.pyx) give what Python's codecs give.

Each returns the library's answer or None, where the caller then asks the library (and gets
its error). Compared on seeded random labels: encodings, their corruptions, and mixes of
code points UTS #46 keeps, maps, ignores and disallows.
"""

from __future__ import annotations

import random

import idna
import pytest

from tap_core.parsing import domains

_idn = domains._idn

pytestmark = pytest.mark.skipif(_idn is None, reason="tap_core.parsing._idn is not built")

_POOLS = ["abcxyz-0189", "äöüßéàç", "あいうえお日本語中国", "ﻡﻮﻘﻋ", "✪☃😀𝔘", "ĀāĂă", "ABC",
          "\u200b\u00ad\u200d", "ⅷ①㍿", "\u0301\u0308", "\ufffd\x00", "ςσΣ", "。．ＡＢＣ"]


def _label(rnd: random.Random) -> str:
    pool = "".join(rnd.sample(_POOLS, rnd.randint(1, 4)))
    return "".join(rnd.choice(pool) for _ in range(rnd.randint(0, 24)))


def _encode(label: str) -> str | None:
    try:
        return label.encode("punycode").decode("ascii")
    except Exception:
        return None


def _decode(encoded: str) -> str | None:
    try:
        return encoded.encode("ascii").decode("punycode")
    except Exception:
        return None


def _remap(text: str) -> str | None:
    try:
        return idna.uts46_remap(text, std3_rules=False, transitional=False)
    except Exception:
        return None


def test_punycode_matches_the_codec() -> None:
    assert _idn is not None
    rnd = random.Random(3)  # noqa: S311 - seeded test data
    for _ in range(10_000):
        label = _label(rnd)
        want = _encode(label)
        got = _idn.encode(label)
        assert got is None or got == want, label
        if want is None:
            continue
        for encoded in (want, want.upper(), want + "9", want[:-1], "a-" + want,
                        want.replace("a", "!")):
            expected = _decode(encoded)
            decoded = _idn.decode(encoded)
            assert decoded is None or decoded == expected, encoded
            if encoded == want:
                assert decoded == label


def test_uts46_matches_idna() -> None:
    assert _idn is not None
    rnd = random.Random(5)  # noqa: S311 - seeded test data
    for _ in range(10_000):
        text = _label(rnd)
        if rnd.random() < 0.05:
            text = "".join(chr(rnd.randint(0, 0x2FFFF)) for _ in range(rnd.randint(1, 6)))
        want = _remap(text)
        assert _idn.uts46_remap(text) == want, text


def test_label_helpers_round_trip() -> None:
    assert domains.label_to_ascii("bücher") == "xn--bcher-kva"
    assert domains.label_to_unicode("xn--bcher-kva") == "bücher"
    assert domains.label_to_unicode("xn--!!") == "xn--!!"  # undecodable: shown as written
    assert domains.uts46_map("BÜCHER.de") == "bücher.de"
