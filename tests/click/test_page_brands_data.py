"""The page brand table (tap_core/data/click/page_brands.toml) and the shared asset hosts
(tap_core/data/click/shared_asset_hosts.txt) keep their schema and their promises: every brand of
the URL brand table is covered under its exact name, a brand's sign-in and asset hosts are its
own, no host other sites embed counts as a brand's asset, and no domain, name or marker is
claimed by two brands."""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import Any

from tap_core.data import data_lines, data_text
from tap_core.parsing.domains import host_matches_domain, public_suffix, registered_domain, split_host

KEYS = {"name", "names", "weak_names", "domains", "signin_hosts", "assets", "markers", "kind"}
LIST_KEYS = KEYS - {"name", "kind"}
KINDS = {
    "tech", "social", "mail", "cloud", "finance", "bank", "crypto", "retail", "delivery",
    "telecom", "gaming", "government", "travel", "adult", "other",
}
#: Form ids and names any site may use: never a brand marker.
GENERIC_MARKERS = {
    "email", "e-mail", "mail", "password", "passwd", "pass", "pwd", "login", "log-in", "signin",
    "sign-in", "signup", "username", "user", "userid", "user_id", "uid", "account", "submit",
    "next", "continue", "form", "loginform", "login-form", "login_form", "otp", "code", "pin",
    "phone", "remember", "rememberme", "remember-me", "btnlogin", "btnnext", "csrf", "token",
    "j_username", "j_password", "user_login", "user_pass", "wp-submit", "identifier",
}
HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
MARKER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-:]*$")


@cache
def page_brands() -> tuple[dict[str, Any], ...]:
    return tuple(tomllib.loads(data_text("click", "page_brands.toml"))["brand"])


@cache
def url_brands() -> dict[str, list[str]]:
    """Brand name -> its domains in urls/brands.toml (inherited by the page table)."""
    return {b["name"]: list(b["domains"]) for b in tomllib.loads(data_text("urls", "brands.toml"))["brand"]}


def shared_hosts() -> tuple[str, ...]:
    return data_lines("click", "shared_asset_hosts.txt")


def own_domains(brand: dict[str, Any]) -> list[str]:
    """The brand's domains: inherited from urls/brands.toml plus this table's own."""
    return [*url_brands().get(brand["name"], []), *brand.get("domains", [])]


def under(host: str, domain: str) -> bool:
    """``host`` lies under ``domain``; "name.*" is that name under any ICANN public suffix."""
    if domain.endswith(".*"):
        icann = registered_domain(host, private=False)
        _sub, label, suffix = split_host(icann) if icann else ("", "", "")
        return label == domain[:-2] and suffix == public_suffix(icann)
    return host_matches_domain(host, domain)


def overlaps(host: str, entry: str) -> bool:
    """``host`` and a shared-list entry cover a common host (either lies under the other)."""
    return host_matches_domain(host, entry) or host_matches_domain(entry, host)


def same_zone(a: str, b: str) -> bool:
    """Two domain entries cover a common host."""
    if a.endswith(".*") or b.endswith(".*"):
        return a == b or (not a.endswith(".*") and under(a, b)) or (not b.endswith(".*") and under(b, a))
    return host_matches_domain(a, b) or host_matches_domain(b, a)


def offenders(pairs: Iterable[tuple[str, object]]) -> list[str]:
    return [f"{who}: {what}" for who, what in pairs]


# --- schema ----------------------------------------------------------------------------------


def test_table_is_large_and_keeps_its_schema() -> None:
    brands = page_brands()
    assert len(brands) >= 170
    bad = []
    for b in brands:
        name = b.get("name")
        if not isinstance(name, str) or not name.strip():
            bad.append((repr(name), "no name"))
            continue
        if set(b) - KEYS:
            bad.append((name, f"unknown keys {sorted(set(b) - KEYS)}"))
        if b.get("kind") not in KINDS:
            bad.append((name, f"kind {b.get('kind')!r}"))
        for key in LIST_KEYS & set(b):
            value = b[key]
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() == v and v for v in value):
                bad.append((name, f"{key} is not a list of trimmed strings"))
            elif len(set(value)) != len(value):
                bad.append((name, f"{key} repeats an entry"))
        if not (b.get("names") or b.get("weak_names")):
            bad.append((name, "neither names nor weak_names"))
    assert not bad, offenders(bad)


def test_brand_names_are_unique() -> None:
    seen: dict[str, int] = defaultdict(int)
    for b in page_brands():
        seen[b["name"]] += 1
    assert not [n for n, count in seen.items() if count > 1]


# --- the URL brand table ---------------------------------------------------------------------


def test_every_url_brand_is_covered_under_its_exact_name() -> None:
    names = {b["name"] for b in page_brands()}
    assert not sorted(set(url_brands()) - names)


def test_a_url_brand_is_never_respelled_or_split_off() -> None:
    """A brand that is in urls/brands.toml uses its name there exactly: not another spelling,
    and not a second entry holding some of its domains under another name."""
    exact = {n.casefold(): n for n in url_brands()}
    bad = []
    for b in page_brands():
        name = b["name"]
        if name.casefold() in exact and exact[name.casefold()] != name:
            bad.append((name, f"spelled {exact[name.casefold()]!r} in urls/brands.toml"))
        if name in url_brands():
            continue
        for domain in b.get("domains", []):
            for other, domains in url_brands().items():
                if any(same_zone(domain, d) for d in domains):
                    bad.append((name, f"{domain} belongs to {other} in urls/brands.toml"))
    assert not bad, offenders(bad)


