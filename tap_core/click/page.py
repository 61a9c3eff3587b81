"""Time-of-click page analysis: what a fetched HTML page does, as named findings with evidence.

Pure: takes the page's bytes and its URL, returns findings. Rules and their scores are data
(``tap_core/data/click/page_rules.toml``, ``kit_markers.txt``, ``exfil_endpoints.txt``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from tap_core.domains import registered_domain
from tap_core.findings import Finding
from tap_core.resources import data_lines, data_text
from tap_core.rules import Rule, load_rules
from tap_core.urls.heuristics import brand_owning, brands_named
from tap_core.urls.platforms import free_platform

MAX_HTML_CHARS = 1_500_000  # parse at most this much of a page
_MAX_DECODE_DEPTH = 3


@cache
def page_rules() -> dict[str, Rule]:
    return load_rules(data_text("click", "page_rules.toml"))


@cache
def kit_markers() -> tuple[str, ...]:
    return data_lines("click", "kit_markers.txt")


@cache
def exfil_endpoints() -> tuple[str, ...]:
    return data_lines("click", "exfil_endpoints.txt")


@cache
def _lure_phrases() -> tuple[str, ...]:
    return data_lines("urls", "lure_phrases.txt")


_LOGIN_WORDS = re.compile(
    r"\b(?:sign[ -]?in|log[ -]?in|log[ -]?on|password|passwort|contrase[ñn]a|mot de passe|senha|"
    r"verify your|iniciar sesi[óo]n|inicia sesi[óo]n|anmelden|connexion|acceder|entrar)\b",
    re.I,
)
_RTL = re.compile("[\u202e\u202d\u2066\u2067\u2068]")
_DECODE_WRITE = re.compile(
    r"document\.write(?:ln)?\s*\(\s*(?:unescape|decodeURIComponent|atob|window\.atob|decodeURI|"
    r"String\.fromCharCode)\s*\(",
    re.I,
)
_EVAL_CHAIN = re.compile(
    r"(?:\beval|\bFunction|setTimeout)\s*\(\s*(?:unescape|atob|window\.atob|decodeURIComponent|"
    r"String\.fromCharCode|escape)\s*\(",
    re.I,
)
_PACKER = re.compile(r"eval\s*\(\s*function\s*\(\s*p\s*,\s*a\s*,\s*c\s*,\s*k\s*,\s*e\s*,\s*[dr]\s*\)")
_B64_BLOB = re.compile(r"(?:atob|base64_decode|b64decode)\s*\(\s*['\"]([A-Za-z0-9+/=]{200,})['\"]")
_PCT_BLOB = re.compile(r"unescape\s*\(\s*['\"]((?:%[0-9a-fA-F]{2}){60,})")
_JS_REDIRECT = re.compile(
    r"(?:window\.|document\.|top\.|self\.)?location(?:\.href)?\s*=\s*['\"](https?://[^'\"\s]+)|"
    r"location\.(?:replace|assign)\s*\(\s*['\"](https?://[^'\"\s]+)",
    re.I,
)
_SMUGGLE_BLOB = re.compile(r"new\s+Blob\s*\(", re.I)
_SMUGGLE_SAVE = re.compile(r"(?:msSaveOrOpenBlob|msSaveBlob|createObjectURL)\s*\(", re.I)
_SMUGGLE_DOWNLOAD = re.compile(r"\.download\s*=|setAttribute\s*\(\s*['\"]download", re.I)
_PREFILL = re.compile(
    r"(?:location\.hash|location\.search|window\.location\.href)[^;\n]{0,80}(?:substr|substring|slice|split|"
    r"replace|atob)",
    re.I,
)
_EMAIL_FIELD = re.compile(r"(?:e-?mail|user|login|account)", re.I)
_SCRIPT_EXFIL = re.compile(r"(?:\$\.(?:ajax|post)|XMLHttpRequest|fetch\s*\(|navigator\.sendBeacon)", re.I)
_FIELD_READ = re.compile(
    r"(?:password|passwd|pass|pwd)['\"\]\)]?[^;\n]{0,40}\.val(?:ue)?\b|\.val\(\)|\.value\b", re.I
)
_URL_IN_SCRIPT = re.compile(r"['\"](https?://[^'\"\s]{4,200})['\"]")
_DOC_TITLE_WORDS = re.compile(
    r"\b(?:excel|pdf|docusign|onedrive|sharepoint|invoice|document|voicemail|fax|spreadsheet|"
    r"shared file|secure message|adobe)\b",
    re.I,
)


@dataclass(slots=True)
class _Page:
    url: str
    host: str
    domain: str
    source: str
    lower: str
    tree: LexborHTMLParser
    text: str
    scripts: str


def _domain(host: str) -> str:
    return registered_domain(host) or host


def _host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def _decode_layers(source: str) -> str:
    """The page plus what its obvious encodings hide (base64 / %-escapes), so rules see both."""
    extra: list[str] = []
    text = source
    for _ in range(_MAX_DECODE_DEPTH):
        found: list[str] = []
        for m in _B64_BLOB.finditer(text):
            try:
                found.append(
                    base64.b64decode(m.group(1) + "=" * (-len(m.group(1)) % 4)).decode("utf-8", "replace")
                )
            except (binascii.Error, ValueError):
                continue
        for m in _PCT_BLOB.finditer(text):
            found.append(unquote(m.group(1)))
        if not found:
            break
        extra.extend(found)
        text = "\n".join(found)
    return "\n".join([source, *extra]) if extra else source


def _parse(html: str, url: str) -> _Page:
    html = html[:MAX_HTML_CHARS]
    full = _decode_layers(html)
    tree = LexborHTMLParser(full)
    scripts = "\n".join(node.text(deep=True) or "" for node in tree.css("script"))
    for node in tree.css("script, style, noscript"):
        node.decompose()
    body = tree.body
    text = " ".join((body.text(separator=" ") if body is not None else "").split())
    host = _host_of(url)
    return _Page(
        url=url,
        host=host,
        domain=_domain(host),
        source=full,
        lower=full.lower(),
        tree=LexborHTMLParser(full),
        text=text[:20000],
        scripts=scripts,
    )


def _attr(node: LexborNode, name: str) -> str:
    return (node.attributes.get(name) or "").strip()


def _password_inputs(page: _Page) -> list[LexborNode]:
    return [n for n in page.tree.css("input") if _attr(n, "type").lower() == "password"]


def _foreign(page: _Page, target: str) -> bool:
    host = _host_of(target)
    return bool(host) and _domain(host) != page.domain


def _form_findings(page: _Page, rules: dict[str, Rule], has_password: bool) -> list[Finding]:
    out: list[Finding] = []
    endpoints = exfil_endpoints()
    for form in page.tree.css("form"):
        action = _attr(form, "action")
        target = urljoin(page.url, action) if action else page.url
        lower_action = action.lower()
        relay = next((e for e in endpoints if e in lower_action), None)
        if relay is not None:
            out.append(rules["page_form_exfil_endpoint"].finding(action, target=relay.rstrip("/")))
            continue
        # Broken markup often leaves the password field outside its form: judge the page's forms.
        # Credentials posted to a well-known brand's own domain are not harvested by this page.
        if has_password and _foreign(page, target) and brand_owning(_host_of(target)) is None:
            finding = rules["page_form_foreign_action"].finding(target, target=_host_of(target))
            if free_platform(_host_of(target)):  # credentials posted to a free hosting site
                finding = finding.model_copy(
                    update={
                        "score": finding.score + 2.0,
                        "reason": finding.reason + " It is a free hosting site.",
                    }
                )
            out.append(finding)
    if has_password and not any(f.name == "page_form_exfil_endpoint" for f in out):
        relay = next((e for e in endpoints if e != "mailto:" and e in page.scripts.lower()), None)
        if relay is not None:
            out.append(rules["page_form_exfil_endpoint"].finding(relay, target=relay))
        elif _SCRIPT_EXFIL.search(page.scripts) and _FIELD_READ.search(page.scripts):
            targets = [u for u in _URL_IN_SCRIPT.findall(page.scripts) if _foreign(page, u)]
            if targets:
                out.append(rules["page_script_exfil"].finding(targets[0], target=_host_of(targets[0])))
    return _dedupe(out)


def _brand_findings(page: _Page, rules: dict[str, Rule], has_password: bool) -> list[Finding]:
    if not has_password:
        return []
    out: list[Finding] = []
    title = page.tree.css_first("title")
    # Title, headings and field labels: where a page says whose sign-in it is. Not buttons: real
    # login pages offer "Sign in with Google/Apple" without pretending to be them.
    headings = " ".join(n.text(separator=" ") for n in page.tree.css("h1, h2, h3, label, legend")[:40])
    named_in = " ".join([title.text() if title else "", headings])
    own = brand_owning(page.host) or brand_owning(page.domain)
    brands = [b for b in brands_named(" ".join(named_in.split())) if b != own]
    # brands_named reads at most 500 characters; look at the title and headings separately too.
    for chunk in (title.text() if title else "", headings[:500]):
        brands.extend(b for b in brands_named(chunk) if b != own and b not in brands)
    # A form that sends the password to the named brand's own servers is that brand's form.
    targets = {
        brand_owning(_host_of(urljoin(page.url, _attr(f, "action"))))
        for f in page.tree.css("form")
        if _attr(f, "action")
    }
    brands = [b for b in brands if b not in targets]
    if brands and _LOGIN_WORDS.search(named_in):
        out.append(
            rules["page_brand_login_foreign"].finding(f"names {brands[0]} on {page.host}", brand=brands[0])
        )
    for node in page.tree.css("img[src], link[href], script[src]"):
        ref = _attr(node, "src") or _attr(node, "href")
        host = _host_of(urljoin(page.url, ref))
        brand = brand_owning(host) if host else None
        if brand and brand != own and _domain(host) != page.domain:
            out.append(rules["page_brand_assets_foreign"].finding(ref, brand=brand))
            break
    return out


def _script_findings(page: _Page, rules: dict[str, Rule]) -> list[Finding]:
    out: list[Finding] = []
    rule = rules["page_obfuscated_script"]
    src = page.source
    m = _DECODE_WRITE.search(src)
    if m:
        out.append(rule.finding(m.group(0), "decode_write", how="document.write of decoded HTML"))
    else:
        m2 = _EVAL_CHAIN.search(src) or _PACKER.search(src)
        if m2:
            out.append(rule.finding(m2.group(0), "eval_chain", how="eval of decoded text"))
        else:
            m3 = _B64_BLOB.search(src) or _PCT_BLOB.search(src)
            if m3:
                out.append(
                    rule.finding(
                        m3.group(0)[:80], "encoded_blob", how="a long encoded string decoded at run time"
                    )
                )
    rtl = _RTL.search(page.text) or _RTL.search(" ".join(_attr(a, "href") for a in page.tree.css("a")))
    if rtl:
        code = f"U+{ord(rtl.group(0)):04X}"
        out.append(rules["page_rtl_override"].finding(code, char=code))
    if _SMUGGLE_BLOB.search(src) and (
        (_SMUGGLE_SAVE.search(src) and _SMUGGLE_DOWNLOAD.search(src)) or "mssaveoropenblob" in page.lower
    ):
        out.append(rules["page_html_smuggling"].finding("new Blob + download", how="Blob saved by script"))
    else:
        for a in page.tree.css("a[download]"):
            href = _attr(a, "href").lower()
            if href.startswith("data:") and "text/html" not in href[:40] and "image/" not in href[:20]:
                out.append(rules["page_html_smuggling"].finding(href[:60], how="data: URI download link"))
                break
    if (
        _PREFILL.search(page.scripts)
        and _EMAIL_FIELD.search(page.scripts)
        and ("@" in page.scripts or "email" in page.scripts.lower())
        and ("hash" in page.scripts.lower() or "atob" in page.scripts.lower())
    ):
        out.append(rules["page_email_prefill"].finding("location.hash -> e-mail field"))
    return out


def _redirect_findings(page: _Page, rules: dict[str, Rule]) -> list[Finding]:
    out: list[Finding] = []
    rule = rules["page_meta_redirect"]
    for meta in page.tree.css("meta"):
        if _attr(meta, "http-equiv").lower() == "refresh":
            content = _attr(meta, "content")
            m = re.search(r"url\s*=\s*['\"]?([^'\"]+)", content, re.I)
            if m:
                target = urljoin(page.url, m.group(1).strip())
                if _foreign(page, target):
                    out.append(rule.finding(target, how="meta refresh", target=_host_of(target)))
                    break
    m = _JS_REDIRECT.search(page.scripts)
    if m:
        target = m.group(1) or m.group(2)
        if _foreign(page, target):
            out.append(rule.finding(target, how="script", target=_host_of(target)))
    return out


def redirect_targets(findings: Iterable[Finding]) -> list[str]:
    """The URLs that page redirects point at (for a reputation check of the next hop)."""
    return [f.evidence for f in findings if f.name == "page_meta_redirect"]


def _iframe_findings(page: _Page, rules: dict[str, Rule]) -> list[Finding]:
    for frame in page.tree.css("iframe"):
        style = _attr(frame, "style").replace(" ", "").lower()
        width, height = _attr(frame, "width"), _attr(frame, "height")
        hidden = (
            width in ("0", "1", "0px", "1px")
            or height in ("0", "1", "0px", "1px")
            or "display:none" in style
            or "visibility:hidden" in style
            or "hidden" in frame.attributes
        )
        src = _attr(frame, "src")
        host = _host_of(urljoin(page.url, src)) if src else ""
        if host and brand_owning(host) is not None:
            continue  # a big platform's tag/analytics frame (Google Tag Manager and the like)
        if hidden and src and not src.lower().startswith("about:"):
            return [
                rules["page_hidden_iframe"].finding(src, target=_host_of(urljoin(page.url, src)) or src[:60])
            ]
    return []


def _marker_findings(page: _Page, rules: dict[str, Rule]) -> list[Finding]:
    hits = [m for m in kit_markers() if m in page.lower]
    if not hits:
        return []
    finding = rules["page_kit_marker"].finding(", ".join(hits[:5]), marker=hits[0])
    if len(hits) > 1:  # several markers: stronger, but bounded
        finding = finding.model_copy(update={"score": min(finding.score * 1.5, 7.0)})
    return [finding]


def _text_findings(page: _Page, rules: dict[str, Rule], has_password: bool) -> list[Finding]:
    out: list[Finding] = []
    text = page.text.lower()
    phrase = next((p for p in _lure_phrases() if p in text), None)
    if phrase:
        out.append(rules["page_lure_text"].finding(phrase, phrase=phrase))
    if has_password:
        links = [a for a in page.tree.css("a[href]") if not _attr(a, "href").startswith(("#", "javascript:"))]
        if len(links) <= 2 and len(page.text) < 1500:
            out.append(
                rules["page_no_content_credentials"].finding(f"{len(links)} links, {len(page.text)} chars")
            )
        title = page.tree.css_first("title")
        title_text = title.text().strip() if title else ""
        if title_text and _DOC_TITLE_WORDS.search(title_text):
            out.append(rules["page_title_mismatch"].finding(title_text, title=title_text[:60]))
    return out


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[str] = set()
    out: list[Finding] = []
    for f in findings:
        if f.name not in seen:
            seen.add(f.name)
            out.append(f)
    return out


def analyze_html(html: str, url: str) -> list[Finding]:
    """Findings for one HTML page as served at ``url`` (its final URL after redirects)."""
    rules = page_rules()
    page = _parse(html, url)
    passwords = _password_inputs(page)
    has_password = bool(passwords)
    findings: list[Finding] = []
    if has_password:
        findings.append(rules["page_password_field"].finding(f"{len(passwords)} password field(s)"))
    findings += _form_findings(page, rules, has_password)
    findings += _brand_findings(page, rules, has_password)
    findings += _script_findings(page, rules)
    findings += _redirect_findings(page, rules)
    findings += _iframe_findings(page, rules)
    findings += _marker_findings(page, rules)
    findings += _text_findings(page, rules, has_password)
    return findings
