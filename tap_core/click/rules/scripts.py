"""What the page's scripts do: obfuscation, right-to-left overrides, HTML smuggling, and the
visitor's address filled in from the link."""

from __future__ import annotations

import re

from tap_core.click.rules.parse import B64_BLOB, MAX_HTML_CHARS, PCT_BLOB, Page, attr
from tap_core.detect.rules import Rule
from tap_core.model.findings import Finding, Verdict
from tap_core.urls.rules.parse import lists

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
_SMUGGLE_BLOB = re.compile(r"new\s+Blob\s*\(", re.I)
_SMUGGLE_SAVE = re.compile(r"(?:msSaveOrOpenBlob|msSaveBlob|createObjectURL)\s*\(", re.I)
# The file name a smuggling script gives its download: a.download = "x.iso", setAttribute("download",
# "x.iso"), msSaveOrOpenBlob(blob, "x.iso").
_SMUGGLE_NAME = re.compile(
    r"(?:\.download\s*=\s*|setAttribute\s*\(\s*['\"]download['\"]\s*,\s*|msSave(?:OrOpen)?Blob\s*\([^,()]{1,80},\s*)"
    r"['\"]([^'\"\s]{1,80}\.[A-Za-z0-9]{1,6})['\"]",
    re.I,
)
_SMUGGLE_DOWNLOAD = re.compile(r"\.download\s*=|setAttribute\s*\(\s*['\"]download", re.I)
_PREFILL = re.compile(
    r"(?:location\.hash|location\.search|window\.location\.href)[^;\n]{0,80}(?:substr|substring|slice|split|"
    r"replace|atob)",
    re.I,
)
_EMAIL_FIELD = re.compile(r"(?:e-?mail|user|login|account)", re.I)


def _obfuscation(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    rule = rules["page_obfuscated_script"]
    src = page.source
    m = _DECODE_WRITE.search(src)
    if m:
        return [rule.finding(m.group(0), "decode_write", how="document.write of decoded HTML")]
    m2 = _EVAL_CHAIN.search(src) or _PACKER.search(src)
    if m2:
        return [rule.finding(m2.group(0), "eval_chain", how="eval of decoded text")]
    m3 = B64_BLOB.search(src) or PCT_BLOB.search(src)
    if m3:
        return [
            rule.finding(m3.group(0)[:80], "encoded_blob", how="a long encoded string decoded at run time")
        ]
    return []


def _smuggling(rule: Rule, src: str) -> Finding:
    """HTML smuggling, decided alone when what it builds is a file that runs code when opened
    (an .iso, .hta, .js, .exe ... as ``urls/dangerous_extensions.txt`` lists): no "export to CSV"
    button builds one of those."""
    extensions = lists().extensions
    for m in _SMUGGLE_NAME.finditer(src[:MAX_HTML_CHARS]):
        ext = m.group(1).rsplit(".", 1)[-1].lower()
        if ext in extensions:
            return rule.finding(
                f"new Blob + download {m.group(1)[:60]}", "dangerous", verdict=Verdict.MALICIOUS,
                how=f"a {ext} file built by script",
            )
    return rule.finding("new Blob + download", how="Blob saved by script")


def script_findings(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    out = _obfuscation(page, rules)
    src = page.source
    rtl = _RTL.search(page.text) or _RTL.search(" ".join(attr(a, "href") for a in page.tree.css("a")))
    if rtl:
        code = f"U+{ord(rtl.group(0)):04X}"
        out.append(rules["page_rtl_override"].finding(code, char=code))
    if _SMUGGLE_BLOB.search(src) and (
        (_SMUGGLE_SAVE.search(src) and _SMUGGLE_DOWNLOAD.search(src)) or "mssaveoropenblob" in page.lower
    ):
        out.append(_smuggling(rules["page_html_smuggling"], src))
    else:
        for a in page.tree.css("a[download]"):
            href = attr(a, "href").lower()
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
