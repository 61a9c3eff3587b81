"""Display-name normalisation and matching: every normalisation the brief names, and near misses."""

from __future__ import annotations

import pytest

from tap_core.impersonation.names import NameMatcher, parse_display_name, same_given_name, vip_people
from tap_core.impersonation.policy import NameMatching, Vip

VIPS = [
    Vip(name="Jane Doe", email="jane.doe@contoso.com"),
    Vip(name="Robert Smith", email="robert.smith@contoso.com", aliases=["Bob Smith-Jones", "rs@contoso.com"]),
    Vip(name="Elizabeth Warren-Lee"),
    Vip(name="Dr. José Álvarez", email="jose@contoso.com"),
    Vip(name="Nakamura, Hiroshi"),
    Vip(name="Margaret O'Brien"),
    Vip(name="María García López"),
]


@pytest.fixture(scope="module")
def matcher() -> NameMatcher:
    return NameMatcher(vip_people(VIPS))


def hit(matcher: NameMatcher, name: str) -> tuple[str, str] | None:
    found = matcher.match(name)
    return (found[0].person.key, found[0].how) if found else None


@pytest.mark.parametrize(
    ("display", "vip", "how"),
    [
        ("Jane Doe", "Jane Doe", "exact"),
        ("JANE   DOE", "Jane Doe", "exact"),  # case and spacing
        ("Jane-Doe", "Jane Doe", "exact"),  # punctuation
        ("Doe, Jane", "Jane Doe", "reordered"),  # name order
        ("Doe Jane", "Jane Doe", "reordered"),
        ("J. Doe", "Jane Doe", "initial"),  # initials
        ("Doe J", "Jane Doe", "initial"),
        ("Jаne Dоe", "Jane Doe", "exact"),  # Cyrillic а and о (confusables)
        ("Jane D\u200boe", "Jane Doe", "exact"),  # zero-width space
        ("CEO Jane Doe", "Jane Doe", "exact"),  # titles and roles
        ("Jane Doe (CEO)", "Jane Doe", "exact"),
        ("Mr. Robert Smith Jr.", "Robert Smith", "exact"),
        ("Bob Smith", "Robert Smith", "nickname"),  # nicknames
        ("Bobby Smith", "Robert Smith", "nickname"),
        ("B. Smith", "Robert Smith", "initial"),  # initial of the nickname
        ("Liz Warren-Lee", "Elizabeth Warren-Lee", "nickname"),
        ("Jose Alvarez", "Dr. José Álvarez", "exact"),  # diacritics
        ("Pepe Álvarez", "Dr. José Álvarez", "nickname"),
        ("Hiroshi Nakamura", "Nakamura, Hiroshi", "exact"),  # VIP written surname first
        ("jane.doe@contoso.com", "Jane Doe", "address"),  # the VIP's address as display name
        ("jane.doe@gmail.com", "Jane Doe", "exact"),  # any address reads as its local part
        ("janedoe", "Jane Doe", "exact"),
        ("jdoe", "Jane Doe", "initial"),
        ("Robert Smyth", "Robert Smith", "fuzzy"),  # misspelling, through rapidfuzz
        ("Bob Smith-Jones", "Robert Smith", "exact"),  # a VIP alias name
        ("O'Brien, M.", "Margaret O'Brien", "initial"),  # apostrophes join a name
        ("Peggy OBrien", "Margaret O'Brien", "nickname"),
        ("Garcia Lopez, Maria", "María García López", "reordered"),  # two surnames first
    ],
)
def test_variants_match(matcher: NameMatcher, display: str, vip: str, how: str) -> None:
    assert hit(matcher, display) == (vip, how)


@pytest.mark.parametrize(
    "display",
    [
        "John Doe",  # another given name
        "Jane Smith",
        "Jana Doe",  # one letter off in a short name is another name
        "Jane Doering",
        "Roberta Smith",  # a name extended is another name
        "Robert Smithson",
        "Doe",
        "Jane",
        "CEO",
        "Dane Joe",
        "Accounts Payable",
        "Stephen R. Smith",  # a middle initial is not the given name
        "",
    ],
)
def test_near_misses_do_not_match(matcher: NameMatcher, display: str) -> None:
    assert hit(matcher, display) is None


def test_parse_display_name_strips_titles_and_reads_addresses() -> None:
    assert parse_display_name("Dr. Jane Doe, PhD").tokens == ("jane", "doe")
    parsed = parse_display_name('"jane.doe@contoso.com"')
    assert parsed.embedded_address == "jane.doe@contoso.com"
    assert parsed.tokens == ("jane", "doe")


def test_nickname_table_is_symmetric_and_shared() -> None:
    assert same_given_name("bill", "william")
    assert same_given_name("william", "bill")
    assert same_given_name("liz", "elizabeth")
    assert same_given_name("alex", "alexandra") and same_given_name("alex", "alexander")
    assert not same_given_name("alexander", "alexandra")


def test_thresholds_come_from_the_policy() -> None:
    strict = NameMatcher(vip_people(VIPS), NameMatching(name_ratio=99, part_ratio=99))
    assert strict.match("Robert Smyth") == []
