"""URL heuristics and the URL verdict: threat intelligence first, then named static signals.

Every signal is a ``Finding`` whose name, score and reason come from
``tap_core/data/urls/url_rules.toml``; the lists behind the signals (brands and their domains,
shorteners, hosting platforms, TLDs, extensions, keywords) are plain files beside it, so a
reviewer can read and change the detection without reading code. Nothing here fetches a URL.

The input is an already normalised absolute URL (lowercase punycode host); it is parsed with
``urllib.parse.urlsplit``.
"""

from __future__ import annotations

import base64
import binascii
import re
import tomllib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import pairwise
from typing import Self
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tap_core.data import data_text
from tap_core.detect.rules import Rule, family_rules
from tap_core.impersonation.text import skeleton as uts39_skeleton
from tap_core.model.findings import Assessment, Finding, Verdict
from tap_core.parsing.domains import (
    has_known_suffix,
    host_matches_domain,
    is_ip_literal,
    label_to_unicode,
    public_suffix,
    registered_domain,
    split_host,
)
from tap_core.urls.intel import IntelIndex
from tap_core.urls.normalize import host_to_ascii
from tap_core.urls.platforms import (
    data_list,
    data_rows,
    free_platform,
    is_click_tracker,
    is_user_site,
    platform_of,
    platforms,
    site_of,
)

__all__ = [
    "UrlThresholds",
    "assess_url",
    "link_text_mismatch",
    "url_findings",
]


class UrlThresholds(BaseModel):
    """Score thresholds turning heuristic scores into a verdict (policies pass their own)."""

    model_config = ConfigDict(frozen=True)

    suspicious_score: float = Field(default=5.0, gt=0)
    malicious_score: float = Field(default=9.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.malicious_score < self.suspicious_score:
            raise ValueError("malicious_score must not be below suspicious_score")
        return self


# --- rule table ------------------------------------------------------------------------------


@cache
def rules() -> dict[str, Rule]:
    """The rule table from ``url_rules.toml``, by finding name."""
    return family_rules("urls", "url_rules.toml")


# --- lists -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lists:
    shorteners: frozenset[str]
    suspicious_tlds: frozenset[str]
    extensions: dict[str, str]  # extension -> tier
    credential_words: tuple[str, ...]
    lures: frozenset[str]
    ipfs_gateways: frozenset[str]
    confusables: dict[str, str]


@cache
def _lists() -> _Lists:
    confusables: dict[str, str] = {}
    for row in data_rows("confusables.txt"):
        confusables[chr(int(row[0], 16))] = "" if row[1] == "-" else row[1]
    return _Lists(
        shorteners=data_list("url_shorteners.txt"),
        suspicious_tlds=data_list("suspicious_tlds.txt"),
        extensions={row[0].lower(): row[1].lower() for row in data_rows("dangerous_extensions.txt")},
        credential_words=tuple(sorted(data_list("credential_keywords.txt"))),
        lures=data_list("lure_words.txt"),
        ipfs_gateways=data_list("ipfs_gateways.txt"),
            confusables=confusables,
    )


# Look-alike digits and letter pairs fold to the letter they imitate; i and l fold together
# because each imitates the other (paypaI / paypal, linkedln / linkedin).
_DIGIT_FOLD = str.maketrans(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "i": "l", "|": "l"}
)


def skeleton(text: str) -> str:
    """A comparison form of a hostname token where look-alikes collapse (micros0ft, rnicrosoft,
    Cyrillic 'а' -> microsoft-like forms), in the spirit of Unicode TR39 skeletons."""
    conf = _lists().confusables
    out = "".join(conf.get(ch, ch) for ch in text.lower())
    out = out.replace("rn", "m").replace("vv", "w")
    return out.translate(_DIGIT_FOLD)


_VOWELS = "aeiouy"


def _typos(skel: str) -> set[str]:
    """Typosquatting variants of a brand skeleton (dnstwist-style fuzzers, restricted to the
    ones that stay rare among real words): repetition, interior transposition, interior vowel
    swap, interior omission. Longer names get more fuzzers; the first letter is kept."""
    n = len(skel)
    out: set[str] = set()
    if n >= 5:
        out.update(skel[:i] + skel[i] + skel[i:] for i in range(n))
    if n >= 6:
        for i in range(1, n - 1):
            if skel[i] != skel[i + 1]:
                out.add(skel[:i] + skel[i + 1] + skel[i] + skel[i + 2 :])
        for i in range(1, n):
            if skel[i] in _VOWELS:
                out.update(skel[:i] + v + skel[i + 1 :] for v in _VOWELS if v != skel[i])
    if n >= 7:
        out.update(skel[:i] + skel[i + 1 :] for i in range(1, n))
    out.discard(skel)
    return out


