"""URL rules and the URL verdict: threat intelligence first, then named static signals.

Every signal is a finding made by a rule of ``tap_core/data/urls/url_rules.toml`` (name,
group, weight, reason); the lists behind the rules (brands and their domains, shorteners,
hosting platforms, TLDs, extensions, keywords) are plain files beside it, so a reviewer can
read and change the detection without reading code. Nothing here fetches a URL. The verdict
comes from the one scorer, :func:`tap_core.detect.scoring.score`.

The rules live by family: :mod:`.hosts` (how the host is written), :mod:`.brands` (brand and
tenant look-alikes, over :mod:`tap_core.lookalike`), :mod:`.hosting` (where the page lives),
:mod:`.paths` (what the link carries), :mod:`.link_text` and :mod:`.intel`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from tap_core.detect.defects import isolated
from tap_core.detect.scoring import Thresholds, score
from tap_core.model.findings import Assessment, Finding
from tap_core.urls.intel import IntelIndex
from tap_core.urls.policy import DEFAULT_THRESHOLDS
from tap_core.urls.rules import brands, hosting, hosts, paths
from tap_core.urls.rules.intel import intel_findings
from tap_core.urls.rules.link_text import link_text_mismatch
from tap_core.urls.rules.parse import Heuristic, parse_context, rules

__all__ = ["assess_url", "link_text_mismatch", "rules", "url_findings"]

#: Rules on the URL alone, in report order.
HEURISTICS: tuple[Heuristic, ...] = (
    paths.data_uri,
    paths.javascript_uri,
    hosts.ip_literal_host,
    hosts.encoded_host,
    hosts.ip_in_hostname,
    hosts.punycode_host,
    hosts.mixed_script_host,
    brands.brand_lookalike,
    hosts.at_in_authority,
    hosting.url_shortener,
    hosting.free_hosting,
    hosting.ipfs_gateway,
    hosting.suspicious_tld,
    hosts.non_standard_port,
    hosts.excessive_subdomains,
    paths.nested_redirect,
    paths.dangerous_extension,
)


def url_findings(
    url: str,
    *,
    tenant_domains: Sequence[str] = (),
    intel: IntelIndex | None = None,
    link_text: str | None = None,
) -> list[Finding]:
    """Every finding on ``url``: the intelligence hits (when ``intel`` is given), every rule's
    finding, then the link text's (when ``link_text`` is given); ``tenant_domains`` are the
    organisation's own domains (look-alikes of them, and their own login paths)."""
    # Each rule runs isolated: one that raises adds analysis_defect, the others still run.
    defects: list[Finding] = []
    out: list[Finding] = (
        isolated("urls.intel", lambda: intel_findings(url, intel), [], defects) if intel is not None else []
    )
    ctx = isolated("urls.parse_context", lambda: parse_context(url), None, defects)
    if ctx is not None:
        rules_on_ctx: list[tuple[str, Callable[[], Finding | None]]] = [
            (h.__name__, partial(h, ctx)) for h in HEURISTICS
        ]
        rules_on_ctx += [
            ("tenant_lookalike", partial(brands.tenant_lookalike, ctx, tenant_domains)),
            ("credential_keywords_path", partial(paths.credential_keywords_path, ctx, tenant_domains)),
        ]
        for name, rule in rules_on_ctx:
            finding = isolated(f"urls.{name}", rule, None, defects)
            if finding is not None:
                out.append(finding)
    mismatch = isolated("urls.link_text_mismatch", lambda: link_text_mismatch(link_text, url), None, defects)
    if mismatch is not None:
        out.append(mismatch)
    return out + defects


def assess_url(
    url: str,
    *,
    link_text: str | None = None,
    tenant_domains: Sequence[str] = (),
    intel: IntelIndex | None = None,
    thresholds: Thresholds | None = None,
) -> Assessment:
    """The verdict for one URL: an intelligence hit is MALICIOUS on its own; otherwise the
    rules' weights add up (within their groups' caps) against ``thresholds``."""
    findings = url_findings(url, tenant_domains=tenant_domains, intel=intel, link_text=link_text)
    scored = score(findings, thresholds or DEFAULT_THRESHOLDS)
    return Assessment(verdict=scored.verdict, score=scored.score, findings=findings)
