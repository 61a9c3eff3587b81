"""URL extraction from message bodies (HTML, plain text); the text scanner for attachments.

URLs inside attachments are found by Attachment Protect's engine (its scanners read each file
once: PDF links and text, Office relationships, HTML, calendars, shortcuts, raw strings), with
this module's scanners (:func:`text_urls`, :func:`extract_html`).

Every URL found is normalised (:mod:`tap_core.urls.normalize`) and unwrapped
(:mod:`tap_core.urls.unwrap`) into a :class:`FoundUrl`; ``raw`` is always the exact text that
appeared (the attribute value after entity decoding, or the span of text), because the
rewriter replaces exactly that.

Plain-text precision rules (what counts as a URL in prose):
- with a scheme (``http``, ``https``, ``ftp``, defanged ``hxxp``...): any syntactically valid
  host, including intranet names and unknown TLDs, because it is clickable as written;
- without a scheme (``www.example.com``, ``example.co.uk/path``, ``evil[.]com``): the host must
  end in a real ICANN public suffix (offline PSL), must not be the domain of an e-mail address,
  and a bare ``name.ext`` whose extension is also a file type (``report.zip``, ``main.py``) is
  only taken with a path;
- bare IPv4 addresses only with a path or a port (``10.0.0.1/login``): dotted numbers alone
  are mostly versions.
Trailing punctuation is dropped (``.,:;!?`` and unbalanced quotes/brackets); brackets and
quotes inside a URL are kept when balanced (``wiki/Primer_(film)``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from selectolax.lexbor import LexborNode

from tap_core.parsing.domains import has_known_suffix, split_host
from tap_core.parsing.html import parse_html
from tap_core.urls.model import FoundUrl
from tap_core.urls.normalize import NormalizedUrl, normalize_url
from tap_core.urls.unwrap import (
    OwnLinkDecoder,
    may_be_wrapper_host,
    unwrap_normalized,
)

__all__ = [
    "dedupe",
    "extract_html",
    "extract_text",
    "group_by_url",
    "text_urls",
]

# ---------------------------------------------------------------------------------------------
# Plain text
# ---------------------------------------------------------------------------------------------

# CJK ideographs, kana and Hangul: text in these scripts has no spaces, so they end a URL
# (a host label written in them is still taken after an explicit scheme: "http://例え.jp").
_CJK_LETTERS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
# CJK and full-width punctuation/spaces/forms: never inside a URL.
_CJK_PUNCT = "\u3000-\u303f\uff00-\uffef"
_CJK = _CJK_LETTERS + _CJK_PUNCT
_CJK_RE = re.compile(f"[{_CJK}]")
# Invisible characters that never belong to a typed URL (and bidi controls used to spoof).
_INVISIBLE = "\u200b\u202a-\u202e\u2066-\u2069\ufeff"
_WORD = rf"[^\W{_CJK}]"
_LABEL = rf"{_WORD}+(?:-+{_WORD}+)*"
# After an explicit scheme a host label may hold any letter or symbol a browser would encode
# (IDN, emoji, "✪df.ws") and percent-escapes (an evasion trick); not ASCII punctuation.
_HCHAR = rf"(?:[^\s!-/:-@\[-^`{{-~\x00-\x1f\x7f-\x9f{_INVISIBLE}{_CJK_PUNCT}]|%[0-9A-Fa-f]{{2}})"
_HOST_LABEL = rf"{_HCHAR}+(?:-+{_HCHAR}+)*"
_DOT = r"(?:\.|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\))"
# Full-width dots separate labels only when a non-CJK label follows ("example。com").
_HOST_DOT = rf"(?:{_DOT}|[。．｡](?={_WORD}))"
_BODY = rf"[^\s<>\x00-\x1f\x7f-\x9f{_INVISIBLE}{_CJK}]"
_SCHEME = r"(?:h(?:tt|xx|\*\*|\[xx\])ps?|ftp|fxp)(?::|\[:\]|\(:\))[/\\]+|h(?:tt|xx)ps?\[://\]"

_TEXT_RE = re.compile(
    rf"""
    (?P<scheme>(?i:{_SCHEME})
        (?:[^\s/\\?#<>"'()\[\]{{}}{_CJK}]*@)?                  # userinfo (may hold "@")
        (?P<shost>\[[0-9A-Fa-f:.]+\]|{_HOST_LABEL}(?:{_HOST_DOT}{_HOST_LABEL})*\.?)
        (?::\d+)?
        (?:[/\\?#]{_BODY}*)?
    )
    |(?P<mailto>(?i:mailto):(?://)?[^\s<>"'(),;:\[\]@{_CJK}]+@[^\s<>"'(),;\[\]@{_CJK}]+)
    |(?<!{_WORD})(?<![@%#$~/])
    # Never from inside a hyphenated word ("a-b-c"): every such start reaches the same end, so
    # "a-" * 24_000 + ".com" was read again from each label (49 s); a bare host right after a
    # run of hyphens that starts the token ("--example.com") is still taken, the run skipped.
    (?:(?<![\w-])(?P<dash>-++))?(?(dash)|(?<!-))
    (?P<bare>(?:(?<![:/])//)?(?P<bhost>{_LABEL}(?:{_DOT}{_LABEL})+)
        (?::\d+)?
        (?:[/?#]{_BODY}*)?
    )
    """,
    re.VERBOSE,
)
_SCHEME_ONLY_RE = re.compile(
    rf"(?P<scheme>(?i:https?|ftp)://(?:[^\s/\\?#<>\"'()\[\]{{}}]*@)?"
    rf"(?P<shost>\[[0-9A-Fa-f:.]+\]|{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?)(?::\d+)?"
    rf"(?:[/\\?#]{_BODY}*)?)"
)
#: A rejected bare match longer than this (a host has at most 253 characters, plus a port and
#: a short path) is not stepped into character by character.
_MAX_STEP_IN = 512
_SCHEME_START_RE = re.compile(rf"(?i:{_SCHEME})")
# Cheap first pass: where a URL can be. Prose between anchors is skipped at C speed; the
# full pattern then runs only over the whitespace-delimited token around each anchor.
_ANCHOR_RE = re.compile(r"\.(?=[^\W_])|:[/\\]|\[[.:d]|\([.:d]|\{\.|[。．｡](?=[^\W_])|(?i:mailto:)")
_NEXT_SPACE_RE = re.compile(r"\s")
# Right after a bare host: an e-mail local part continues ("name.al+x@", "www.foo:bar@").
_LOCAL_PART_TAIL_RE = re.compile(r"[\w.+\-:]*@")
_TRAILING = frozenset(".,:;!?*…'\"")
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_QUOTES = frozenset("\"'`")
_TLD_SHAPE_RE = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9\-]{1,59}|0x[0-9a-f]*|[0-9]+)")
_IPV4_RE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_LDH_HOST_RE = re.compile(
    r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?\.)+[A-Za-z]{2,63}\.?"
)
# A host written with ASCII letters, digits, "-" and "_" only, ending in a label that is not a
# number (so not an IPv4 form) and without punycode.
_PLAIN_NAME_RE = re.compile(r"(?!.*[xX][nN]--)(?:[A-Za-z0-9_\-]+\.)+(?![0-9]+$|0[xX])[A-Za-z0-9_\-]+")
_HOST_SEP_RE = re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|[.。．｡]", re.IGNORECASE)
# Extensions that are also TLDs: a bare "name.ext" with one of these is a file name unless a
# path follows ("main.py" is code, "main.py/x" a link).
_FILE_LIKE_TLDS = frozenset(
    {"zip", "mov", "py", "pm", "md", "rs", "sh", "ps", "cat", "one", "tf", "mm", "cab", "gs", "app"}
)


def extract_text(
    text: str,
    source: str,
    *,
    own_link_decoder: OwnLinkDecoder | None = None,
    own_hosts: Sequence[str] = (),
    context: str = "text",
    max_chars: int = 2_000_000,
    max_urls: int = 5000,
) -> list[FoundUrl]:
    """URLs in plain text, in order of appearance (duplicates kept: one per occurrence).

    ``context`` labels the findings ("text", "pdf_text", "ics"...); defanged ones get
    ``context + "_defanged"`` so that the rewriter leaves them alone.
    """
    out: list[FoundUrl] = []
    for raw, n in text_urls(text[:max_chars], limit=max_urls):
        ctx = f"{context}_defanged" if n.defanged else context
        out.append(_found(n, raw, source, ctx, None, own_link_decoder, own_hosts))
    return out


def text_urls(
    text: str, *, schemes_only: bool = False, limit: int = 5000
) -> Iterable[tuple[str, NormalizedUrl]]:
    """(raw, normalised) for each URL typed in ``text``. Public for callers that label
    and keep the URLs themselves (Attachment Protect's scanners, the one extractor of attachment
    URLs: see :mod:`tap_core.attachments.scanners._urls`). ``schemes_only``: only explicit
    ``http(s)`` and ``ftp`` URLs (raw strings of binary files), not bare hosts."""
    return _scan_text_python(text, schemes_only=schemes_only, limit=limit)


def _scan_text_python(
    text: str, *, schemes_only: bool, limit: int
) -> Iterator[tuple[str, NormalizedUrl]]:
    if not text:
        return
    search = (_SCHEME_ONLY_RE if schemes_only else _TEXT_RE).search
    anchor = _ANCHOR_RE.search
    next_space = _NEXT_SPACE_RE.search
    count = 0
    pos = 0
    while count < limit:
        a = anchor(text, pos)
        if a is None:
            return
        p = a.start()
        # The whitespace-delimited token around the anchor: URLs never hold whitespace.
        tok_start = max(pos, text.rfind(" ", pos, p) + 1, text.rfind("\n", pos, p) + 1,
                        text.rfind("\t", pos, p) + 1)
        sp = next_space(text, a.end())
        tok_end = sp.start() if sp else len(text)
        q = tok_start
        while q < tok_end and count < limit:
            m = search(text, q, tok_end)
            if m is None:
                break
            found = _candidate(text, m)
            if found is None:
                # A rejected bare token may hide a URL after it ("name.first@http://x"):
                # step inside it rather than over it. A run longer than any host could be
                # ("a.b" * 10**4) is only stepped into at an explicit scheme: stepping one
                # character at a time would rescan it from every label.
                if m.lastgroup != "bare":
                    q = m.end()
                    continue
                bare = m.start("bare")  # after the hyphens the match may have skipped
                if m.end() - bare <= _MAX_STEP_IN:
                    q = bare + 1
                else:
                    inner = _SCHEME_START_RE.search(text, bare + 1, m.end())
                    q = inner.start() if inner else m.end()
                continue
            raw, n, start = found
            q = start + len(raw)
            count += 1
            yield raw, n
        pos = tok_end


def _candidate(text: str, m: re.Match[str]) -> tuple[str, NormalizedUrl, int] | None:
    kind = m.lastgroup or ""
    start, end = m.span(kind)
    raw = _trim(text, start, end)
    if not raw:
        return None
    if len(raw) < end - start and kind != "mailto":
        # Re-read the trimmed text so that the host span matches what is kept.
        m2 = m.re.match(text, m.start(), start + len(raw))
        if m2 is None or m2.lastgroup != kind:
            return None
        m = m2
        raw = text[start : m.end(kind)]
    if kind == "mailto":
        if end < len(text) and text[end] == "@":
            return None  # "mailto:a@b@c": not one address
        n = normalize_url(raw)
        return (raw, n, start) if n is not None and n.scheme == "mailto" and n.host else None
    host_group = "shost" if kind == "scheme" else "bhost"
    hs, he = m.span(host_group)
    he = min(he, start + len(raw))
    host = text[hs:he]
    rest = len(raw) - (he - start)  # characters after the host (port, path)
    if kind == "scheme":
        if rest == 0 and _truncated_host(text, end):
            return None  # "http://leadingdash.-x.com": the host does not end here
        if not host.isascii() and _CJK_RE.search(host):
            cut = _cut_cjk_host(host)
            if cut is None:
                return None
            if len(cut) < len(host):
                raw = raw[: hs - start + len(cut)].rstrip(".")
                host = cut
        n = normalize_url(raw)
        if n is None or not _plausible_explicit_host(host, n.host):
            return None
        return raw, n, start
    # bare (no scheme)
    if _preceded_by_broken_token(text, start):
        return None
    if rest == 0 and _LOCAL_PART_TAIL_RE.match(text, start + len(raw)):
        return None  # the domain or local part of an e-mail address
    if _PLAIN_NAME_RE.fullmatch(host) and not _known_suffix(host.lower()):
        # A plain (not numeric, not IDN) name normalises to itself in lower case: without a
        # public suffix it is rejected below anyway ("e.g", "file.txt"), so skip normalising.
        return None
    n = normalize_url(raw)
    if n is None or n.scheme != "http":
        return None
    has_path = len(raw[he - start :].rstrip("/")) > 0
    if _IPV4_RE.fullmatch(n.host) and not _IPV4_RE.fullmatch(host):
        return None  # "70.9054" is a number to a browser's IPv4 parser, not a typed address
    if not _plausible_bare_host(n.host, has_path=has_path, port=n.port):
        return None
    return raw, n, start


def _truncated_host(text: str, end: int) -> bool:
    """The host pattern stopped on a character that makes the host invalid, not on a
    delimiter: "http://a.-b.com", "http://a-.b.com", "http://x..y.com" (but "----" after a
    host, or a final "...", are punctuation)."""
    n = len(text)
    i = end
    while i < n and text[i] in "-_":
        i += 1
    if i >= n:
        return False
    if text[i].isalnum():
        return True
    return text[i] == "." and i + 1 < n and (text[i + 1].isalnum() or text[i + 1] in "-_")


def _cut_cjk_host(host: str) -> str | None:
    """A host run into CJK prose ("example.comだよね"): keep it whole only when it ends in a
    real public suffix (an IDN), otherwise cut it where the CJK text starts."""
    n = normalize_url("http://" + host)
    if n is not None and has_known_suffix(n.host):
        return host
    m = _CJK_RE.search(host)
    cut = host[: m.start()] if m else host
    return cut if cut and cut[-1] not in ".-" else None


def _trim(text: str, start: int, end: int) -> str:
    """Cut the candidate at an enclosing quote, an unmatched closer, trailing punctuation."""
    raw = text[start:end]
    before = text[start - 1] if start > 0 else ""
    if before in _QUOTES:
        q = raw.find(before)
        if q > 0:
            raw = raw[:q]
    if ")" in raw or "]" in raw or "}" in raw:
        raw = _cut_unbalanced(raw)
    while raw:
        last = raw[-1]
        if last in _TRAILING:
            if last in _QUOTES and raw.count(last) % 2 == 0:
                break
            raw = raw[:-1]
        elif last in _CLOSERS and raw.count(last) > raw.count(_CLOSERS[last]):
            raw = raw[:-1]
        else:
            break
    return raw


def _cut_unbalanced(raw: str) -> str:
    depth = {"(": 0, "[": 0, "{": 0}
    for i, ch in enumerate(raw):
        if ch in depth:
            depth[ch] += 1
        elif ch in _CLOSERS:
            opener = _CLOSERS[ch]
            if depth[opener] == 0:
                return raw[:i]
            depth[opener] -= 1
    return raw


def _preceded_by_broken_token(text: str, start: int) -> bool:
    """"x.example.com" after "foo." or "foo-": the tail of a longer, malformed token."""
    i = start - 1
    while i >= 0 and text[i] in ".-":
        i -= 1
    return i < start - 1 and i >= 0 and (text[i].isalnum() or text[i] in "_/\\@:%")


@lru_cache(maxsize=65536)
def _plausible_explicit_host(host_text: str, ascii_host: str) -> bool:
    """Shape of a host written after a scheme (any TLD is allowed: it is clickable)."""
    if host_text.startswith("["):
        return True
    if _LDH_HOST_RE.fullmatch(host_text) and ascii_host == host_text.rstrip(".").lower():
        # Plain labels of 1-63 characters, no edge hyphen, alphabetic TLD: every shape check
        # below passes, only the registrable label remains to be looked at.
        return "_" not in _registrable_label(ascii_host)
    labels = _HOST_SEP_RE.split(host_text.rstrip(".").lower())
    if any(not lab or lab[0] == "-" or lab[-1] == "-" for lab in labels):
        return False
    if any(len(lab) > 63 for lab in ascii_host.split(".")):
        return False  # beyond the DNS label limit: nothing resolves there
    if len(labels) == 1:
        return True  # intranet name ("http://intranet/"), clickable as written
    tld = labels[-1]
    if not (tld.isascii() and _TLD_SHAPE_RE.fullmatch(tld)) and tld.isascii():
        return False
    if _IPV4_RE.fullmatch(ascii_host):
        return True
    return "_" not in _registrable_label(ascii_host)


@lru_cache(maxsize=65536)
def _known_suffix(host: str) -> bool:
    return has_known_suffix(host)


@lru_cache(maxsize=65536)
def _registrable_label(host: str) -> str:
    """The label just left of the public suffix ("" when the suffix is unknown)."""
    return split_host(host)[1] if _known_suffix(host) else ""


def _plausible_bare_host(host: str, *, has_path: bool, port: int | None = None) -> bool:
    """A host written without a scheme: real public suffix, not a file name, or IPv4+path."""
    if _IPV4_RE.fullmatch(host):
        return has_path or port is not None
    if not _known_suffix(host):
        return False
    sub, domain, suffix = split_host(host)
    if "_" in domain:
        return False  # registrable labels cannot hold "_" (subdomains may)
    return not (not sub and not has_path and port is None and suffix in _FILE_LIKE_TLDS)


def clear_caches() -> None:
    """Drop memoised host checks (benchmarks measure cold runs)."""
    _known_suffix.cache_clear()
    _registrable_label.cache_clear()
    _plausible_explicit_host.cache_clear()


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

_SCHEME_PREFIX_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_HOST_END_RE = re.compile(r"[/?#:\\]")
_EMAIL_RE = re.compile(r"[^\s@/:<>()\[\]\\,;]+@[^\s@/:<>()\[\]\\,;]+\.[^\s@/:<>()\[\]\\,;]+")
# An unquoted url() value stops at "(" (CSS requires it escaped there): "url(" * 10,000 without
# ")" read every later "url(" into each value (quadratic).
_CSS_URL_RE = re.compile(
    r"""url\(\s*+(?:"([^"]*+)"|'([^']*+)'|([^()'"\s]*+))\s*+\)|@import\s++(?:"([^"]*+)"|'([^']*+)')""",
    re.IGNORECASE,
)
_META_REFRESH_RE = re.compile(
    r"""^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(?:"([^"]*)"?|'([^']*)'?|(.*))\s*$""",
    re.IGNORECASE | re.DOTALL,
)
_WS_RE = re.compile(r"\s+")
# element -> (attribute, context); anchors, forms, meta, base and CSS are handled apart.
_SRC_ATTRS: dict[str, tuple[str, str]] = {
    "iframe": ("src", "iframe_src"),
    "frame": ("src", "frame_src"),
    "embed": ("src", "embed_src"),
    "object": ("data", "object_data"),
    "script": ("src", "script_src"),
}
_HTML_SELECTOR = (
    "a, area, form, button[formaction], input[formaction], iframe, frame, embed, object, "
    "script[src], meta[http-equiv], [style], style"
)
# Elements whose text is not visible prose (anchor text is reported as link_text instead).
_NOT_PROSE = ["a", "area", "script", "style", "head", "title", "noscript", "template"]


def extract_html(
    html: str,
    source: str,
    *,
    own_link_decoder: OwnLinkDecoder | None = None,
    own_hosts: Sequence[str] = (),
    include_text: bool = True,
    max_chars: int = 5_000_000,
    max_urls: int = 5000,
) -> list[FoundUrl]:
    """URLs in an HTML document: links in document order, then URLs typed in the text.

    Links (a/area href with ``link_text``, form actions, frames, embeds, objects, scripts,
    meta refresh, CSS ``url()``, images inside links), resolved against ``<base href>``;
    ``raw`` is the attribute value after entity decoding. Defanged values get a
    ``_defanged`` context suffix.
    Relative links with no base point nowhere in a mail client and are skipped, except the
    ones a client would still open: ``//host/x``, ``www.host.com`` and ``user@host`` (mailto).
    With ``include_text``, URLs typed in the visible text (outside links) are reported too,
    context "html_text".
    """
    try:
        tree = parse_html(html[:max_chars]).tree
    except Exception:  # the parser is tolerant; this is for truly broken input only
        return extract_text(html[:max_chars], source, own_link_decoder=own_link_decoder,
                            own_hosts=own_hosts, max_urls=max_urls)
    ctx = _HtmlContext(source, own_link_decoder, own_hosts, max_urls)
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base_raw = base_node.attributes.get("href") or ""
        base = normalize_url(base_raw) if _SCHEME_PREFIX_RE.match(base_raw.strip()) else None
        if base is not None and base.is_web:
            ctx.base = base.url
            ctx.add(base_raw, "base_href")
    for node in tree.css(_HTML_SELECTOR):
        if ctx.full:
            break
        _html_node(node, ctx)
    if include_text and not ctx.full:
        try:
            tree.strip_tags(_NOT_PROSE)
            body = tree.body
            prose = body.text(separator=" ") if body is not None else ""
        except Exception:
            prose = ""
        for raw, n in text_urls(prose, limit=max_urls - len(ctx.out)):
            context = "html_text_defanged" if n.defanged else "html_text"
            ctx.out.append(_found(n, raw, source, context, None, own_link_decoder, own_hosts))
    return ctx.out


@dataclass(slots=True)
class _HtmlContext:
    source: str
    own_link_decoder: OwnLinkDecoder | None
    own_hosts: Sequence[str]
    max_urls: int
    base: str | None = None
    out: list[FoundUrl] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.out) >= self.max_urls

    def add(self, raw: str | None, context: str, link_text: str | None = None,
            *, allow_data: bool = True) -> None:
        if not raw or self.full:
            return
        n = _resolve_reference(raw, self.base)
        if n is None or (not allow_data and n.scheme == "data"):
            return
        if n.defanged:
            context += "_defanged"
        self.out.append(
            _found(n, raw, self.source, context, link_text, self.own_link_decoder, self.own_hosts)
        )


def _html_node(node: LexborNode, ctx: _HtmlContext) -> None:
    tag = node.tag or ""
    attrs = node.attributes
    if tag in ("a", "area"):
        href = attrs.get("href") or attrs.get("xlink:href")
        if href:
            ctx.add(href, f"{tag}_href", _link_text(node, tag, attrs))
            if tag == "a":
                for img in node.css("img[src]"):
                    ctx.add(img.attributes.get("src"), "img_in_link", allow_data=False)
    elif tag == "form":
        ctx.add(attrs.get("action"), "form_action")
    elif tag in ("button", "input"):
        ctx.add(attrs.get("formaction"), "form_action")
    elif tag in _SRC_ATTRS:
        attr, context = _SRC_ATTRS[tag]
        ctx.add(attrs.get(attr), context)
    elif tag == "meta":
        if (attrs.get("http-equiv") or "").strip().lower() == "refresh":
            ctx.add(_meta_refresh_url(attrs.get("content") or ""), "meta_refresh")
    elif tag == "style":
        _css_urls(node.text(deep=True), ctx)
    style = attrs.get("style")
    if style and "url" in style.lower():
        _css_urls(style, ctx)


def _link_text(node: LexborNode, tag: str, attrs: dict[str, str | None]) -> str:
    if tag == "area":
        return _WS_RE.sub(" ", attrs.get("alt") or "").strip()
    text = _WS_RE.sub(" ", node.text(deep=True, separator=" ")).strip()
    if text:
        return text
    # An <a> around an image shows the image: its alt text is what the reader "sees".
    alts = [img.attributes.get("alt") or "" for img in node.css("img")]
    return _WS_RE.sub(" ", " ".join(alts)).strip()


def _meta_refresh_url(content: str) -> str | None:
    m = _META_REFRESH_RE.match(content)
    if m is None:
        return None
    value = next((g for g in m.groups() if g is not None), "").strip()
    return value or None


def _css_urls(css: str, ctx: _HtmlContext) -> None:
    for m in _CSS_URL_RE.finditer(css):
        value = next((g for g in m.groups() if g is not None), "")
        ctx.add(value, "css_url", allow_data=False)


def _resolve_reference(raw: str, base: str | None) -> NormalizedUrl | None:
    """A link target as a mail client would open it (see extract_html)."""
    value = raw.strip()
    if not value:
        return None
    if _SCHEME_PREFIX_RE.match(value):
        n = normalize_url(value)
        if n is not None or base is None:
            return n
    if base is not None:
        return normalize_url(value, base)
    if value.startswith(("//", "\\\\")):
        return normalize_url(value)
    if _EMAIL_RE.fullmatch(value):
        return normalize_url("mailto:" + value)
    n = normalize_url(value)
    if n is None or n.scheme != "http":
        return None
    return n if _plausible_bare_host(n.host, has_path=_bare_has_path(value), port=n.port) else None


def _bare_has_path(value: str) -> bool:
    """Something after the host of a scheme-less reference (a lone "/" does not count)."""
    v = value.lstrip("/")
    m = _HOST_END_RE.search(v)
    return m is not None and bool(v[m.start() :].rstrip("/"))


# ---------------------------------------------------------------------------------------------
# Common
# ---------------------------------------------------------------------------------------------


def _found(
    n: NormalizedUrl,
    raw: str,
    source: str,
    context: str,
    link_text: str | None,
    own_link_decoder: OwnLinkDecoder | None,
    own_hosts: Sequence[str],
) -> FoundUrl:
    # Unwrapping is only asked about links that can be wrapped (own links, named wrappers).
    if n.is_web and (own_hosts or own_link_decoder is not None or may_be_wrapper_host(n.host)):
        r = unwrap_normalized(n, own_hosts=own_hosts, own_link_decoder=own_link_decoder)
        if r.wrappers:
            inner = normalize_url(r.url)
            display = inner.display_url if inner is not None else r.url
            return FoundUrl(r.url, raw, display, source, context, link_text, list(r.wrappers),
                            r.chain[0])
    return FoundUrl(n.url, raw, n.display_url, source, context, link_text, [], None)


def dedupe(found: Iterable[FoundUrl]) -> list[FoundUrl]:
    """One FoundUrl per destination ``url``, the first occurrence, in original order.

    For intelligence lookups and verdicts. The rewriter needs every occurrence (each ``raw``
    is replaced in place): use the full list, or :func:`group_by_url`.
    """
    seen: set[str] = set()
    out: list[FoundUrl] = []
    for f in found:
        if f.url not in seen:
            seen.add(f.url)
            out.append(f)
    return out


def group_by_url(found: Iterable[FoundUrl]) -> dict[str, list[FoundUrl]]:
    """Every occurrence grouped by destination ``url`` (insertion order = first seen)."""
    groups: dict[str, list[FoundUrl]] = {}
    for f in found:
        groups.setdefault(f.url, []).append(f)
    return groups


#: Type of the own-link hook accepted by the extractors (see :func:`unwrap`).
OwnLinkHook = Callable[[str], str | None]