@dataclass(frozen=True, slots=True)
class _Brand:
    name: str
    tokens: frozenset[str]
    weak_tokens: frozenset[str]


@dataclass(frozen=True, slots=True)
class _BrandTable:
    brands: tuple[_Brand, ...]
    owned: dict[str, str]  # registered domain -> brand name
    owned_any_suffix: dict[str, str]  # "google" (from google.*) -> brand name
    by_token: dict[str, _Brand]  # distinctive token -> brand
    by_weak: dict[str, _Brand]
    by_skeleton: dict[str, tuple[_Brand, str]]  # skeleton of any token -> (brand, token)
    by_typo: dict[str, tuple[_Brand, str]]  # typo variant skeleton -> (brand, token)
    long_skeletons: tuple[tuple[str, _Brand, str], ...]  # for substring search


_MIN_FUZZY = 5  # shortest token fuzzy-matched: "ups" or "dhl" inside words must never fire
_MIN_SUBSTRING = 6


@cache
def _brand_table() -> _BrandTable:
    spec = tomllib.loads(data_text("urls", "brands.toml"))
    brands: list[_Brand] = []
    owned: dict[str, str] = {}
    any_suffix: dict[str, str] = {}
    for entry in spec["brand"]:
        brand = _Brand(entry["name"], frozenset(entry["tokens"]), frozenset(entry.get("weak_tokens", ())))
        brands.append(brand)
        for domain in entry["domains"]:
            if domain.endswith(".*"):
                any_suffix[domain[:-2]] = brand.name
            else:
                owned[domain] = brand.name
    by_token = {t: b for b in brands for t in b.tokens}
    by_weak = {t: b for b in brands for t in b.weak_tokens}
    by_skeleton: dict[str, tuple[_Brand, str]] = {}
    by_typo: dict[str, tuple[_Brand, str]] = {}
    longs: list[tuple[str, _Brand, str]] = []
    for b in brands:
        for t in sorted(b.tokens | b.weak_tokens):
            by_skeleton.setdefault(skeleton(t), (b, t))
        for t in sorted(b.tokens):
            skel = skeleton(t)
            if len(skel) >= _MIN_FUZZY:
                for variant in _typos(skel):
                    by_typo.setdefault(variant, (b, t))
            if len(skel) >= _MIN_SUBSTRING:
                longs.append((skel, b, t))
    # A variant that is itself some brand's real name or domain label is not a typo.
    for real in [*by_skeleton, *(skeleton(d.split(".")[0]) for d in owned), *map(skeleton, any_suffix)]:
        by_typo.pop(real, None)
    return _BrandTable(
        tuple(brands), owned, any_suffix, by_token, by_weak, by_skeleton, by_typo, tuple(longs)
    )


# --- URL context -----------------------------------------------------------------------------

_TOKEN_SPLIT = re.compile(r"[.\-_]+")
#: Tokens that read as a domain ending when they follow a brand name (paypal.com.evil.xyz).
_TLD_TOKENS = frozenset(
    "com net org co us uk de fr it es nl be ch at ca au jp in br mx info biz io gov edu online".split()
)


_GTLD_TOKENS = frozenset({"com", "net", "org"})


@dataclass(slots=True)
class UrlContext:
    """A URL split once for all heuristics."""

    url: str
    scheme: str
    host: str  # lowercase, punycode, no brackets
    port: int | None
    bad_port: bool
    path: str
    query: str
    userinfo: str
    is_ip: bool
    site: str  # unit of ownership (see platforms.site_of)
    suffix: str  # ICANN public suffix
    user_labels: list[str]  # labels an owner chose: host minus public suffix / platform root
    display_labels: list[str]  # the same, Unicode-decoded


