"""Host and registered-domain helpers on the offline Public Suffix List (never downloads it)."""

from __future__ import annotations

import ipaddress
import re
from functools import cache, lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import idna

if TYPE_CHECKING:
    import tldextract


@cache
def _extractor(private: bool) -> tldextract.TLDExtract:
    """tldextract, for the hosts the walk below does not take (Unicode, odd characters): its
    import (requests and all) costs a short scan a tenth of a second, so only when needed."""
    import tldextract

    # suffix_list_urls=() and cache_dir=None: the PSL snapshot shipped inside tldextract, offline.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=private)


# Hosts the PSL walk below handles exactly like tldextract: lower-case ASCII labels (punycode
# ones are decoded to match the list's Unicode entries, as tldextract does), nothing to strip.
_PLAIN_HOST_RE = re.compile(r"[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*")
#: A dotted-quad IPv4 address, as tldextract tells one (``looks_like_ip``).
_IPV4_RE = re.compile(r"(?:(?:[0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}"
                      r"(?:[0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])", re.ASCII)
#: The public suffix list snapshot inside tldextract, read as tldextract reads it: a rule per
#: line, the ICANN section before the separator, the private one after it.
_PSL_SNAPSHOT = ".tld_set_snapshot"
_PSL_PRIVATE = "// ===BEGIN PRIVATE DOMAINS==="
_PSL_RULE = re.compile(r"^(?P<suffix>[.*!]*\w[\S]*)", re.MULTILINE)


#: A suffix-trie node: each child label maps to its node; the key _RULE_END marks a node where
#: a PSL rule ends ("." is in no label, decoded or not, nor in an "!label" exception key; ""
#: is: "xn--" decodes to it). Plain dicts: lookups without attribute access.
SuffixTrie = dict[str, Any]
_RULE_END = "."


@cache
def _psl_rules() -> tuple[list[str], list[str]]:
    """(ICANN rules, private rules) of tldextract's snapshot, read without importing it."""
    spec = find_spec("tldextract")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a dependency
        raise ModuleNotFoundError("tldextract")
    text = (Path(next(iter(spec.submodule_search_locations))) / _PSL_SNAPSHOT).read_text("utf-8")
    icann, _, private = text.partition(_PSL_PRIVATE)
    return ([m.group("suffix") for m in _PSL_RULE.finditer(icann)],
            [m.group("suffix") for m in _PSL_RULE.finditer(private)])


@cache
def _trie(private: bool) -> SuffixTrie:
    # From tldextract's public suffix list (the same offline snapshot), once per process; the
    # same shape as its Trie: labels right to left, "*" and "!label" children as written.
    icann, private_rules = _psl_rules()
    root: SuffixTrie = {}
    for suffix in [*icann, *private_rules] if private else icann:
        node = root
        for label in reversed(suffix.split(".")):
            node = node.setdefault(label, {})
        node[_RULE_END] = True
    return root


def uts46_map(domain: str) -> str:
    """UTS #46 mapping (non-transitional, no STD3 rules), as browsers apply it to a host;
    raises idna's error for a code point UTS #46 disallows."""
    return idna.uts46_remap(domain, std3_rules=False, transitional=False)


def label_to_ascii(label: str) -> str:
    """A Unicode label as its "xn--" A-label. Plain Punycode, as browsers do (UTS #46,
    non-strict): IDNA2008's alabel() gives the same bytes for every label it accepts and
    rejects symbols such as U+272A that browsers still take."""
    return "xn--" + label.encode("punycode").decode("ascii")


def label_to_unicode(label: str) -> str:
    """An "xn--" label decoded for display (any other label as it is). Plain Punycode decoding:
    idna.ulabel() decodes the same way and only adds checks whose failure we would ignore; an
    undecodable A-label is shown as written."""
    if not label.startswith("xn--"):
        return label
    try:
        return label[4:].encode("ascii").decode("punycode")
    except Exception:
        return label


#: The dots tldextract splits labels on.
_ANY_DOT = re.compile("[.\u3002\uff0e\uff61]")
#: What tldextract reads as more than one label or as URL syntax around the host.
_NOT_ONE_LABEL = re.compile("[.\u3002\uff0e\uff61/?#@:\\[]")


