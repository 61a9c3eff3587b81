"""The authentication rules (``tap_core/data/auth/auth_rules.toml``): SPF, DKIM, DMARC,
compauth and ARC as the receiving server recorded them.

Only the trusted Authentication-Results header is read (the topmost, or the topmost of a known
``authserv_ids``): those below it came with the message. A check the header does not report
weighs nothing, and a message without the header gives no finding at all: mail read from files
often has none, and its absence says nothing about the message. ``temperror`` (the check could
not be made) weighs nothing either.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from tap_core.auth.results import AuthResults, MethodResult, receiver_results
from tap_core.detect.defects import isolated, isolated_findings
from tap_core.detect.rules import Rule, family_rules
from tap_core.model.findings import Finding
from tap_core.model.message import Message

_RULES_FILE = ("auth", "auth_rules.toml")

#: Result spellings as they appear in the wild, mapped onto the rules' variants.
_SPF_FAILS = {"fail": "fail", "hardfail": "fail", "softfail": "softfail", "permerror": "permerror"}
_DKIM_FAILS = frozenset({"fail", "permerror"})
_DMARC_FAILS = frozenset({"fail", "permerror"})
_COMPAUTH_FAILS = frozenset({"fail", "softfail"})
#: DMARC results that tie the message to its From domain ("bestguesspass": Microsoft's implicit DMARC).
_DMARC_PASSES = frozenset({"pass", "bestguesspass"})
_EVIDENCE_KEYS = ("smtp.mailfrom", "smtp.helo", "header.d", "header.i", "header.from", "action", "reason")


def rules() -> dict[str, Rule]:
    """The authentication rules, by name."""
    return family_rules(*_RULES_FILE)


def _shown(res: MethodResult) -> str:
    """``method=result`` with the properties that say whose check it was."""
    props = " ".join(f"{k}={res.properties[k]}" for k in _EVIDENCE_KEYS if res.properties.get(k))
    return f"{res.method}={res.result}" + (f" {props}" if props else "")


def _domain_of(res: MethodResult, *keys: str) -> str:
    """The domain of the first address or domain property of ``keys`` ("" for "none" and the like)."""
    for key in keys:
        domain = res.properties.get(key, "").rpartition("@")[2].strip("<>. ")
        if "." in domain:
            return domain
    return ""


def _spf(results: AuthResults) -> list[Finding]:
    verdict = results.verdict("spf")
    variant = _SPF_FAILS.get(verdict)
    if variant is None:
        return []
    res = next(r for r in results.of("spf") if r.result == verdict)
    domain = _domain_of(res, "smtp.mailfrom", "smtp.helo")
    return [
        rules()["auth_spf_fail"].finding(
            _shown(res), variant, result=verdict, domain=domain or "the envelope sender's domain"
        )
    ]


def _dkim(results: AuthResults) -> list[Finding]:
    signatures = results.of("dkim")
    if any(r.result == "pass" for r in signatures):
        return []  # one verified signature is enough: others break in transit
    failed = [r for r in signatures if r.result in _DKIM_FAILS]
    if not failed:
        return []
    first = failed[0]
    domain = _domain_of(first, "header.d", "header.i")
    return [
        rules()["auth_dkim_fail"].finding(
            "; ".join(_shown(r) for r in failed[:4]),
            domain=domain or "the signer",
            result=first.result,
        )
    ]


def _dmarc(results: AuthResults) -> list[Finding]:
    verdict = results.verdict("dmarc")
    if verdict not in _DMARC_FAILS:
        return []
    res = next(r for r in results.of("dmarc") if r.result == verdict)
    domain = _domain_of(res, "header.from")
    return [
        rules()["auth_dmarc_fail"].finding(
            _shown(res), verdict, result=verdict, domain=domain or "(not given)"
        )
    ]


def _compauth(results: AuthResults) -> list[Finding]:
    verdict = results.verdict("compauth")
    if verdict not in _COMPAUTH_FAILS:
        return []
    res = next(r for r in results.of("compauth") if r.result == verdict)
    code = res.properties.get("reason", "")[:16]
    return [
        rules()["auth_compauth_fail"].finding(_shown(res), verdict, result=verdict, code=code or "not given")
    ]


def _arc(results: AuthResults) -> list[Finding]:
    """The chain as the receiver recorded it (``arc=fail``). A seal's own ``cv=fail`` is what a
    forwarder found upstream (mailing lists seal ``cv=fail`` on mail they rewrote), not the
    receiver's verdict: it weighs nothing here."""
    if results.verdict("arc") != "fail":
        return []
    shown = "arc=fail in the receiver's Authentication-Results"
    return [rules()["auth_arc_fail"].finding(shown, where=shown)]


def _unauthenticated(results: AuthResults) -> list[Finding]:
    """SPF and DKIM both reported, neither passed, and DMARC did not pass."""
    spf, dkim, dmarc = results.verdict("spf"), results.verdict("dkim"), results.verdict("dmarc")
    if not spf or not dkim or "pass" in (spf, dkim) or dmarc in _DMARC_PASSES:
        return []
    if "temperror" in (spf, dkim, dmarc):
        return []  # a check that could not be made says nothing
    shown = f"spf={spf}, dkim={dkim}, dmarc={dmarc or 'not reported'}"
    return [rules()["auth_unauthenticated"].finding(shown, results=shown)]


def auth_findings(message: Message, *, authserv_ids: Sequence[str] = ()) -> list[Finding]:
    """The authentication findings of ``message`` (none without an Authentication-Results
    header). ``authserv_ids`` picks the topmost header of a known receiving server."""
    # Each rule runs isolated: one that raises adds analysis_defect, the others still run.
    defects: list[Finding] = []
    read = partial(receiver_results, message, authserv_ids)
    results = isolated("auth.receiver_results", read, None, defects)
    if results is None:
        return defects
    out: list[Finding] = []
    for rule in (_spf, _dkim, _dmarc, _compauth, _arc, _unauthenticated):
        out += isolated_findings(f"auth.{rule.__name__.lstrip('_')}", partial(rule, results), defects)
    return out + defects


__all__ = ["auth_findings", "rules"]