def parse_context(url: str) -> UrlContext | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    bad_port = False
    try:
        port = parts.port
    except ValueError:
        port, bad_port = None, True
    netloc = parts.netloc
    userinfo = netloc.rsplit("@", 1)[0] if "@" in netloc else ""
    ip = bool(host) and is_ip_literal(host)
    if host and not ip:
        suffix = public_suffix(host)
        plat = platform_of(host) if is_user_site(host) else None
        cut = plat or suffix
        labels = host[: -len(cut) - 1].split(".") if cut and host.endswith("." + cut) else host.split(".")
        site = site_of(host)
    else:
        suffix, labels, site = "", [], host
    return UrlContext(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        bad_port=bad_port,
        path=parts.path,
        query=parts.query,
        userinfo=userinfo,
        is_ip=ip,
        site=site,
        suffix=suffix,
        user_labels=[lb for lb in labels if lb],
        display_labels=[label_to_unicode(lb) for lb in labels if lb],
    )


def _owner(host: str) -> str | None:
    """The brand owning ``host`` (per brands.toml), if any."""
    table = _brand_table()
    site = site_of(host)
    candidates = [site]
    if not is_user_site(host):
        # Platform hosts (storage.googleapis.com) belong to the platform's owner.
        icann = registered_domain(host, private=False)
        if icann and icann != site:
            candidates.append(icann)
    for cand in candidates:
        brand = table.owned.get(cand)
        if brand:
            return brand
        _sub, dom, suffix = split_host(cand)
        if dom in table.owned_any_suffix and suffix == public_suffix(cand):
            return table.owned_any_suffix[dom]
    return None


# --- heuristics ------------------------------------------------------------------------------

Heuristic = Callable[[UrlContext], Finding | None]
_WEB = frozenset({"http", "https"})


def _ip_literal_host(ctx: UrlContext) -> Finding | None:
    if ctx.is_ip:
        return rules()["ip_literal_host"].finding(evidence=ctx.host, host=ctx.host)
    return None


_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}")


def _encoded_host(ctx: UrlContext) -> Finding | None:
    host = ctx.host
    if not host or ctx.is_ip or not _NUMERIC_HOST.fullmatch(host):
        return None
    # Anything numeric that is not a plain dotted quad: 3232235777, 0300.0250.1.1, 0xc0a80101.
    return rules()["encoded_host"].finding(evidence=host, host=host)


def _punycode_host(ctx: UrlContext) -> Finding | None:
    if "xn--" not in ctx.host:
        return None
    display = ".".join(label_to_unicode(lb) for lb in ctx.host.split("."))
    return rules()["punycode_host"].finding(evidence=display, display=display)


_CONFUSABLE_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE"})


def _scripts(label: str) -> set[str]:
    found: set[str] = set()
    for ch in label:
        if ch.isalpha():
            found.add(unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0])
    return found


def _mixed_script_host(ctx: UrlContext) -> Finding | None:
    if "xn--" not in ctx.host:
        return None
    conf = _lists().confusables
    ascii_tld = ctx.host.rsplit(".", 1)[-1].isascii() and not ctx.host.rsplit(".", 1)[-1].startswith("xn--")
    for label in ctx.display_labels:
        if label.isascii():
            continue
        scripts = _scripts(label)
        mixed = ("LATIN" in scripts and scripts & _CONFUSABLE_SCRIPTS) or (
            "CYRILLIC" in scripts and "GREEK" in scripts
        )
        # A label written wholly in look-alike letters under an ASCII TLD ("аррӏе.com").
        disguised = (
            ascii_tld
            and len(label) >= 3
            and scripts
            and scripts <= _CONFUSABLE_SCRIPTS
            and all(ch in conf or not ch.isalpha() for ch in label)
        )
        if mixed or disguised:
            names = ", ".join(sorted(s.title() for s in scripts))
            return rules()["mixed_script_host"].finding(evidence=label, scripts=names, display=label)
    return None


def _tokens(labels: Sequence[str]) -> list[str]:
    out: list[str] = []
    for label in labels:
        out.extend(t for t in _TOKEN_SPLIT.split(label) if t)
    return out


def _fuzzy_candidates(labels: Sequence[str], tokens: Sequence[str]) -> list[str]:
    """Strings compared against brand typos: tokens, labels without separators, and adjacent
    token pairs joined (pay-pal)."""
    cands = list(tokens)
    cands.extend(lb.replace("-", "") for lb in labels if "-" in lb)
    cands.extend(a + b for a, b in pairwise(tokens))
    return cands


