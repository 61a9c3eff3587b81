"""The public suffix list is read from tldextract's snapshot without importing tldextract: the
same rules as tldextract's own reading, the same IPv4 test, and tldextract (with requests) loaded
only for the hosts the fast walk does not take."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tldextract
from tldextract.remote import looks_like_ip

from tap_core.parsing import domains

ROOT = Path(__file__).resolve().parent.parent


def _reference_trie(private: bool) -> domains.SuffixTrie:
    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=private)
    root: domains.SuffixTrie = {}
    for suffix in extract.tlds:
        node = root
        for label in reversed(suffix.split(".")):
            node = node.setdefault(label, {})
        node["."] = True
    return root


@pytest.mark.parametrize("private", [True, False])
def test_the_snapshot_gives_tldextracts_rules(private: bool) -> None:
    assert domains._trie(private) == _reference_trie(private)


@pytest.mark.parametrize("host", [
    "1.2.3.4", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "a.2.3.4", "1.2.3.4a", "0.0.0.1",
    "192.168.001.1", "٣.2.3.4",
])
def test_dotted_quads_as_tldextract_tells_them(host: str) -> None:
    ref = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)(host)
    assert domains.split_host(host) == (ref.subdomain, ref.domain, ref.suffix)
    assert bool(host[0].isdecimal() and domains._IPV4_RE.fullmatch(host)) == looks_like_ip(host)


def test_tldextract_loads_only_for_hosts_the_walk_does_not_take() -> None:
    probe = (
        "import json, sys\n"
        "from tap_core.parsing.domains import has_known_suffix, registered_domain\n"
        "assert not any(has_known_suffix(t) for t in ('\"instant translator\"', 'pot\U0001f514', 'com'))\n"
        "plain = registered_domain('login.example.co.uk'), 'tldextract' in sys.modules\n"
        "one = registered_domain('pot\\U0001f514'), 'tldextract' in sys.modules\n"
        "odd = registered_domain('bücher.example.de'), 'tldextract' in sys.modules\n"
        "print(json.dumps([plain, one, odd]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    plain, one, odd = json.loads(done.stdout)
    assert plain == ["example.co.uk", False]
    assert one == ["", False]
    assert odd == ["example.de", True]


@pytest.mark.parametrize("text", ['"instant translator"', "pot\U0001f514\u2728", "com", "[::1]", "x\u3002com",
                                  "a.b\uff0ecom", "bücher.de", "example"])
def test_known_suffix_as_tldextract_tells_it(text: str) -> None:
    ref = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)(text.lower())
    assert domains.has_known_suffix(text) == bool(ref.suffix and ref.domain)


@pytest.mark.parametrize("host", ['"nutswijzer electricity"', "pot\U0001f514\u2728", "com", "uk", "ck", "jp",
                                  "localhost", "a b", "münchen", "\u0130stanbul", "_dmarc", "-x-", "1234",
                                  "xn--mnchen-3ya", " padded ", "a:80", "user@host", "[v6]", "a/b", ""])
@pytest.mark.parametrize("private", [True, False])
def test_one_label_hosts_as_tldextract_splits_them(host: str, private: bool) -> None:
    ref = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=private)
    want = ref(host.lower().rstrip("."))
    assert domains._split(host.lower().rstrip("."), private) == (want.subdomain, want.domain, want.suffix)
