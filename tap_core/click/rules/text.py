"""What the page says: lure and payment-fraud wording (and a way to act on it), a file shown
as a mail attachment, a document title on a bare sign-in form."""

from __future__ import annotations

import re

from tap_core.click.rules.parse import FEW_LINKS, Page, attr, host_of, links, posts, resolve
from tap_core.click.rules.words import fold, lure_phrases, page_words, threat_dictionary
from tap_core.detect.rules import Rule
from tap_core.lookalike import brand_owning
from tap_core.model.findings import Finding

_DOC_TITLE_WORDS = re.compile(
    r"\b(?:excel|pdf|docusign|onedrive|sharepoint|invoice|document|voicemail|fax|spreadsheet|"
    r"shared file|secure message|adobe)\b",
    re.I,
)
_FILE_NAME = re.compile(
    r"(?<![\w()\-])[\w()\-]{1,120}\.(?:pdf|docx?|docm|xlsx?|xlsm|xlsb|pptx?|rtf|txt|csv|odt|ods|zip|rar|7z|iso|img|"
    r"html?|shtml|svg|exe|scr|js|vbs|one|lnk)\b",
    re.I,
)
_HEADER_ADDRESS = re.compile(r"<[\w.+-]+@[\w-]+(?:\.[\w-]+)+>")


def attachment_findings(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    """A web page that shows a file as a message attachment: the fake-attachment lure of HTML
    attachments and landing pages. Stronger when the page also shows a sender's address the
    way a mail header does (a page dressed as an e-mail)."""
    files = _FILE_NAME.findall(page.text)
    if not files or not page_words().attachment.search(fold(page.text)):
        return []
    sender = _HEADER_ADDRESS.search(page.text)
    if sender is not None:
        evidence = f"{files[0]} from {sender.group(0)}"
        # A mail archive shows messages among its navigation; a lure page is the message alone.
        variant = "message_only" if len(links(page)) <= FEW_LINKS else "in_message"
        return [rules["page_fake_attachment"].finding(evidence, variant, file=files[0])]
    return [rules["page_fake_attachment"].finding(files[0], "plain", file=files[0])]


def _has_action(page: Page) -> str | None:
    """How a short page lets its visitor act: a form sent to a server, or one of its few links.
    Pages with navigation (shops, banks, newsletters) are not a single next step."""
    found = links(page)
    if len(found) > FEW_LINKS:
        return None
    for form in page.tree.css("form"):
        target = posts(page, form)
        if target is not None and brand_owning(host_of(target)) is None:
            return f"form -> {target}"
    if found:
        return f"link -> {resolve(page.url, found[0])}"
    return None


def _lure_findings(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    """Lure language in the title and text (any shipped language), and lure plus a way to act."""
    out: list[Finding] = []
    text = " ".join(f"{page.title} {page.text}".lower().split())
    found = [p for p in lure_phrases() if p in text]
    found = [p for p in found if not any(p != q and p in q for q in found)]  # "su cuenta" in a longer one
    if found:
        variant = "several" if len(found) >= 2 else "one"
        out.append(rules["page_lure_text"].finding(", ".join(found[:5]), variant, phrase=found[0]))
    # Payment-fraud (BEC) wording, read as the impersonation rules read a message: one strong
    # term or two different weak ones, not counting what the lure phrases already counted.
    strong, weak = threat_dictionary().scan(page.title, page.text)
    strong = [t for t in strong if t.lower() not in found]
    if strong or len(weak) >= 2:
        terms = [*strong, *weak]
        out.append(rules["page_threat_text"].finding(", ".join(terms[:6]), terms=", ".join(terms[:3])))
    if out:
        action = _has_action(page)
        if action is not None:
            out.append(rules["page_lure_with_action"].finding(action, action=action.split(" ")[0]))
    return out


def text_findings(
    page: Page, rules: dict[str, Rule], has_password: bool, has_sensitive: bool
) -> list[Finding]:
    out: list[Finding] = _lure_findings(page, rules)
    if has_password or has_sensitive:
        anchors = [
            a for a in page.tree.css("a[href]") if not attr(a, "href").startswith(("#", "javascript:"))
        ]
        if len(anchors) <= 2 and len(page.text) < 1500:
            out.append(
                rules["page_no_content_credentials"].finding(f"{len(anchors)} links, {len(page.text)} chars")
            )
    if has_password:
        title = page.tree.css_first("title")
        title_text = title.text().strip() if title else ""
        if title_text and _DOC_TITLE_WORDS.search(title_text):
            out.append(rules["page_title_mismatch"].finding(title_text, title=title_text[:60]))
    return out