def _brand_lookalike(ctx: UrlContext) -> Finding | None:
    if not ctx.host or ctx.is_ip or _owner(ctx.host) is not None:
        return None
    table = _brand_table()
    rule = rules()["brand_lookalike"]
    labels = list(ctx.display_labels)
    if ctx.userinfo:
        labels.extend(unquote(ctx.userinfo).lower().split(":", 1)[0].split("."))
    tokens = _tokens(labels)
    if not tokens:
        return None
    lures = _lists().lures
    has_lure = any(t in lures for t in tokens)
    host = ctx.host

    # 1. A brand name followed by a domain ending, not at the end: paypal.com.evil.xyz.
    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        brand = table.by_token.get(tok) if nxt in _TLD_TOKENS else None
        if brand is None and nxt in _GTLD_TOKENS:
            brand = table.by_weak.get(tok)  # "apple.com-..." but not "mac-in-..."
        if brand is not None:
            return rule.finding(
                host, "embedded_domain", brand=brand.name, how=f"'{tok}.{tokens[i + 1]}' inside the host"
            )
    # 2. A distinctive brand name as a whole token; weak names only next to a lure word.
    site_tokens = set(_tokens(ctx.display_labels[-1:]))
    for tok in tokens:
        brand = table.by_token.get(tok)
        if brand is not None:
            variant = "token" if tok in site_tokens else "subdomain_token"
            return rule.finding(host, variant, brand=brand.name, how=f"'{tok}' in the host name")
        brand = table.by_weak.get(tok)
        if brand is not None and has_lure:
            return rule.finding(host, "weak_token_lure", brand=brand.name, how=f"'{tok}' next to a lure word")
    # 3. Typos and homoglyphs of a brand name (micros0ft, rnicrosoft, paypall, аpple). Homoglyphs
    # count in any label; plain typos only in the site's own label, because a subdomain word one
    # letter from a brand ("applecore.example.com") is usually just a word.
    site_cands = set(_fuzzy_candidates(ctx.display_labels[-1:], list(site_tokens)))
    for cand in _fuzzy_candidates(labels, tokens):
        skel = skeleton(cand)
        hit = table.by_skeleton.get(skel)
        if hit is not None and cand != hit[1] and (
            (len(skel) >= 4 and cand in site_cands) or not cand.isascii()
        ):
            return rule.finding(host, "typo", brand=hit[0].name, how=f"'{cand}' looks like '{hit[1]}'")
        if len(skel) >= _MIN_FUZZY and cand in site_cands:
            hit = table.by_typo.get(skel)
            if hit is not None:
                return rule.finding(host, "typo", brand=hit[0].name, how=f"'{cand}' is a typo of '{hit[1]}'")
    # 4. A long distinctive brand name buried in a longer word of the site's own label.
    for tok in site_tokens:
        skel = skeleton(tok)
        for brand_skel, brand, name in table.long_skeletons:
            if brand_skel in skel and brand_skel != skel:
                return rule.finding(host, "substring", brand=brand.name, how=f"'{name}' inside '{tok}'")
    return None


@lru_cache(maxsize=256)
def _tenant_table(tenant_domains: tuple[str, ...]) -> tuple[tuple[str, str, frozenset[str]], ...]:
    """(tenant domain, its name label, typo skeletons) for each tenant domain."""
    out: list[tuple[str, str, frozenset[str]]] = []
    for domain in tenant_domains:
        domain = domain.strip().lower().rstrip(".")
        if not domain:
            continue
        _sub, name, _suffix = split_host(domain)
        if not name:
            continue
        skel = skeleton(name)
        typos = frozenset(_typos(skel)) if len(skel) >= _MIN_FUZZY else frozenset()
        out.append((domain, name, typos))
    return tuple(out)


def _tenant_lookalike(ctx: UrlContext, tenant_domains: Sequence[str]) -> Finding | None:
    if not tenant_domains or not ctx.host or ctx.is_ip:
        return None
    table = _tenant_table(tuple(tenant_domains))
    if any(host_matches_domain(ctx.host, d) for d, _n, _t in table):
        return None
    rule = rules()["tenant_lookalike"]
    labels = list(ctx.display_labels)
    if ctx.userinfo:
        labels.extend(unquote(ctx.userinfo).lower().split(":", 1)[0].split("."))
    tokens = _tokens(labels)
    host = ctx.host
    for domain, name, typos in table:
        for i, tok in enumerate(tokens[:-1]):
            if tok == name and tokens[i + 1] in _TLD_TOKENS:
                return rule.finding(
                    host, "embedded_domain", tenant=domain, how=f"'{tok}.{tokens[i + 1]}' inside the host"
                )
        name_skel = skeleton(name)
        for cand in _fuzzy_candidates(labels, tokens):
            skel = skeleton(cand)
            if cand != name and len(name_skel) >= 4 and (skel == name_skel or skel in typos):
                return rule.finding(host, "typo", tenant=domain, how=f"'{cand}' looks like '{name}'")
        if len(name) >= 4 and name in tokens:
            return rule.finding(host, "token", tenant=domain, how=f"'{name}' in the host name")
    return None


