"""Message rules: what the message around its links says about them, and how it is built.

A link on an unknown site is rarely damning alone; the same link behind "Verify now" in a
message that claims to be PayPal but is not sent by PayPal is. These rules (data in
``tap_core/data/message/message_rules.toml``) add named findings that raise the message's URL
score; they never make a message MALICIOUS on their own.

* :mod:`.brand`: a brand claimed by a sender it does not own;
* :mod:`.lure`: lure phrases, calls to action, disguised words, hash-buster tokens;
* :mod:`.sender`: display-name and From-header tricks, shared platforms, free mailboxes;
* :mod:`.links`: public image hosts, planted redirects, links only in attachments, forms;
* :mod:`.recipient`: the recipient's address in the subject or a link;
* :mod:`.structure`: fake replies and hidden text (read from the message alone).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tap_core.detect.defects import isolated
from tap_core.message_rules import brand, links, lure, sender, structure
from tap_core.message_rules import recipient as to_recipient
from tap_core.message_rules._view import MessageView, web_links
from tap_core.model.decision import UrlResult
from tap_core.model.findings import Finding
from tap_core.model.message import Message
from tap_core.urls.model import FoundUrl

__all__ = ["message_findings"]

#: The link rules, in the order their findings are reported; each fires at most once.
_LINK_RULES: tuple[Callable[[MessageView], Finding | None], ...] = (
    brand.claim_mismatch,
    brand.mail_free_hosting,
    lure.call_to_action,
    lure.lure_text,
    lure.deceptive_text,
    brand.name_disguised,
    sender.unrelated_name,
    sender.malformed_header,
    sender.padded_header,
    links.public_images,
    links.opaque_offsite,
    sender.platform_or_freemail,
    lure.random_token,
    sender.address_in_name,
    links.form_in_attachment,
    links.only_in_attachment,
    to_recipient.in_subject,
    to_recipient.in_link,
)
#: The rules that read the message alone: they apply whether it has links or not.
_MESSAGE_RULES: tuple[Callable[[Message], Finding | None], ...] = (
    structure.fake_reply,
    structure.hidden_text,
)


def message_findings(message: Message, found: list[FoundUrl],
                     results: dict[str, UrlResult], recipient: str = "") -> list[Finding]:
    """The message-level findings of ``message``, whose URLs are ``found`` and assessed in
    ``results``; ``recipient`` is the protected mailbox it was delivered to."""
    # Each rule runs isolated: one that raises adds analysis_defect, the others still run.
    out: list[Finding] = []
    defects: list[Finding] = []
    no_links: list[FoundUrl] = []
    web = isolated("message.web_links", lambda: web_links(found, results), no_links, defects)
    if web:
        view = isolated("message.view", lambda: MessageView(message, web, recipient), None, defects)
        if view is not None:
            for rule in _LINK_RULES:
                finding = isolated(f"message.{rule.__name__}", partial(rule, view), None, defects)
                if finding is not None:
                    out.append(finding)
    for whole in _MESSAGE_RULES:
        finding = isolated(f"message.{whole.__name__}", partial(whole, message), None, defects)
        if finding is not None:
            out.append(finding)
    return out + defects
