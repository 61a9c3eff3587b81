"""Time-of-click page analysis: what a fetched HTML page does, as named findings with evidence.

Pure: takes the page's bytes and its URL, returns findings. Rules and their scores are data
(``tap_core/data/click/page_rules.toml``, ``kit_names.txt``, ``kit_markers.txt``, ``exfil_endpoints.txt``,
``page_words.toml``, ``scam_phrases.txt``); lure language also comes from the shared lists the
message rules use (``urls/lure_phrases.txt`` and the impersonation threat dictionaries).
"""

from __future__ import annotations

import base64
import binascii
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from tap_core.data import data_lines, data_text
from tap_core.detect.rules import Rule, family_rules
from tap_core.impersonation.dictionary import ThreatDictionary
from tap_core.impersonation.text import strip_marks
from tap_core.lookalike import brand_owning, brands_named
from tap_core.model.findings import Finding
from tap_core.parsing.domains import registered_domain
from tap_core.parsing.html import parse_html
from tap_core.urls.platforms import free_platform

MAX_HTML_CHARS = 1_500_000  # parse at most this much of a page
_MAX_DECODE_DEPTH = 3


@cache
def page_rules() -> dict[str, Rule]:
    return family_rules("click", "page_rules.toml")


@cache
def kit_markers() -> re.Pattern[str]:
    return _whole_tokens(data_lines("click", "kit_markers.txt"))


@cache
def kit_names() -> re.Pattern[str]:
    return _whole_tokens(data_lines("click", "kit_names.txt"))


def _whole_tokens(entries: Iterable[str]) -> re.Pattern[str]:
    """Entries as whole tokens of lower-cased source: "log.txt" is not in "build-log.txt" nor
    "scama" in "scamadviser"; an entry's own punctuation ("$_session['") needs no boundary."""
    alternatives = []
    for entry in sorted(set(entries), key=len, reverse=True):
        head = r"(?<![\w-])" if entry[0].isalnum() else ""
        tail = r"(?![a-z0-9])" if entry[-1].isalnum() else ""
        alternatives.append(head + re.escape(entry) + tail)
    return re.compile("|".join(alternatives))


@cache
def exfil_endpoints() -> tuple[str, ...]:
    return data_lines("click", "exfil_endpoints.txt")


@cache
def _lure_phrases() -> tuple[str, ...]:
    """Account, payment and delivery lures (shared with the message rules) but for the ones that
    are ordinary page labels ("mot de passe"), then scam stories."""
    shared, own = data_lines("urls", "lure_phrases.txt"), data_lines("click", "scam_phrases.txt")
    ordinary = {p.lower() for p in tomllib.loads(data_text("click", "page_words.toml"))["lure"]["ordinary"]}
    return tuple(p for p in dict.fromkeys([*shared, *own]) if p not in ordinary)


@cache
def _threat_dictionary() -> ThreatDictionary:
    return ThreatDictionary()  # every shipped language: a page's language is not known