def _url_shortener(ctx: UrlContext) -> Finding | None:
    host = ctx.host.removeprefix("www.")
    if host and host in _lists().shorteners:
        return rules()["url_shortener"].finding(evidence=host, host=host)
    return None


def _free_hosting(ctx: UrlContext) -> Finding | None:
    if not ctx.host or ctx.is_ip:
        return None
    plat = free_platform(ctx.host)
    if plat is None:
        return None
    if ctx.host in platforms().path_hosts and ctx.path.strip("/") == "":
        return None  # the platform's own front page, not someone's content
    # A document page (x.html, login.php) on such a platform is what phishing kits publish;
    # a site's front page or assets are weaker evidence.
    variant = "page" if _PAGE_RE.search(ctx.path) else "site"
    return rules()["free_hosting"].finding(ctx.host, variant, platform=plat)


_PAGE_RE = re.compile(r"\.(?:html?|php\d?|aspx?|jsp|shtml)$", re.I)
_IP_IN_HOST_RE = re.compile(r"(?<![0-9])(?:\d{1,3}[.-]){3}\d{1,3}(?![0-9])")


def _ip_in_hostname(ctx: UrlContext) -> Finding | None:
    """A host name that spells out an IP address (103-52-115-55.cloud.example.net): a rented
    server or a home connection, not an organisation's site."""
    if not ctx.host or ctx.is_ip:
        return None
    sub = ctx.host[: -len(ctx.site)] if ctx.site and ctx.host.endswith(ctx.site) else ctx.host
    if not sub.strip(".") and ctx.site != registered_domain(ctx.host, private=False):
        # A user site on a cloud suffix (ec2-13-52-185-2.us-west-1.compute.amazonaws.com): the
        # site's own first label is what the renter got, not a chosen name.
        sub = ctx.host.split(".", 1)[0]
    if _IP_IN_HOST_RE.search(sub):
        return rules()["ip_in_hostname"].finding(evidence=ctx.host, host=ctx.host)
    return None


def _suspicious_tld(ctx: UrlContext) -> Finding | None:
    if not ctx.suffix:
        return None
    tlds = _lists().suspicious_tlds
    last = ctx.suffix.rsplit(".", 1)[-1]
    for cand in (ctx.suffix, last):
        if cand in tlds:
            return rules()["suspicious_tld"].finding(evidence=ctx.host, tld=cand)
    return None


_PATH_TOKENS = re.compile(r"[a-z0-9][a-z0-9-]*")


def _credential_keywords_path(ctx: UrlContext, tenant_domains: Sequence[str] = ()) -> Finding | None:
    if not ctx.host or (not ctx.path.strip("/") and not ctx.query):
        return None
    if _owner(ctx.host) is not None or any(host_matches_domain(ctx.host, d) for d in tenant_domains):
        return None
    text = unquote(f"{ctx.path}?{ctx.query}").lower()
    words = _lists().credential_words
    for token in _PATH_TOKENS.findall(text):
        for word in words:
            if token.startswith(word):
                return rules()["credential_keywords_path"].finding(evidence=token[:60], keyword=word)
    return None


def _at_in_authority(ctx: UrlContext) -> Finding | None:
    if not ctx.userinfo:
        return None
    shown = unquote(ctx.userinfo)[:100]
    return rules()["at_in_authority"].finding(evidence=shown, userinfo=shown)


def _data_uri(ctx: UrlContext) -> Finding | None:
    if ctx.scheme == "data":
        return rules()["data_uri"].finding(evidence=ctx.url[:80])
    return None


def _javascript_uri(ctx: UrlContext) -> Finding | None:
    if ctx.scheme in ("javascript", "vbscript"):
        return rules()["javascript_uri"].finding(evidence=ctx.url[:80])
    return None


_EMBEDDED_URL = re.compile(r"(?:https?:|https?%3a)(?://|%2f%2f)", re.IGNORECASE)


