"""Lookalike domains: each dnstwist fuzzer kind, legitimate subdomains, and the short-label rules."""

from __future__ import annotations

import pytest

from tap_core.lookalike.domains import LookalikeMatch, LookalikeMatcher, LookalikeRules

PROTECTED = ["contoso.com", "fabrikam.co.uk", "ups.com", "zoom.us"]


@pytest.fixture(scope="module")
def matcher() -> LookalikeMatcher:
    return LookalikeMatcher(PROTECTED)


@pytest.mark.parametrize(
    ("host", "protected", "kind"),
    [
        ("contoso.net", "contoso.com", "tld-swap"),
        ("contoso.co.uk", "contoso.com", "tld-swap"),
        ("fabrikam.com", "fabrikam.co.uk", "tld-swap"),
        ("con-toso.com", "contoso.com", "hyphenation"),
        ("c-o-n-toso.com", "contoso.com", "hyphenation"),
        ("contoso-support.com", "contoso.com", "added-word"),
        ("secure-contoso.com", "contoso.com", "added-word"),
        ("contosoinvoice.com", "contoso.com", "added-word"),
        ("mycontoso.net", "contoso.com", "added-word"),
        ("contosocom.com", "contoso.com", "added-word"),  # brand + its TLD ("various")
        ("contoso.com.evil.net", "contoso.com", "subdomain"),
        ("con.toso.com", "contoso.com", "subdomain"),
        ("login.contoso.evil-host.net", "contoso.com", "subdomain"),
        ("contosso.com", "contoso.com", "typo"),  # repetition
        ("contso.com", "contoso.com", "typo"),  # omission
        ("cnotoso.com", "contoso.com", "typo"),  # transposition
        ("contoso1.com", "contoso.com", "typo"),  # addition
        ("cintoso.com", "contoso.com", "typo"),  # vowel swap / keyboard
        ("contosk.com", "contoso.com", "typo"),  # bitsquatting o -> k
        ("contosos.com", "contoso.com", "typo"),  # plural
        ("xn--cntoso-wqf.com", "contoso.com", "homoglyph"),  # Cyrillic о after IDNA decoding
        ("c0nt0so.com", "contoso.com", "homoglyph"),
        ("xn--contos-gxa.com", "contoso.com", "homoglyph"),  # ó: a diacritic
        ("upss.com", "ups.com", "typo"),  # short label: doubled letter
        ("ups1.com", "ups.com", "typo"),  # short label: appended character
        ("ups-account.com", "ups.com", "added-word"),  # short label: dictionary word only
        ("xn--ps-qed.com", "ups.com", "homoglyph"),  # ս (Armenian) for u
        ("zoon.us", "zoom.us", "typo"),  # 4 letters, same suffix: one edit
    ],
)
def test_lookalikes_are_flagged(matcher: LookalikeMatcher, host: str, protected: str, kind: str) -> None:
    found = matcher.match(host)
    assert found is not None, host
    assert (found.protected, found.kind) == (protected, kind)


@pytest.mark.parametrize(
    "host",
    [
        "contoso.com",
        "mail.contoso.com",  # a legitimate subdomain is never flagged
        "eu.mail.contoso.com",
        "fabrikam.co.uk",
        "shop.fabrikam.co.uk",
        "example.com",
        "contour.com",  # two edits from a 7-letter label
        "ubs.com",  # 3-letter names one edit away are other organisations
        "nps.com",
        "usps.com",
        "loom.com",  # one edit from zoom but under another suffix
        "zoo-keeper.com",
        "contoso.gov",  # only public bodies register under .gov
        "contoso.edu",
        "upstream.com",  # a short brand inside a word
        "contoso",  # no public suffix: not a domain anyone registered
        "",
    ],
)
def test_non_lookalikes_are_not_flagged(matcher: LookalikeMatcher, host: str) -> None:
    assert matcher.match(host) is None


def test_protected_subdomain_config_still_protects_the_registered_domain() -> None:
    m = LookalikeMatcher(["mail.contoso.com"])
    assert m.match("contoso.com") is None  # same registered domain: the same owner
    found = m.match("contosoo.com")
    assert found is not None and found.protected == "contoso.com"


@pytest.fixture(scope="module")
def short_brands() -> LookalikeMatcher:
    return LookalikeMatcher(["dhl.com", "ups.com"])


