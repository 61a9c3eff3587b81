"""Credential forms: a password field, and where its form (or a script reading it) sends it:
another site, a free hosting site, a messaging or form-relay service."""

from __future__ import annotations

import re
from functools import cache

from selectolax.lexbor import LexborNode

from tap_core.click.rules.parse import Page, attr, dedupe, foreign, host_of, resolve
from tap_core.data import data_lines
from tap_core.detect.rules import Rule
from tap_core.lookalike import brand_owning
from tap_core.model.findings import Finding
from tap_core.urls.platforms import free_platform

_SCRIPT_EXFIL = re.compile(r"(?:\$\.(?:ajax|post)|XMLHttpRequest|fetch\s*\(|navigator\.sendBeacon)", re.I)
_FIELD_READ = re.compile(
    r"(?:password|passwd|pass|pwd)['\"\]\)]?[^;\n]{0,40}\.val(?:ue)?\b|\.val\(\)|\.value\b", re.I
)
_URL_IN_SCRIPT = re.compile(r"['\"](https?://[^'\"\s]{4,200})['\"]")


@cache
def exfil_endpoints() -> tuple[str, ...]:
    return data_lines("click", "exfil_endpoints.txt")


def password_findings(passwords: list[LexborNode], rules: dict[str, Rule]) -> list[Finding]:
    if not passwords:
        return []
    return [rules["page_password_field"].finding(f"{len(passwords)} password field(s)")]


def form_findings(page: Page, rules: dict[str, Rule], has_password: bool) -> list[Finding]:
    out: list[Finding] = []
    endpoints = exfil_endpoints()
    for form in page.tree.css("form"):
        action = attr(form, "action")
        target = resolve(page.url, action) if action else page.url
        lower_action = action.lower()
        relay = next((e for e in endpoints if e in lower_action), None)
        if relay is not None:
            out.append(rules["page_form_exfil_endpoint"].finding(action, target=relay.rstrip("/")))
            continue
        # Broken markup often leaves the password field outside its form: judge the page's forms.
        # Credentials posted to a well-known brand's own domain are not harvested by this page.
        host = host_of(target)
        if has_password and foreign(page, target) and brand_owning(host) is None:
            variant = "free_hosting" if free_platform(host) else ""  # posted to a free hosting site
            out.append(rules["page_form_foreign_action"].finding(target, variant, target=host))
    if has_password and not any(f.name == "page_form_exfil_endpoint" for f in out):
        relay = next((e for e in endpoints if e != "mailto:" and e in page.scripts.lower()), None)
        if relay is not None:
            out.append(rules["page_form_exfil_endpoint"].finding(relay, target=relay))
        elif _SCRIPT_EXFIL.search(page.scripts) and _FIELD_READ.search(page.scripts):
            targets = [u for u in _URL_IN_SCRIPT.findall(page.scripts) if foreign(page, u)]
            if targets:
                out.append(rules["page_script_exfil"].finding(targets[0], target=host_of(targets[0])))
    return dedupe(out)