def _nested_target(value: str) -> str | None:
    text = value.strip()
    for _ in range(2):  # once more for double-encoded values
        if text.lower().startswith(("http%3a", "https%3a")):
            text = unquote(text)
    if text.lower().startswith(("http://", "https://")):
        return text
    return None


#: "http://" / "https://" in base64 (standard or URL-safe alphabet): a destination hidden in
#: the link so that filters reading parameters do not see it.
_BASE64_URL_RE = re.compile(r"aHR0c(?:HM6Ly|DovL)[A-Za-z0-9+/_-]*={0,2}")


def _base64_target(text: str) -> str | None:
    match = _BASE64_URL_RE.search(text)
    if not match:
        return None
    run = match.group(0).rstrip("=").replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(run + "=" * (-len(run) % 4)).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    return decoded if decoded.startswith(("http://", "https://")) else None


def _nested_redirect(ctx: UrlContext) -> Finding | None:
    if ctx.scheme not in _WEB or not ctx.host:
        return None
    hidden = _base64_target(ctx.path + "?" + ctx.query)
    if hidden:
        try:
            hidden_host = (urlsplit(hidden).hostname or "").rstrip(".")
        except ValueError:
            hidden_host = ""
        if hidden_host and site_of(hidden_host) != ctx.site:
            return rules()["nested_redirect"].finding(hidden[:200], "encoded", target=hidden_host)
    targets: list[str] = []
    for _key, value in parse_qsl(ctx.query, keep_blank_values=False):
        target = _nested_target(value)
        if target:
            targets.append(target)
    match = _EMBEDDED_URL.search(ctx.path, 1)
    if match:
        targets.append(unquote(ctx.path[match.start() :]))
    for target in targets:
        try:
            nested_host = (urlsplit(target).hostname or "").rstrip(".")
        except ValueError:
            continue
        if nested_host and site_of(nested_host) != ctx.site:
            return rules()["nested_redirect"].finding(evidence=target[:200], target=nested_host)
    return None


def _dangerous_extension(ctx: UrlContext) -> Finding | None:
    if ctx.scheme not in _WEB:
        return None
    exts = _lists().extensions
    names = [unquote(ctx.path.rsplit("/", 1)[-1])]
    names.extend(v.rsplit("/", 1)[-1] for _k, v in parse_qsl(ctx.query) if "." in v and len(v) < 260)
    for name in names:
        name = name.strip().lower()
        if "." not in name:
            continue
        ext = name.rsplit(".", 1)[1]
        tier = exts.get(ext)
        if tier and ext in _SERVER_SIDE_EXTS and ctx.query and name == names[0].strip().lower():
            continue  # eBayISAPI.dll?ViewItem: a server-side handler answering a query, not a download
        if tier:
            return rules()["link_dangerous_extension"].finding(name[:120], tier, ext=ext)
    return None


#: Extensions that, followed by a query string, are web applications (ISAPI, CGI) on old servers.
_SERVER_SIDE_EXTS = frozenset({"dll", "cgi", "exe"})


def _non_standard_port(ctx: UrlContext) -> Finding | None:
    if ctx.bad_port:
        return rules()["non_standard_port"].finding(evidence=ctx.url[:120], port="(invalid)")
    if ctx.port is not None and ctx.port not in (80, 443):
        return rules()["non_standard_port"].finding(evidence=str(ctx.port), port=ctx.port)
    return None


_MAX_SUBDOMAIN_LEVELS = 4


def _excessive_subdomains(ctx: UrlContext) -> Finding | None:
    if not ctx.host or ctx.is_ip or not ctx.site:
        return None
    levels = ctx.host.count(".") - ctx.site.count(".")
    if levels >= _MAX_SUBDOMAIN_LEVELS:
        return rules()["excessive_subdomains"].finding(evidence=ctx.host, count=levels)
    return None


_IPFS_CID = re.compile(
    r"/ip[fn]s/(?:Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{50,}|k[a-z0-9]{50,})", re.IGNORECASE
)


def _ipfs_gateway(ctx: UrlContext) -> Finding | None:
    if not ctx.host:
        return None
    gateways = _lists().ipfs_gateways
    host = ctx.host
    on_gateway = next((g for g in gateways if host_matches_domain(host, g)), None)
    if on_gateway and (
        ctx.path.startswith(("/ipfs/", "/ipns/")) or ".ipfs." in f".{host}" or ".ipns." in host
    ):
        return rules()["ipfs_gateway"].finding(evidence=host, gateway=on_gateway)
    if _IPFS_CID.match(ctx.path):
        return rules()["ipfs_gateway"].finding(evidence=ctx.url[:120], gateway=host)
    return None