def test_brands_missing_from_the_url_table_name_their_domains() -> None:
    missing = [b["name"] for b in page_brands() if b["name"] not in url_brands() and not b.get("domains")]
    assert not missing


# --- domains and hosts -----------------------------------------------------------------------


def test_domains_are_registered_domains() -> None:
    """Each entry is a registered domain or "name.*": never a host below a registered domain,
    nor a public suffix."""
    bad = []
    for b in page_brands():
        for domain in b.get("domains", []):
            if domain.endswith(".*"):
                ok = bool(re.fullmatch(r"[a-z0-9-]+", domain[:-2]))
            else:
                ok = bool(HOST_RE.match(domain)) and registered_domain(domain) == domain
            if not ok:
                bad.append((b["name"], domain))
    assert not bad, offenders(bad)


def test_hosts_are_plain_lower_case_hosts() -> None:
    bad = [
        (b["name"], host)
        for b in page_brands()
        for key in ("signin_hosts", "assets")
        for host in b.get(key, [])
        if not HOST_RE.match(host)
    ]
    assert not bad, offenders(bad)


def test_signin_hosts_are_the_brands_own() -> None:
    bad = [
        (b["name"], host)
        for b in page_brands()
        for host in b.get("signin_hosts", [])
        if not any(under(host, d) for d in own_domains(b))
    ]
    assert not bad, offenders(bad)


def test_assets_are_the_brands_own_or_listed_on_purpose() -> None:
    """An asset host lies under one of the brand's domains, or is itself a registered domain
    the brand serves its assets from (listed in `assets` on purpose)."""
    bad = [
        (b["name"], host)
        for b in page_brands()
        for host in b.get("assets", [])
        if not any(under(host, d) for d in own_domains(b)) and registered_domain(host) != host
    ]
    assert not bad, offenders(bad)


def test_no_shared_host_counts_as_a_brand_asset_or_signin_host() -> None:
    shared = shared_hosts()
    bad = [
        (b["name"], f"{host} ({entry} is embedded by other sites)")
        for b in page_brands()
        for key in ("assets", "signin_hosts")
        for host in b.get(key, [])
        for entry in shared
        if overlaps(host, entry) and (key == "assets" or host_matches_domain(host, entry))
    ]
    assert not bad, offenders(bad)


def test_shared_asset_hosts_file_is_well_formed() -> None:
    shared = shared_hosts()
    assert len(shared) >= 50
    assert not [h for h in shared if not HOST_RE.match(h)]
    assert len(set(shared)) == len(shared)
    # The deny list reaches the embed hosts the page rules must not read as brand evidence.
    for host in ("connect.facebook.net", "fonts.googleapis.com", "www.paypalobjects.com", "cloudfront.net"):
        assert any(host_matches_domain(host, entry) for entry in shared), host


def test_no_two_brands_claim_the_same_domain() -> None:
    """Checked for the domains this table adds (the URL table's own overlaps are its business)."""
    claims = [(b["name"], d, b["name"] in url_brands() and d in url_brands()[b["name"]])
              for b in page_brands() for d in own_domains(b)]
    bad = []
    for i, (brand, domain, inherited) in enumerate(claims):
        for other, other_domain, other_inherited in claims[i + 1 :]:
            if other == brand or (inherited and other_inherited):
                continue
            if same_zone(domain, other_domain):
                bad.append((brand, f"{domain} also claimed by {other} as {other_domain}"))
    assert not bad, offenders(bad)


def test_no_two_brands_claim_the_same_host() -> None:
    owner: dict[str, str] = {}
    bad = []
    for b in page_brands():
        for host in {*b.get("signin_hosts", []), *b.get("assets", [])}:
            if owner.setdefault(host, b["name"]) != b["name"]:
                bad.append((b["name"], f"{host} also listed by {owner[host]}"))
    assert not bad, offenders(bad)


# --- names and markers -----------------------------------------------------------------------


def test_no_two_brands_share_a_name() -> None:
    owner: dict[str, str] = {}
    bad = []
    for b in page_brands():
        for name in [*b.get("names", []), *b.get("weak_names", [])]:
            key = name.casefold()
            if owner.setdefault(key, b["name"]) != b["name"]:
                bad.append((b["name"], f"{name!r} also a name of {owner[key]}"))
    assert not bad, offenders(bad)


def test_a_name_is_either_distinctive_or_weak_not_both() -> None:
    bad = [
        (b["name"], name)
        for b in page_brands()
        for name in {n.casefold() for n in b.get("names", [])} & {n.casefold() for n in b.get("weak_names", [])}
    ]
    assert not bad, offenders(bad)


def test_markers_are_distinctive() -> None:
    owner: dict[str, str] = {}
    bad = []
    for b in page_brands():
        for marker in b.get("markers", []):
            if not MARKER_RE.match(marker) or len(marker) < 5:
                bad.append((b["name"], f"{marker!r} is not a distinctive id"))
            if marker.casefold() in GENERIC_MARKERS:
                bad.append((b["name"], f"{marker!r} is a generic form word"))
            if owner.setdefault(marker.casefold(), b["name"]) != b["name"]:
                bad.append((b["name"], f"{marker!r} also a marker of {owner[marker.casefold()]}"))
    assert not bad, offenders(bad)
