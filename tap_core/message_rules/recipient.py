"""Recipient rules: a bulk lure addresses each copy to its reader.

Kits put the recipient's address in the subject ("jane@contoso.com, your invoice") and in the
link, plain, URL-encoded or in base64, so the page greets the victim by name and fills in the
login form.
"""

from __future__ import annotations

import base64
import re

from tap_core.message_rules._view import MessageView, rules
from tap_core.model.findings import Finding


def _base64_forms(text: str) -> set[str]:
    """The stable inner parts of ``text`` in base64 at each of the three byte alignments, as
    phishing kits carry the victim's address (``#cGhpc2hpbmdAcG90``)."""
    forms = set()
    raw = text.encode("utf-8")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii").rstrip("=")
        start = (shift * 4 + 2) // 3 + (1 if shift else 0)
        inner = encoded[start:len(encoded) - 2]
        if len(inner) >= 8:
            forms.add(inner)
    return forms


def in_subject(view: MessageView) -> Finding | None:
    """The recipient's address (or its local part with an @) in the subject, not a list tag
    like "[ilug]"."""
    local = view.recipient.lower().partition("@")[0]
    subject = view.message.subject
    if local and re.search(rf"(?<![\w.-]){re.escape(local)}@", subject.lower()):
        return rules()["recipient_in_subject"].finding(view.recipient, sample=subject[:60])
    return None


def in_link(view: MessageView) -> Finding | None:
    """A link (not an unsubscribe link) carrying the recipient's address in one of its forms."""
    if not view.recipient:
        return None
    needle = view.recipient.lower()
    forms = {needle, needle.replace("@", "%40"), *_base64_forms(view.recipient)}
    for f in view.web:
        low = f.url.lower()
        if "unsubscribe" in low:
            continue
        if any(form in low for form in forms if form == form.lower()) or any(
                form in f.url for form in forms if form != form.lower()):
            return rules()["recipient_in_link"].finding(view.recipient)
    return None