#: Heuristics on the URL alone, in report order.
HEURISTICS: tuple[Heuristic, ...] = (
    _data_uri,
    _javascript_uri,
    _ip_literal_host,
    _encoded_host,
    _ip_in_hostname,
    _punycode_host,
    _mixed_script_host,
    _brand_lookalike,
    _at_in_authority,
    _url_shortener,
    _free_hosting,
    _ipfs_gateway,
    _suspicious_tld,
    _non_standard_port,
    _excessive_subdomains,
    _nested_redirect,
    _dangerous_extension,
)


def url_findings(url: str, *, tenant_domains: Sequence[str] = ()) -> list[Finding]:
    """Every heuristic finding for ``url`` (no intelligence, no link text)."""
    ctx = parse_context(url)
    if ctx is None:
        return []
    out = [f for f in (h(ctx) for h in HEURISTICS) if f is not None]
    for extra in (_tenant_lookalike(ctx, tenant_domains), _credential_keywords_path(ctx, tenant_domains)):
        if extra is not None:
            out.append(extra)
    return out


# --- link text -------------------------------------------------------------------------------

_TEXT_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_TEXT_HOST = re.compile(r"(?:[a-z0-9-]+\.)+[a-z0-9-]{2,63}\.?(?::\d{1,5})?(?:[/?#]\S*)?", re.IGNORECASE)
#: Suffixes that are also common file extensions: "report.md" or "setup.py" in link text is
#: a file name, not a host (unless written with www. or a scheme).
_FILE_LIKE_TLDS = frozenset("md py sh pl rs zip mov ps so js ts go rb cs php asp".split())


def _text_host(link_text: str) -> str | None:
    text = link_text.strip().strip("<>\"'()[]").rstrip(".,;:!?")
    if not text or any(c.isspace() for c in text) or "@" in text.split("/", 1)[0]:
        return None
    if _TEXT_URL.fullmatch(text):
        try:
            host = urlsplit(text).hostname or ""
        except ValueError:
            return None
    elif _TEXT_HOST.fullmatch(text):
        host = re.split(r"[:/?#]", text, maxsplit=1)[0].lower().rstrip(".")
        if not host.startswith("www.") and not is_ip_literal(host):
            if not has_known_suffix(host) or host.rsplit(".", 1)[-1] in _FILE_LIKE_TLDS:
                return None
    else:
        return None
    host = host.lower().rstrip(".")
    if not host.isascii():
        ascii_host = host_to_ascii(host)
        if ascii_host is None:
            return None
        host = ascii_host
    if not is_ip_literal(host) and not has_known_suffix(host):
        return None
    return host


def link_text_mismatch(link_text: str | None, href: str) -> Finding | None:
    """The visible text names a host whose site differs from the href's; None when the text
    is not a URL or host name, or when they agree."""
    if not link_text:
        return None
    shown = _text_host(link_text)
    if shown is None:
        return None
    ctx = parse_context(href)
    if ctx is None or ctx.scheme not in _WEB or not ctx.host:
        return None
    actual = ctx.host
    if site_of(shown) == ctx.site or host_matches_domain(actual, shown) or host_matches_domain(shown, actual):
        return None
    # A redirect whose target is the shown site is what the text promised.
    for _key, value in parse_qsl(ctx.query):
        target = _nested_target(value)
        if target:
            try:
                nested = (urlsplit(target).hostname or "").rstrip(".")
            except ValueError:
                continue
            if nested and site_of(nested) == site_of(shown):
                return None
    rule = rules()["link_text_mismatch"]
    icann = registered_domain(actual, private=False)
    if is_click_tracker(icann) or is_click_tracker(ctx.site):
        variant = "tracker"
    elif _TEXT_URL.fullmatch(link_text.strip().strip("<>\"'()[]").rstrip(".,;:!?")) or _owner(shown):
        # The text promises a full address, or a brand's own site: what a lure shows.
        variant = "direct"
    else:
        # A bare site name over a newsletter's own redirector ("Dilbert.com"): weaker.
        variant = "bare_host"
    return rule.finding(f"{shown} -> {actual}", variant, shown=shown, actual=actual)


