"""Typed records shared by the URL Protect stages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class FoundUrl:
    """One URL found in a message part, before deduplication.

    ``raw`` is the text exactly as it appeared (attribute value after entity decoding, or the
    span in plain text): the rewriter replaces exactly this. ``url`` is the normalised ASCII
    form (punycode host) of the *real* destination after unwrapping known wrappers;
    ``display_url`` is the same with the host in Unicode, for people.
    """

    url: str
    raw: str
    display_url: str
    #: Where it was found: "body.html", "body.text", "attachment:<name>", "message:<n>/body.html"...
    source: str
    #: How it was found: "a_href", "area_href", "form_action", "iframe_src", "frame_src",
    #: "embed_src", "meta_refresh", "css_url", "img_in_link", "base_href", "text", "pdf_annotation",
    #: "pdf_text", "ooxml_relationship", "ooxml_hyperlink", "ics", ...
    context: str
    #: Visible text of an anchor (whitespace collapsed), when the URL came from <a>/<area>.
    link_text: str | None = None
    #: Wrappers removed to reach ``url``, outermost first: "safelinks", "proofpoint_v3", ...
    wrappers: list[str] = field(default_factory=list)
    #: The URL before unwrapping (normalised), when ``wrappers`` is not empty.
    wrapped_url: str | None = None