def _fold(text: str) -> str:
    """Lower-case words without accents or punctuation; "cardNumber" reads "card number"."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    text = strip_marks(unicodedata.normalize("NFKD", text.casefold()))
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def _terms(terms: Iterable[str]) -> re.Pattern[str]:
    folded = sorted({_fold(t) for t in terms if _fold(t)}, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(t) for t in folded) + r")\b")


@dataclass(frozen=True, slots=True)
class _Words:
    sensitive: dict[str, re.Pattern[str]]
    consent: re.Pattern[str]
    allow: re.Pattern[str]
    signin: re.Pattern[str]
    approve: re.Pattern[str]
    financial: re.Pattern[str]
    generic: frozenset[str]
    attachment: re.Pattern[str]


@cache
def page_words() -> _Words:
    data = tomllib.loads(data_text("click", "page_words.toml"))
    return _Words(
        sensitive={name: _terms(terms) for name, terms in data["sensitive_fields"].items()},
        consent=_terms(data["consent"]["scopes"]),
        allow=_terms(data["consent"]["allow"]),
        signin=_terms(data["consent"]["signin"]),
        approve=_terms(data["consent"]["approve"]),
        financial=_terms(data["financial"]["words"]),
        generic=frozenset(_fold(w) for w in data["financial"]["generic"]),
        attachment=_terms(data["attachment"]["words"]),
    )


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
_FEW_LINKS = 3  # a lure that leads to a single next step links to little else
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
    title: str


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
    tree = parse_html(full).tree
    # The analyses read the whole document; the visible text is read from a copy without its
    # scripts and styles (a copy of the tree costs a quarter of a second parse).
    whole = tree.clone()
    scripts = "\n".join(node.text(deep=True) or "" for node in tree.css("script"))
    for node in tree.css("script, style, noscript"):
        node.decompose()
    body = tree.body
    text = " ".join((body.text(separator=" ") if body is not None else "").split())
    host = _host_of(url)
    title = tree.css_first("title")
    return _Page(
        url=url,
        host=host,
        domain=_domain(host),
        source=full,
        lower=full.lower(),
        tree=whole,
        text=text[:20000],
        scripts=scripts,
        title=" ".join(title.text().split())[:300] if title is not None else "",
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
        if host and _domain(host) == page.domain:
            continue  # the site's own frame (silent sign-in renewal, keep-alive): nothing it hides
        if hidden and src and not src.lower().startswith("about:"):
            return [
                rules["page_hidden_iframe"].finding(src, target=_host_of(urljoin(page.url, src)) or src[:60])
            ]
    return []


_NOT_DATA = frozenset({"hidden", "submit", "button", "reset", "checkbox", "radio", "image", "file", "search"})
_AUTO_CLICK = re.compile(
    r"(?:getElementById\(\s*['\"]([^'\"]+)['\"]\s*\)|querySelector\(\s*['\"]#([\w-]+)['\"]\s*\)|"
    r"\$\(\s*['\"]#([\w-]+)['\"]\s*\)(?:\[0\]|\.get\(0\))?)\s*\.click\s*\(\s*\)",
    re.I,
)


def _posts(page: _Page, form: LexborNode) -> str | None:
    """Where a form sends its fields when it is submitted to a server, else None."""
    action = _attr(form, "action")
    if action.lower().startswith(("#", "javascript:")):
        return None
    if not action and _attr(form, "method").lower() != "post":
        return None  # no action, no POST: a form that script handles, or a search box
    return urljoin(page.url, action) if action else page.url


def _labels(page: _Page) -> dict[str, str]:
    return {_attr(n, "for"): n.text(separator=" ") for n in page.tree.css("label[for]")}


def _describe(field: LexborNode, labels: dict[str, str]) -> str:
    """What a form field is for, as its page tells: attributes, its label, the text before it."""
    parts = [_attr(field, a) for a in ("name", "id", "placeholder", "aria-label", "autocomplete", "title")]
    parts.append(labels.get(_attr(field, "id"), ""))
    node = field.parent
    while node is not None and node.tag not in ("form", "body"):
        if node.tag == "label":
            parts.append(node.text(separator=" "))
            break
        node = node.parent
    prev = field.prev
    while prev is not None and prev.tag == "-text" and not (prev.text() or "").strip():
        prev = prev.prev
    if prev is not None and prev.tag in ("label", "-text", "span", "p", "div"):
        parts.append((prev.text(separator=" ") or "")[:80])
    return _fold(" ".join(parts))


def _form_asks(form: LexborNode, labels: dict[str, str]) -> list[str]:
    """The kinds of sensitive data a form asks for (card, bank, national_id, mfa, password...)."""
    words = page_words()
    kinds: dict[str, None] = {}
    for field in form.css("input, select, textarea"):
        kind = _attr(field, "type").lower()
        if kind in _NOT_DATA:
            continue
        desc = _describe(field, labels)
        found = [name for name, pattern in words.sensitive.items() if pattern.search(desc)]
        if "new_second_factor" in found:  # a new phone or device is sensitive for MFA only
            found.remove("mfa" if "mfa" in found else "new_second_factor")
        if not found and kind == "password":
            found = ["password"]
        kinds.update(dict.fromkeys(found))
    return list(kinds)


def _sensitive_form_findings(page: _Page, rules: dict[str, Rule]) -> list[Finding]:
    """A form that sends card, bank, identity or second-factor data to a server (with or without
    a password): what phishing pages collect after, or instead of, a password."""
    labels = _labels(page)
    best: tuple[list[str], str] | None = None
    for form in page.tree.css("form"):
        target = _posts(page, form)
        if target is None or brand_owning(_host_of(target)) is not None:
            continue  # a known brand's own servers asking for its customers' data
        kinds = _form_asks(form, labels)
        if not [k for k in kinds if k != "password"]:
            continue
        if best is None or len(kinds) > len(best[0]):
            best = (kinds, target)
    if best is None:
        return []
    kinds, target = best
    what = ", ".join(k.replace("_", " ") for k in kinds)
    rule = rules["page_form_sensitive_data"]
    variant = "combined" if len(kinds) >= 2 else kinds[0] if kinds[0] in rule.weights else "single"
    return [rule.finding(f"{what} -> {target}", variant, what=what)]


def _consent_findings(page: _Page, rules: dict[str, Rule]) -> list[Finding]:
    """An OAuth-style consent screen (an app asking to read or send the visitor's mail) with an
    Allow button, or a page asking to approve a sign-in or MFA request, served outside the
    identity providers' own sites; the button must submit a form."""
    if brand_owning(page.host) is not None:
        return []
    words = page_words()
    text = _fold(f"{page.title} {page.text}")
    scope = words.consent.search(text)
    signin = words.signin.search(text)
    if scope is None and signin is None:
        return []
    for form in page.tree.css("form"):
        if _posts(page, form) is None:
            continue
        for control in form.css("button, input[type=submit]"):
            if _attr(control, "type").lower() in ("button", "reset"):
                continue  # only what submits the form
            label = _fold(control.text(separator=" ") or _attr(control, "value"))
            if not label or len(label) > 40:
                continue
            if scope is not None and (words.allow.search(label) or words.approve.search(label)):
                return [
                    rules["page_consent_grant"].finding(
                        f"{scope.group(0)!r}; button {label!r}", "mail", scope=scope.group(0)
                    )
                ]
            if signin is not None and words.approve.search(label):
                return [
                    rules["page_consent_grant"].finding(
                        f"{signin.group(0)!r}; button {label!r}", "signin", scope=signin.group(0)
                    )
                ]
    return []


def _auto_click_findings(page: _Page, rules: dict[str, Rule]) -> list[Finding]:
    """A script clicks a link by itself as the page loads: a redirect that redirect checks miss."""
    for m in _AUTO_CLICK.finditer(page.source):
        ident = next(g for g in m.groups() if g)
        node = next((n for n in page.tree.css("a[href]") if _attr(n, "id") == ident), None)
        if node is None:
            continue
        target = urljoin(page.url, _attr(node, "href"))
        if target.lower().startswith(("http://", "https://")) and _foreign(page, target):
            host = _host_of(target)
            return [
                rules["page_auto_click"].finding(m.group(0)[:80], target=host),
                rules["page_meta_redirect"].finding(target, how="scripted link click", target=host),
            ]
    return []


def _bank_name_findings(page: _Page, rules: dict[str, Rule], has_password: bool) -> list[Finding]:
    """A sign-in page titled with a bank's or credit union's name that its address does not carry
    (page_brand_login_foreign does this for the brands the project knows; this is for the rest)."""
    if not has_password or brand_owning(page.host) is not None:
        return []
    words = page_words()
    heading = page.tree.css_first("h1")
    named = _fold(f"{page.title} {heading.text(separator=' ') if heading is not None else ''}")
    if not words.financial.search(named):
        return []
    tokens = named.split()
    names = [t for t in tokens if len(t) >= 3 and t not in words.generic and not t.isdigit()]
    host = re.sub(r"[^a-z0-9]", "", page.host)
    initials = "".join(t[0] for t in _fold(page.title).split() if t not in ("of", "de", "the", "du", "der"))
    if not names or any(n in host for n in names) or (len(initials) >= 3 and initials in host):
        return []
    shown = page.title[:60] or named[:60]
    return [rules["page_bank_name_foreign"].finding(f"{shown!r} on {page.host}", name=shown)]


_FILE_NAME = re.compile(
    r"(?<![\w()\-])[\w()\-]{1,120}\.(?:pdf|docx?|docm|xlsx?|xlsm|xlsb|pptx?|rtf|txt|csv|odt|ods|zip|rar|7z|iso|img|"
    r"html?|shtml|svg|exe|scr|js|vbs|one|lnk)\b",
    re.I,
)
_HEADER_ADDRESS = re.compile(r"<[\w.+-]+@[\w-]+(?:\.[\w-]+)+>")


def _attachment_findings(page: _Page, rules: dict[str, Rule]) -> list[Finding]:
    """A web page that shows a file as a message attachment: the fake-attachment lure of HTML
    attachments and landing pages. Stronger when the page also shows a sender's address the
    way a mail header does (a page dressed as an e-mail)."""
    files = _FILE_NAME.findall(page.text)
    if not files or not page_words().attachment.search(_fold(page.text)):
        return []
    sender = _HEADER_ADDRESS.search(page.text)
    if sender is not None:
        evidence = f"{files[0]} from {sender.group(0)}"
        # A mail archive shows messages among its navigation; a lure page is the message alone.
        variant = "message_only" if len(_links(page)) <= _FEW_LINKS else "in_message"
        return [rules["page_fake_attachment"].finding(evidence, variant, file=files[0])]
    return [rules["page_fake_attachment"].finding(files[0], "plain", file=files[0])]


def _links(page: _Page) -> list[str]:
    """The page's links to other pages (not its own anchors, scripts, mail or phone links)."""
    return [
        _attr(a, "href")
        for a in page.tree.css("a[href]")
        if not _attr(a, "href").lower().startswith(("#", "javascript:", "mailto:", "tel:"))
    ]


def _has_action(page: _Page) -> str | None:
    """How a short page lets its visitor act: a form sent to a server, or one of its few links.
    Pages with navigation (shops, banks, newsletters) are not a single next step."""
    links = _links(page)
    if len(links) > _FEW_LINKS:
        return None
    for form in page.tree.css("form"):
        target = _posts(page, form)
        if target is not None and brand_owning(_host_of(target)) is None:
            return f"form -> {target}"
    if links:
        return f"link -> {urljoin(page.url, links[0])}"
    return None


def _page_code(page: _Page) -> str:
    """What the page's author wrote for machines, not readers: HTML comments, scripts and
    attribute values (paths, ids, classes), lower-cased."""
    parts = [page.scripts]
    root = page.tree.root
    document = root.parent if root is not None and root.parent is not None else root
    if document is None:
        return page.scripts.lower()
    for node in document.traverse(include_text=False):  # the document: comments around <html> too
        if node.tag == "-comment":
            parts.append(node.html or "")
        else:
            parts.extend(v for v in node.attributes.values() if v)
    return "\n".join(parts).lower()


def _marker_findings(page: _Page, rules: dict[str, Rule]) -> list[Finding]:
    """Kit names in the page's code (left there by the kit) and kit traces anywhere; a kit name
    only in the visible text (an article about the kit) is a trace."""
    names = list(dict.fromkeys(kit_names().findall(page.lower)))
    named = list(dict.fromkeys(kit_names().findall(_page_code(page)))) if names else []
    traces = [m for m in dict.fromkeys([*names, *kit_markers().findall(page.lower)]) if m not in named]
    hits = [*named, *traces]
    if not hits:
        return []
    variant = "in_code" if named else "trace"
    finding = rules["page_kit_marker"].finding(", ".join(hits[:5]), variant, marker=hits[0])
    if len(hits) > 1:  # several markers: stronger, but bounded
        finding = finding.model_copy(update={"score": min(finding.score * 1.5, 7.0)})
    return [finding]


def _lure_findings(page: _Page, rules: dict[str, Rule]) -> list[Finding]:
    """Lure language in the title and text (any shipped language), and lure plus a way to act."""
    out: list[Finding] = []
    text = " ".join(f"{page.title} {page.text}".lower().split())
    found = [p for p in _lure_phrases() if p in text]
    found = [p for p in found if not any(p != q and p in q for q in found)]  # "su cuenta" in a longer one
    if found:
        variant = "several" if len(found) >= 2 else "one"
        out.append(rules["page_lure_text"].finding(", ".join(found[:5]), variant, phrase=found[0]))
    # Payment-fraud (BEC) wording, read as the impersonation rules read a message: one strong
    # term or two different weak ones, not counting what the lure phrases already counted.
    strong, weak = _threat_dictionary().scan(page.title, page.text)
    strong = [t for t in strong if t.lower() not in found]
    if strong or len(weak) >= 2:
        terms = [*strong, *weak]
        out.append(rules["page_threat_text"].finding(", ".join(terms[:6]), terms=", ".join(terms[:3])))
    if out:
        action = _has_action(page)
        if action is not None:
            out.append(rules["page_lure_with_action"].finding(action, action=action.split(" ")[0]))
    return out


def _text_findings(
    page: _Page, rules: dict[str, Rule], has_password: bool, has_sensitive: bool = False
) -> list[Finding]:
    out: list[Finding] = _lure_findings(page, rules)
    if has_password or has_sensitive:
        links = [a for a in page.tree.css("a[href]") if not _attr(a, "href").startswith(("#", "javascript:"))]
        if len(links) <= 2 and len(page.text) < 1500:
            out.append(
                rules["page_no_content_credentials"].finding(f"{len(links)} links, {len(page.text)} chars")
            )
    if has_password:
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
    sensitive = _sensitive_form_findings(page, rules)
    findings += sensitive
    findings += _consent_findings(page, rules)
    findings += _bank_name_findings(page, rules, has_password)
    findings += _brand_findings(page, rules, has_password)
    findings += _script_findings(page, rules)
    clicks = _auto_click_findings(page, rules)
    seen = {(f.name, f.evidence) for f in clicks}
    findings += clicks + [f for f in _redirect_findings(page, rules) if (f.name, f.evidence) not in seen]
    findings += _iframe_findings(page, rules)
    findings += _marker_findings(page, rules)
    findings += _attachment_findings(page, rules)
    findings += _text_findings(page, rules, has_password, bool(sensitive))
    return findings