# --- verdict ---------------------------------------------------------------------------------


def _intel_findings(url: str, intel: IntelIndex) -> list[Finding]:
    rule = rules()["intel"]
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for hit in intel.match(url):
        if (hit.feed, hit.category) in seen:
            continue
        seen.add((hit.feed, hit.category))
        out.append(rule.finding(f"{hit.feed}: {hit.indicator} ({hit.kind.value})",
                                named=f"intel_{hit.category}", category=hit.category, feed=hit.feed))
    return out


def assess_url(
    url: str,
    *,
    link_text: str | None = None,
    tenant_domains: Sequence[str] = (),
    intel: IntelIndex | None = None,
    thresholds: UrlThresholds | None = None,
) -> Assessment:
    """The verdict for one URL: any intelligence hit is MALICIOUS on its own; otherwise the
    heuristic scores add up against ``thresholds``."""
    thresholds = thresholds or UrlThresholds()
    findings: list[Finding] = _intel_findings(url, intel) if intel is not None else []
    findings.extend(url_findings(url, tenant_domains=tenant_domains))
    mismatch = link_text_mismatch(link_text, url)
    if mismatch is not None:
        findings.append(mismatch)
    score = round(sum(f.score for f in findings), 2)
    if score >= thresholds.malicious_score:
        verdict = Verdict.MALICIOUS
    elif score >= thresholds.suspicious_score:
        verdict = Verdict.SUSPICIOUS
    else:
        verdict = Verdict.CLEAN
    verdict = Verdict.worst([verdict, *(f.verdict for f in findings if f.verdict is not None)])
    return Assessment(verdict=verdict, score=score, findings=findings)


# --- brands, for message-level rules -------------------------------------------------------------

_TEXT_CHUNK_RE = re.compile(r"[^\s\"'()\[\]<>:;,!?|/]+")


def brand_owning(host: str) -> str | None:
    """The brand that owns ``host`` (a host or registered domain) per brands.toml, if any."""
    return _owner(host.lower().rstrip(".")) if host else None


def _visible(text: str) -> str:
    """``text`` without invisible characters (zero-width, variation selectors, tag characters,
    combining marks other than Latin accents) that lures insert to break up words."""
    return "".join(
        ch for ch in text
        if not (unicodedata.category(ch) == "Cf"
                or (unicodedata.category(ch) == "Mn" and not "\u0300" <= ch <= "\u036f"))
    )


def brands_named(text: str) -> list[str]:
    """Brands a piece of text (a display name, a subject) names, confusables undone.

    Distinctive names count anywhere ("PayPaI Service", "Binаnсе"); names that are also
    ordinary words (apple, chase, dhl) count only when they are the whole text ("DHL").
    """
    return [brand for brand, _literal in brand_mentions(text)]


def brand_mentions(text: str) -> list[tuple[str, bool]]:
    """Like :func:`brands_named`, with whether the brand is spelled plainly (False for
    "PayPaI", "Binаnсе", "Micr0soft": a name written with look-alike characters)."""
    table = _brand_table()
    found: dict[str, bool] = {}
    chunks = _TEXT_CHUNK_RE.findall(_visible(text[:500]))
    whole = len(chunks) == 1
    candidates_per_chunk: list[set[str]] = []
    for chunk in chunks:
        parts = [p for p in re.split(r"[-._]+", chunk) if p]
        candidates_per_chunk.append({re.sub(r"[-._]+", "", chunk), *parts})
    # Two-word names ("Mercado Pago") and spaced-out letters ("A D A C") joined up.
    joined = {a + b for a, b in pairwise(chunks)}
    letters = "".join(c for c in chunks if len(c) == 1)
    if len(letters) >= 3:
        joined.add(letters)
    candidates_per_chunk.append(joined)
    for candidates in candidates_per_chunk:
        for candidate in candidates:
            # Display text may use any script (Cherokee "Ꮇicrosoft"): fold it with the full
            # UTS #39 table first; hostnames only ever need the small table behind skeleton().
            folded = candidate if candidate.isascii() else uts39_skeleton(candidate)
            hit = table.by_skeleton.get(skeleton(folded))
            if hit is None:
                continue
            brand, token = hit
            if token in brand.tokens or (whole and token in brand.weak_tokens):
                plain = candidate.lower() in brand.tokens or candidate.lower() in brand.weak_tokens
                found[brand.name] = found.get(brand.name, False) or plain
    return list(found.items())