def _one_label(host: str) -> bool:
    """A dotless host that tldextract takes as it is (no URL syntax, no blanks around it, no
    punycode): the walk below gives its answer (text such as '"nutswijzer electricity"' or a
    From domain of emoji), without importing tldextract."""
    return bool(host) and host == host.strip() and not host.startswith("xn--") \
        and not _NOT_ONE_LABEL.search(host)


def _fast_split(host: str, private: bool) -> tuple[str, str, str] | None:
    """tldextract's (subdomain, domain, suffix) for an ASCII host, without its URL parsing,
    IDNA validation and result object (most of its cost per call); None: not a plain host."""
    if not _PLAIN_HOST_RE.fullmatch(host) and not _one_label(host):
        return None
    labels = host.split(".")
    node = _trie(private)
    suffix_idx = label_idx = len(labels)
    punycode = "xn--" in host
    for label in reversed(labels):  # the same walk as tldextract's suffix_index
        key = label_to_unicode(label) if punycode else label
        nxt = node.get(key)
        if nxt is not None:
            label_idx -= 1
            node = nxt
            if _RULE_END in node:
                suffix_idx = label_idx
            continue
        if "*" in node:
            suffix_idx = label_idx if "!" + key in node else label_idx - 1
        break
    if suffix_idx == len(labels):
        if len(labels) == 4 and host[0].isdecimal() and _IPV4_RE.fullmatch(host):
            return "", host, ""
        return ".".join(labels[:-1]), labels[-1], ""
    sub = ".".join(labels[: suffix_idx - 1]) if suffix_idx >= 2 else ""
    domain = labels[suffix_idx - 1] if suffix_idx > 0 else ""
    return sub, domain, ".".join(labels[suffix_idx:])


def _split(host: str, private: bool) -> tuple[str, str, str]:
    """(subdomain, domain, suffix) of a lower-cased host without its final dot."""
    fast = _fast_split(host, private)
    if fast is not None:
        return fast
    r = _extractor(private)(host)
    return r.subdomain, r.domain, r.suffix


def is_ip_literal(host: str) -> bool:
    h = host.strip("[]")
    if ":" not in h and not h[:1].isdigit():
        # Neither IPv6 (it has colons) nor IPv4 (a digit first): most hosts, answered without
        # the exception ipaddress raises (10,000 calls for 200 mails).
        return False
    try:
        ipaddress.ip_address(h)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=65536)
def split_host(host: str) -> tuple[str, str, str]:
    """(subdomain, domain, suffix) using ICANN and private PSL sections.

    With private suffixes, ``evil.github.io`` splits as ('', 'evil', 'github.io') so that a
    site on a shared platform is its own registered domain, never the platform's.
    """
    return _split(host.lower().rstrip("."), True)


@lru_cache(maxsize=65536)
def registered_domain(host: str, *, private: bool = True) -> str:
    """The registrable domain of ``host`` ('' for IPs, bare suffixes and unknown TLDs).

    ``private=True`` honours the PSL's private section (``x.vercel.app`` is registrable);
    ``private=False`` gives the ICANN registrable domain (``vercel.app``).
    """
    host = host.lower().rstrip(".")
    if not host or is_ip_literal(host):
        return ""
    _, domain, suffix = _split(host, private)
    return f"{domain}.{suffix}" if domain and suffix else ""


@lru_cache(maxsize=65536)
def public_suffix(host: str) -> str:
    return _split(host.lower().rstrip("."), False)[2]




def has_known_suffix(host: str) -> bool:
    """True when ``host`` ends in a real ICANN public suffix (and has a label before it)."""
    if not _ANY_DOT.search(host):
        return False  # one label is a suffix or a domain, never both (text the URL scan tries)
    _, domain, suffix = _split(host.lower().rstrip("."), False)
    return bool(suffix and domain)


def host_matches_domain(host: str, domain: str) -> bool:
    """``host`` is ``domain`` or a subdomain of it (label-aligned, case-insensitive)."""
    host = host.lower().rstrip(".")
    domain = domain.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def url_host(url: str) -> str:
    """The host of an absolute URL as written: lower-case, without user information or port
    ("" when there is none). For URLs already normalised; no validation."""
    authority = url.partition("://")[2]
    for end in "/?#":
        authority = authority.split(end, 1)[0]
    return authority.rpartition("@")[2].split(":", 1)[0].lower()