@pytest.mark.parametrize(
    ("host", "protected"),
    [
        ("dhk.com", "dhl.com"),  # replacement: k is beside l (QWERTY)
        ("uos.com", "ups.com"),  # replacement: o is beside p
        ("dzl.com", "dhl.com"),  # replacement: z is beside h on QWERTZ only
        ("umps.com", "ups.com"),  # insertion: m is beside p on AZERTY only
        ("dxl.com", "dhl.com"),  # bitsquatting: h 0x68 -> x 0x78
        ("uqs.com", "ups.com"),  # bitsquatting: p 0x70 -> q 0x71, not a neighbour
        ("5ps.com", "ups.com"),  # bitsquatting to a digit: u 0x75 -> 5 0x35
        ("dhjl.com", "dhl.com"),  # insertion: j pressed with h
        ("cdhl.com", "dhl.com"),  # insertion before the first letter: c pressed with d
        ("ujps.com", "ups.com"),  # insertion: j pressed with u
        ("mail.dhk.com", "dhl.com"),  # the registrable label is what counts
    ],
)
def test_short_labels_match_typing_slips(short_brands: LookalikeMatcher, host: str, protected: str) -> None:
    found = short_brands.match(host)
    assert found is not None, host
    assert (found.protected, found.kind) == (protected, "typo")
    assert "slip" in found.detail


@pytest.mark.parametrize(
    "host",
    [
        "ubs.com",  # p -> b: neither a neighbouring key nor one bit (another bank)
        "nhl.com",  # d -> n: another organisation
        "upi.com",  # s -> i
        "usps.com",  # s inserted between u and p: beside neither
        "dji.com",  # h -> j is a slip, but l -> i makes it a second edit
        "dhk.net",  # a slip under another suffix: short names recur across TLDs
        "uos.de",
        "pus.com",  # transpositions and vowel swaps of 3 letters are other acronyms
        "aps.com",
        "dh.com",  # omissions leave 2-letter names
    ],
)
def test_short_labels_ignore_other_edits(short_brands: LookalikeMatcher, host: str) -> None:
    assert short_brands.match(host) is None


def test_typing_slips_can_be_switched_off() -> None:
    off = LookalikeMatcher(["ups.com"], LookalikeRules(short_typing_slip_min_len=4))
    assert off.match("uos.com") is None
    assert off.match("upss.com") is not None  # additions are a separate rule


def test_rules_are_configurable() -> None:
    lenient = LookalikeMatcher(["ups.com"], LookalikeRules(short_edit1_same_suffix_min_len=3))
    assert lenient.match("ubs.com") is not None
    strict = LookalikeMatcher(
        ["contoso.com"], LookalikeRules(edit1_min_len=8, short_edit1_same_suffix_min_len=8)
    )
    assert strict.match("cnotoso.com") is None  # only additions stay for labels under 8


def test_describe_names_host_and_protected_domain(matcher: LookalikeMatcher) -> None:
    found = matcher.match("contoso-support.com")
    assert found is not None
    assert found.describe().startswith("contoso-support.com resembles contoso.com (added-word")


def test_unicode_host_is_accepted_undecoded(matcher: LookalikeMatcher) -> None:
    found = matcher.match("cоntoso.com")  # Cyrillic о, not yet IDNA-encoded
    assert found is not None and found.kind == "homoglyph"


def test_onmicrosoft_tenants_are_separate_organisations() -> None:
    m = LookalikeMatcher(["contoso.com", "contoso.onmicrosoft.com"])
    assert m.match("contoso.onmicrosoft.com") is None  # the tenant's own default domain
    assert m.match("mail.contoso.onmicrosoft.com") is None
    assert not m.is_protected("evil.onmicrosoft.com")  # another tenant is not ours
    found = m.match("contoso-support.onmicrosoft.com")
    assert found is not None and found.kind == "added-word"
    only_vanity = LookalikeMatcher(["contoso.com"])
    found = only_vanity.match("contoso.onmicrosoft.com")
    assert found is not None and found.kind == "tld-swap"


def test_hosts_under_no_known_suffix_read_the_last_label_as_the_suffix() -> None:
    m = LookalikeMatcher(["contoso.test"])
    assert m.match("mail.contoso.test") is None
    found = m.match("contoso-payroll.test")
    assert found is not None and (found.protected, found.kind) == ("contoso.test", "added-word")
    assert m.match("test-results.com") is None  # "test" is the suffix, not the tenant's name
    assert LookalikeMatcher(["contoso.com"]).match("contoso-payroll.example") is not None


@pytest.mark.parametrize(
    ("host", "form"),
    [("con.toso.com", "split"), ("contoso.com.evil.net", "embedded"), ("contoso.evil.net", "label")],
)
def test_subdomain_matches_say_their_form(matcher: LookalikeMatcher, host: str, form: str) -> None:
    found = matcher.match(host)
    assert found is not None and (found.kind, found.form) == ("subdomain", form)
    assert matcher.match("contoso-support.com") == LookalikeMatch(
        "contoso-support.com", "contoso.com", "added-word", "'contoso-support' joins 'contoso' with 'support'"
    )
