"""Folding: confusables (UTS #39 skeleton), diacritics, case."""

from __future__ import annotations

import pytest

from tap_core.parsing.text import fold, fold_text, skeleton


@pytest.mark.parametrize(
    ("spoof", "plain"),
    [
        ("раураl", "paypal"),  # Cyrillic р, а, у
        ("ΑIice", "alice"),  # Greek capital alpha, Latin capital I for l
        ("AIice", "alice"),  # Latin capital I for l
        ("g00gle", "google"),  # digit zero
        ("Jöhn Dœ", "john doe"),  # diacritics and a ligature
        ("øutloᴏk", "outlook"),  # o with stroke, small capital O
        ("ṇetflɪx", "netflix"),  # dot below, small capital I
        ("ԍоо", "goo"),  # all Cyrillic
        ("ouŧlook", "outlook"),  # t with stroke: not in UTS #39, read by its name
        ("ｊａｎｅ", "jane"),  # fullwidth
    ],
)
def test_fold_reads_lookalikes_as_plain_letters(spoof: str, plain: str) -> None:
    assert fold(spoof).replace("rn", "m") == fold(plain).replace("rn", "m")


def test_case_folds_before_capital_i_is_read_as_l() -> None:
    assert fold("JAMIE DOE") == fold("Jamie Doe")
    assert fold("RIB") == fold("rib")
    assert fold("AIice") == fold("Alice")


def test_skeleton_is_uts39() -> None:
    assert skeleton("m") == "rn"  # Unicode's own prototype for m
    assert skeleton("а") == "a"


def test_fold_text_matches_cached_fold() -> None:
    assert fold_text("Wіre Transfer") == fold("Wire transfer")
