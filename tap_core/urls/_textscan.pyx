# cython: language_level=3, boundscheck=True, wraparound=False, initializedcheck=True
"""Compiled twin of the plain-text URL scanner in :mod:`tap_core.urls.extract`.

``scan_text`` gives exactly what ``extract._scan_text_python`` gives for ``schemes_only=False``:
the same ``(raw, NormalizedUrl)`` pairs in the same order; ``found_in_text`` gives what
``extract.extract_text`` gives without own-link handling (the FoundUrl records). It follows
the Python code step by step (anchors, whitespace-delimited tokens, the ``_TEXT_RE``
alternatives with Python's ``re`` semantics, trimming, the per-kind checks, the PSL walk,
normalize's fast path) with the regular expressions written out as loops over the
characters. What is rare calls back into the Python functions given to :func:`configure`:
URLs the fast path does not cover (escapes, userinfo, IPv6, mailto...), non-LDH hosts
(host_forms), punycode registrable labels, links that may be wrapped (extract._found).
``tests/test_textscan.py`` holds both to the same results on edge cases and seeded random
texts; the Python code is the reference and runs wherever this module is not built.

Memory safety: every character access is a bounds-checked ``str`` index (``boundscheck`` on);
there is no pointer arithmetic and no manual reference counting.
"""

from cpython.object cimport PyObject_GenericSetAttr
from cpython.type cimport PyType_GenericAlloc

# Hooks into tap_core (set by configure(); this module imports nothing from tap_core).
cdef object _normalize_url = None          # normalize.normalize_url
cdef object _host_forms = None        # normalize.host_forms
cdef object _normalized_url_cls = None     # normalize.NormalizedUrl
cdef tuple _normalized_url_fields = ()     # its field names, in order
cdef object _plausible_bare_host = None    # extract._plausible_bare_host
cdef object _registrable_label_py = None   # extract._registrable_label
cdef object _known_suffix = None           # extract._known_suffix (ICANN suffixes)
cdef dict _trie_icann = None               # domains.psl_trie(private=False)
cdef dict _trie_private = None             # domains.psl_trie(private=True)
cdef frozenset _file_like_tlds = frozenset()
cdef object _found_cls = None              # model.FoundUrl
cdef object _found_py = None               # extract._found
cdef frozenset _wrapper_domains = frozenset()  # unwrap.WRAPPER_DOMAINS
cdef Py_ssize_t _max_step_in = 512

# Match kinds (the named alternatives of _TEXT_RE).
DEF K_SCHEME = 1
DEF K_MAILTO = 2
DEF K_BARE = 3


def configure(*, normalize_url, host_forms, normalized_url_cls, normalized_url_fields,
              registrable_label, plausible_bare_host, known_suffix,
              trie_icann, trie_private, file_like_tlds, max_step_in, found_cls, found,
              wrapper_domains):
    """Give the scanner the Python definitions it defers to (called once by extract.py)."""
    global _normalize_url, _normalized_url_cls
    global _plausible_bare_host, _known_suffix, _trie_icann, _trie_private, _file_like_tlds
    global _max_step_in, _normalized_url_fields, _host_forms, _registrable_label_py
    global _found_cls, _found_py, _wrapper_domains
    _found_cls = found_cls
    _found_py = found
    _wrapper_domains = frozenset(wrapper_domains)
    _normalize_url = normalize_url
    _host_forms = host_forms
    _normalized_url_cls = normalized_url_cls
    _normalized_url_fields = tuple(normalized_url_fields)
    if len(_normalized_url_fields) != 11:
        raise ValueError("NormalizedUrl changed: update _new_normalized in _textscan.pyx")
    _registrable_label_py = registrable_label
    _plausible_bare_host = plausible_bare_host
    _known_suffix = known_suffix
    _trie_icann = trie_icann
    _trie_private = trie_private
    _file_like_tlds = frozenset(file_like_tlds)
    _max_step_in = max_step_in


# ---------------------------------------------------------------------------------------------
# Character classes (the sets in extract.py; \w, \s and \d as Python's re reads them)
# ---------------------------------------------------------------------------------------------

cdef inline bint _is_cjk_letter(Py_UCS4 c):
    return ((0x3040 <= c <= 0x30ff) or (0x3400 <= c <= 0x4dbf) or (0x4e00 <= c <= 0x9fff)
            or (0xac00 <= c <= 0xd7af) or (0xf900 <= c <= 0xfaff))


cdef inline bint _is_cjk_punct(Py_UCS4 c):
    return (0x3000 <= c <= 0x303f) or (0xff00 <= c <= 0xffef)


cdef inline bint _is_cjk(Py_UCS4 c):
    return _is_cjk_letter(c) or _is_cjk_punct(c)


cdef inline bint _is_invisible(Py_UCS4 c):
    return c == 0x200b or (0x202a <= c <= 0x202e) or (0x2066 <= c <= 0x2069) or c == 0xfeff


cdef inline bint _is_control(Py_UCS4 c):
    return c <= 0x1f or (0x7f <= c <= 0x9f)


cdef inline bint _is_re_word(Py_UCS4 c):
    # re's \w on str patterns: alphanumeric (str.isalnum) or "_".
    return c == u'_' or c.isalnum()


cdef inline bint _is_word(Py_UCS4 c):
    # _WORD = [^\W{_CJK}]
    return _is_re_word(c) and not _is_cjk(c)


cdef inline bint _is_body(Py_UCS4 c):
    # _BODY = [^\s<>\x00-\x1f\x7f-\x9f{_INVISIBLE}{_CJK}]
    return not (c.isspace() or c == u'<' or c == u'>' or _is_control(c) or _is_invisible(c)
                or _is_cjk(c))


cdef inline bint _is_hchar1(Py_UCS4 c):
    # The one-character part of _HCHAR: no whitespace, ASCII punctuation, control,
    # invisible character or CJK punctuation ("_" is allowed: it is not in those ranges).
    if c.isspace() or _is_control(c) or _is_invisible(c) or _is_cjk_punct(c):
        return False
    if (0x21 <= c <= 0x2f) or (0x3a <= c <= 0x40) or (0x5b <= c <= 0x5e) or c == 0x60:
        return False
    return not (0x7b <= c <= 0x7e)


cdef inline bint _is_hex(Py_UCS4 c):
    return (u'0' <= c <= u'9') or (u'a' <= c <= u'f') or (u'A' <= c <= u'F')


cdef inline bint _is_userinfo_char(Py_UCS4 c):
    # [^\s/\\?#<>"'()\[\]{}{_CJK}]
    if c.isspace() or _is_cjk(c):
        return False
    return c not in u'/\\?#<>"\'()[]{}'


cdef inline bint _is_mailto_local(Py_UCS4 c):
    # [^\s<>"'(),;:\[\]@{_CJK}]
    if c.isspace() or _is_cjk(c):
        return False
    return c not in u'<>"\'(),;:[]@'


cdef inline bint _is_mailto_domain(Py_UCS4 c):
    # [^\s<>"'(),;\[\]@{_CJK}]
    if c.isspace() or _is_cjk(c):
        return False
    return c not in u'<>"\'(),;[]@'


cdef inline bint _ci(Py_UCS4 c, Py_UCS4 lower):
    # One ASCII letter of a (?i:...) group, with the extra code points re's Unicode case
    # folding matches: "s" also matches U+017F, "i" also U+0130 and U+0131.
    cdef Py_UCS4 upper = <Py_UCS4>(<int>lower - 32)
    if c == lower or c == upper:
        return True
    if lower == u's':
        return c == 0x17f
    if lower == u'i':
        return c == 0x130 or c == 0x131
    return False


cdef inline bint _is_fullwidth_dot(Py_UCS4 c):
    return c == 0x3002 or c == 0xff0e or c == 0xff61


# ---------------------------------------------------------------------------------------------
# The alternatives of _TEXT_RE, matched at one position with an end bound (re's endpos)
# ---------------------------------------------------------------------------------------------

cdef inline bint _at(str t, Py_ssize_t i, Py_ssize_t e, Py_UCS4 c):
    return i < e and t[i] == c


cdef inline bint _at_ci(str t, Py_ssize_t i, Py_ssize_t e, Py_UCS4 lower):
    return i < e and _ci(t[i], lower)


cdef Py_ssize_t _scheme_sep(str t, Py_ssize_t i, Py_ssize_t e):
    """(?::|\[:\]|\(:\))[/\\]+ at i: the end, or -1."""
    cdef Py_ssize_t j
    if _at(t, i, e, u':'):
        j = i + 1
    elif _at(t, i, e, u'[') and _at(t, i + 1, e, u':') and _at(t, i + 2, e, u']'):
        j = i + 3
    elif _at(t, i, e, u'(') and _at(t, i + 1, e, u':') and _at(t, i + 2, e, u')'):
        j = i + 3
    else:
        return -1
    if not (j < e and (t[j] == u'/' or t[j] == u'\\')):
        return -1
    while j < e and (t[j] == u'/' or t[j] == u'\\'):
        j += 1
    return j


cdef Py_ssize_t _match_scheme(str t, Py_ssize_t p, Py_ssize_t e):
    """(?i:_SCHEME) at p: the end, or -1."""
    cdef Py_ssize_t j, r
    cdef bint plain
    if not (p < e):
        return -1
    if _ci(t[p], u'h'):
        # h(?:tt|xx|\*\*|\[xx\])ps? then the separator and slashes, or
        # h(?:tt|xx)ps?\[://\] (tried second, as in the pattern)
        plain = ((_at_ci(t, p + 1, e, u't') and _at_ci(t, p + 2, e, u't'))
                 or (_at_ci(t, p + 1, e, u'x') and _at_ci(t, p + 2, e, u'x')))
        j = -1
        if plain or (_at(t, p + 1, e, u'*') and _at(t, p + 2, e, u'*')):
            j = p + 3
        elif (_at(t, p + 1, e, u'[') and _at_ci(t, p + 2, e, u'x') and _at_ci(t, p + 3, e, u'x')
              and _at(t, p + 4, e, u']')):
            j = p + 5
        if j < 0 or not _at_ci(t, j, e, u'p'):
            return -1
        j += 1
        if _at_ci(t, j, e, u's'):
            r = _scheme_sep(t, j + 1, e)
            if r >= 0:
                return r
        r = _scheme_sep(t, j, e)
        if r >= 0 or not plain:
            return r
        if _at_ci(t, j, e, u's') and _bracket_sep(t, j + 1, e):
            return j + 6
        return j + 5 if _bracket_sep(t, j, e) else -1
    if _ci(t[p], u'f') and (_at_ci(t, p + 1, e, u't') or _at_ci(t, p + 1, e, u'x')) \
            and _at_ci(t, p + 2, e, u'p'):
        return _scheme_sep(t, p + 3, e)
    return -1


cdef inline bint _bracket_sep(str t, Py_ssize_t i, Py_ssize_t e):
    return (_at(t, i, e, u'[') and _at(t, i + 1, e, u':') and _at(t, i + 2, e, u'/')
            and _at(t, i + 3, e, u'/') and _at(t, i + 4, e, u']'))


cdef inline Py_ssize_t _hchar_len(str t, Py_ssize_t i, Py_ssize_t e):
    """Length of one _HCHAR at i (1, or 3 for a percent-escape), 0 when there is none."""
    cdef Py_UCS4 c
    if i >= e:
        return 0
    c = t[i]
    if _is_hchar1(c):
        return 1
    if c == u'%' and i + 2 < e and _is_hex(t[i + 1]) and _is_hex(t[i + 2]):
        return 3
    return 0


cdef Py_ssize_t _host_label(str t, Py_ssize_t i, Py_ssize_t e):
    """_HOST_LABEL = HCHAR+(?:-+HCHAR+)* at i: the end, or -1."""
    cdef Py_ssize_t j = i, k, d
    k = _hchar_len(t, j, e)
    if k == 0:
        return -1
    while k:
        j += k
        k = _hchar_len(t, j, e)
    while j < e and t[j] == u'-':
        d = j
        while d < e and t[d] == u'-':
            d += 1
        k = _hchar_len(t, d, e)
        if k == 0:
            break
        j = d
        while k:
            j += k
            k = _hchar_len(t, j, e)
    return j


cdef Py_ssize_t _bracketed(str t, Py_ssize_t i, Py_ssize_t e, bint dot_any_case, bint colon):
    """A defanged dot at i, "[.]", "(.)", "{.}", "[dot]" or "(dot)" ("dot" in any case if
    asked), or with ``colon`` a defanged colon, "[:]" or "(:)": its length, or 0."""
    cdef Py_UCS4 c, close
    if i >= e:
        return 0
    c = t[i]
    if c != u'[' and c != u'(' and c != u'{':
        return 0
    close = u']' if c == u'[' else (u')' if c == u'(' else u'}')
    if (_at(t, i + 1, e, u'.') or (colon and c != u'{' and _at(t, i + 1, e, u':'))) \
            and _at(t, i + 2, e, close):
        return 3
    if c != u'{' and _at(t, i + 4, e, close):
        if dot_any_case:
            if _at_ci(t, i + 1, e, u'd') and _at_ci(t, i + 2, e, u'o') and _at_ci(t, i + 3, e, u't'):
                return 5
        elif _at(t, i + 1, e, u'd') and _at(t, i + 2, e, u'o') and _at(t, i + 3, e, u't'):
            return 5
    return 0


cdef Py_ssize_t _defang_dot(str t, Py_ssize_t i, Py_ssize_t e):
    """_DOT = \.|\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\) at i: its length, or 0."""
    if i < e and t[i] == u'.':
        return 1
    return _bracketed(t, i, e, False, False)


cdef Py_ssize_t _host_dot(str t, Py_ssize_t i, Py_ssize_t e):
    """_HOST_DOT: _DOT, or a full-width dot followed by a _WORD character."""
    cdef Py_ssize_t k = _defang_dot(t, i, e)
    if k:
        return k
    if i < e and _is_fullwidth_dot(t[i]) and i + 1 < e and _is_word(t[i + 1]):
        return 1
    return 0


cdef Py_ssize_t _scheme_host(str t, Py_ssize_t i, Py_ssize_t e):
    """(?P<shost>\[[0-9A-Fa-f:.]+\]|HOST_LABEL(?:HOST_DOT HOST_LABEL)*\.?) at i: end or -1."""
    cdef Py_ssize_t j
    cdef Py_UCS4 c
    if i < e and t[i] == u'[':
        j = i + 1
        while j < e:
            c = t[j]
            if _is_hex(c) or c == u':' or c == u'.':
                j += 1
            else:
                break
        if j > i + 1 and j < e and t[j] == u']':
            return j + 1
    j = _host_label(t, i, e)
    if j < 0:
        return -1
    j = _more_labels(t, j, e, True)
    if j < e and t[j] == u'.':
        j += 1
    return j


cdef Py_ssize_t _more_labels(str t, Py_ssize_t j, Py_ssize_t e, bint after_scheme):
    """(?:DOT LABEL)* after a label that ends at j: where the last label ends. After a scheme
    the dots are _HOST_DOT and the labels _HOST_LABEL, else _DOT and _LABEL."""
    cdef Py_ssize_t k, nxt
    while True:
        k = _host_dot(t, j, e) if after_scheme else _defang_dot(t, j, e)
        if k == 0:
            return j
        nxt = _host_label(t, j + k, e) if after_scheme else _bare_label(t, j + k, e)
        if nxt < 0:
            return j
        j = nxt


cdef Py_ssize_t _port_and_path(str t, Py_ssize_t j, Py_ssize_t e, bint backslash):
    """(?::\d+)?(?:[/?#] BODY*)? after a host (with "\\" among the path starts if asked)."""
    cdef Py_UCS4 c
    if j + 1 < e and t[j] == u':' and t[j + 1].isdecimal():
        j += 1
        while j < e and t[j].isdecimal():
            j += 1
    if j < e:
        c = t[j]
        if c == u'/' or c == u'?' or c == u'#' or (backslash and c == u'\\'):
            j += 1
            while j < e and _is_body(t[j]):
                j += 1
    return j


cdef Py_ssize_t _bare_label(str t, Py_ssize_t i, Py_ssize_t e):
    """_LABEL = WORD+(?:-+WORD+)* at i: the end, or -1."""
    cdef Py_ssize_t j = i, d
    if not (j < e and _is_word(t[j])):
        return -1
    while j < e and _is_word(t[j]):
        j += 1
    while j < e and t[j] == u'-':
        d = j
        while d < e and t[d] == u'-':
            d += 1
        if not (d < e and _is_word(t[d])):
            break
        j = d
        while j < e and _is_word(t[j]):
            j += 1
    return j


cdef Py_ssize_t _mailto_address(str t, Py_ssize_t u, Py_ssize_t e):
    """LOCAL+@DOMAIN+ at u (the part of the mailto alternative after "mailto:"): end or -1."""
    cdef Py_ssize_t r = u, k
    while r < e and _is_mailto_local(t[r]):
        r += 1
    if not (r > u and r < e and t[r] == u'@'):
        return -1
    k = r + 1
    while k < e and _is_mailto_domain(t[k]):
        k += 1
    return k if k > r + 1 else -1


cdef struct _Match:
    int kind
    Py_ssize_t start, end, host_start, host_end


cdef bint _match_at(str t, Py_ssize_t p, Py_ssize_t e, _Match* m):
    """_TEXT_RE.match(t, p, e): the alternatives in order (scheme, mailto, bare)."""
    cdef Py_ssize_t j, r, k, h, hend = -1
    cdef Py_UCS4 c, prev
    if p >= e:
        return False
    c = t[p]
    # (?P<scheme>...)
    if _ci(c, u'h') or _ci(c, u'f'):
        j = _match_scheme(t, p, e)
        if j >= 0:
            # userinfo (?:[^...]*@)? : the last "@" of the run first, then earlier ones
            r = j
            while r < e and _is_userinfo_char(t[r]):
                r += 1
            h = r - 1
            while h >= j:
                if t[h] == u'@':
                    hend = _scheme_host(t, h + 1, e)
                    if hend >= 0:
                        h += 1
                        break
                h -= 1
            else:
                h = j  # no userinfo
                hend = _scheme_host(t, j, e)
            if hend >= 0:
                m.kind = K_SCHEME
                m.start, m.host_start, m.host_end = p, h, hend
                m.end = _port_and_path(t, hend, e, True)
                return True
    # (?P<mailto>(?i:mailto):(?://)?LOCAL+@DOMAIN+)
    if (_ci(c, u'm') and _at_ci(t, p + 1, e, u'a') and _at_ci(t, p + 2, e, u'i')
            and _at_ci(t, p + 3, e, u'l') and _at_ci(t, p + 4, e, u't')
            and _at_ci(t, p + 5, e, u'o') and _at(t, p + 6, e, u':')):
        # (?://)? : with the slashes first, then without them
        k = _mailto_address(t, p + 9, e) if _at(t, p + 7, e, u'/') and _at(t, p + 8, e, u'/') \
            else -1
        if k < 0:
            k = _mailto_address(t, p + 7, e)
        if k >= 0:
            m.kind = K_MAILTO
            m.start, m.end, m.host_start, m.host_end = p, k, -1, -1
            return True
    # (?<!WORD)(?<![@%#$~/])(?:(?<![\w-])(?P<dash>-++))?(?(dash)|(?<!-))
    # (?P<bare>(?:(?<![:/])//)?(?P<bhost>LABEL(?:DOT LABEL)+)...): never from inside a
    # hyphenated word; after a run of hyphens only when the run itself may start a match (the
    # match then starts at the bare host: the run is not part of it).
    if p > 0:
        prev = t[p - 1]
        if prev == u'-':
            r = p - 1
            while r > 0 and t[r - 1] == u'-':
                r -= 1
            if r > 0:
                prev = t[r - 1]
                if _is_re_word(prev) or prev == u'@' or prev == u'%' or prev == u'#' \
                        or prev == u'$' or prev == u'~' or prev == u'/':
                    return False
        elif _is_word(prev) or prev == u'@' or prev == u'%' or prev == u'#' or prev == u'$' \
                or prev == u'~' or prev == u'/':
            return False
    h = p
    if c == u'/':
        # "//" is only taken when not after ":" or "/"; without it the host would start at "/"
        if not (_at(t, p + 1, e, u'/') and (p == 0 or t[p - 1] != u':')):
            return False
        h = p + 2
    j = _bare_label(t, h, e)
    if j < 0:
        return False
    k = _more_labels(t, j, e, False)
    if k == j:
        return False  # (?:DOT LABEL)+ : at least one more label
    j = k
    m.kind = K_BARE
    m.start, m.host_start, m.host_end = p, h, j
    m.end = _port_and_path(t, j, e, False)
    return True


cdef bint _search(str t, Py_ssize_t q, Py_ssize_t e, _Match* m):
    """_TEXT_RE.search(t, q, e)."""
    cdef Py_ssize_t p = q
    while p < e:
        if _match_at(t, p, e, m):
            return True
        p += 1
    return False


cdef Py_ssize_t _scheme_start(str t, Py_ssize_t q, Py_ssize_t e):
    """_SCHEME_START_RE.search(t, q, e): the start, or -1."""
    cdef Py_ssize_t p = q
    while p < e:
        if _match_scheme(t, p, e) >= 0:
            return p
        p += 1
    return -1


# ---------------------------------------------------------------------------------------------
# Anchors and tokens
# ---------------------------------------------------------------------------------------------

cdef Py_ssize_t _anchor(str t, Py_ssize_t pos, Py_ssize_t n):
    """_ANCHOR_RE.search(t, pos): the start of the next anchor, or -1."""
    cdef Py_ssize_t i = pos
    cdef Py_UCS4 c, d
    while i < n:
        c = t[i]
        if i + 1 < n:
            d = t[i + 1]
            if c == u'.' or _is_fullwidth_dot(c):
                if d.isalnum():
                    return i
            elif c == u':':
                if d == u'/' or d == u'\\':
                    return i
            elif c == u'[' or c == u'(':
                if d == u'.' or d == u':' or d == u'd':
                    return i
            elif c == u'{':
                if d == u'.':
                    return i
            elif _ci(c, u'm') and i + 6 < n and _ci(d, u'a') and _ci(t[i + 2], u'i') \
                    and _ci(t[i + 3], u'l') and _ci(t[i + 4], u't') and _ci(t[i + 5], u'o') \
                    and t[i + 6] == u':':
                return i
        i += 1
    return -1


# ---------------------------------------------------------------------------------------------
# Candidates (extract._candidate and its helpers)
# ---------------------------------------------------------------------------------------------

cdef inline bint _is_trailing(Py_UCS4 c):
    return c in u'.,:;!?*\u2026\'"'


cdef inline bint _is_quote(Py_UCS4 c):
    return c == u'"' or c == u"'" or c == u'`'


cdef inline Py_UCS4 _opener(Py_UCS4 c):
    if c == u')':
        return u'('
    if c == u']':
        return u'['
    if c == u'}':
        return u'{'
    return 0


cdef str _cut_unbalanced(str raw):
    cdef Py_ssize_t i, n = len(raw)
    cdef Py_ssize_t paren = 0, square = 0, curly = 0
    cdef Py_UCS4 c
    for i in range(n):
        c = raw[i]
        if c == u'(':
            paren += 1
        elif c == u'[':
            square += 1
        elif c == u'{':
            curly += 1
        elif c == u')':
            if paren == 0:
                return raw[:i]
            paren -= 1
        elif c == u']':
            if square == 0:
                return raw[:i]
            square -= 1
        elif c == u'}':
            if curly == 0:
                return raw[:i]
            curly -= 1
    return raw


cdef str _trim(str t, Py_ssize_t start, Py_ssize_t end):
    cdef str raw = t[start:end]
    cdef Py_UCS4 before, last, opener
    cdef Py_ssize_t q
    if start > 0:
        before = t[start - 1]
        if _is_quote(before):
            q = raw.find(before)
            if q > 0:
                raw = raw[:q]
    raw = _cut_unbalanced(raw)
    while raw:
        last = raw[len(raw) - 1]
        if _is_trailing(last):
            if _is_quote(last) and raw.count(last) % 2 == 0:
                break
            raw = raw[:len(raw) - 1]
        else:
            opener = _opener(last)
            if opener and raw.count(last) > raw.count(opener):
                raw = raw[:len(raw) - 1]
            else:
                break
    return raw


cdef bint _truncated_host(str t, Py_ssize_t end):
    cdef Py_ssize_t n = len(t), i = end
    cdef Py_UCS4 c
    while i < n and (t[i] == u'-' or t[i] == u'_'):
        i += 1
    if i >= n:
        return False
    c = t[i]
    if c.isalnum():
        return True
    return c == u'.' and i + 1 < n and (t[i + 1].isalnum() or t[i + 1] == u'-' or t[i + 1] == u'_')


cdef bint _preceded_by_broken_token(str t, Py_ssize_t start):
    cdef Py_ssize_t i = start - 1
    cdef Py_UCS4 c
    while i >= 0 and (t[i] == u'.' or t[i] == u'-'):
        i -= 1
    if not (i < start - 1 and i >= 0):
        return False
    c = t[i]
    return c.isalnum() or c in u'_/\\@:%'


cdef bint _local_part_tail(str t, Py_ssize_t i):
    """_LOCAL_PART_TAIL_RE.match(t, i): [\w.+\-:]*@"""
    cdef Py_ssize_t n = len(t)
    cdef Py_UCS4 c
    while i < n:
        c = t[i]
        if _is_re_word(c) or c == u'.' or c == u'+' or c == u'-' or c == u':':
            i += 1
        else:
            break
    return i < n and t[i] == u'@'


cdef bint _is_ldh_name_char(Py_UCS4 c):
    return ((u'a' <= c <= u'z') or (u'A' <= c <= u'Z') or (u'0' <= c <= u'9') or c == u'_'
            or c == u'-')


cdef bint _contains_xn(str s):
    return u'xn--' in s.lower()


cdef Py_ssize_t _ldh_last_label(str host, bint lower_only):
    """Where the last label starts when ``host`` is dot-separated labels, none empty, of ASCII
    letters (lower-case ones only if asked), digits, "_" and "-"; -1 otherwise."""
    cdef Py_ssize_t i, n = len(host), label_start = 0
    cdef Py_UCS4 c
    if n == 0:
        return -1
    for i in range(n):
        c = host[i]
        if c == u'.':
            if i == label_start:
                return -1
            label_start = i + 1
        elif not ((u'a' <= c <= u'z') or (u'0' <= c <= u'9') or c == u'_' or c == u'-'
                  or (not lower_only and u'A' <= c <= u'Z')):
            return -1
    return label_start if label_start < n else -1


cdef bint _plain_name(str host):
    """_PLAIN_NAME_RE.fullmatch(host): ASCII LDH labels (two or more, none empty), no
    punycode, the last label neither all digits nor "0x..."."""
    cdef Py_ssize_t last = _ldh_last_label(host, False), n = len(host)
    if last <= 0 or _contains_xn(host):
        return False  # not LDH, one label only, or punycode
    if host[last:].isdigit():
        return False
    return not (host[last] == u'0' and last + 1 < n
                and (host[last + 1] == u'x' or host[last + 1] == u'X'))


cdef bint _is_ipv4_form(str s):
    """_IPV4_RE.fullmatch(s): four groups of 1-3 decimal digits (any script) and three dots."""
    cdef Py_ssize_t i = 0, n = len(s), group, digits
    for group in range(4):
        digits = 0
        while i < n and digits < 3 and s[i].isdecimal():
            i += 1
            digits += 1
        if digits == 0:
            return False
        if group < 3:
            if not (i < n and s[i] == u'.'):
                return False
            i += 1
    return i == n


cdef bint _lower_plain_host(str host):
    """domains._PLAIN_HOST_RE.fullmatch(host) and no punycode: the PSL walk below applies."""
    return _ldh_last_label(host, True) >= 0 and u'xn--' not in host


cdef Py_ssize_t _psl_suffix_index(list labels, dict trie):
    """domains._fast_split's walk over ``labels`` (a plain lower-case host without punycode):
    the index of the first suffix label, len(labels) when no rule matches."""
    cdef Py_ssize_t count = len(labels), suffix_idx = count, label_idx = count, i
    cdef dict node = trie
    cdef object nxt
    cdef str key
    for i in range(count - 1, -1, -1):
        key = labels[i]
        nxt = node.get(key)
        if nxt is not None:
            label_idx -= 1
            node = <dict>nxt
            if u'.' in node:  # domains._RULE_END: a rule ends here
                suffix_idx = label_idx
            continue
        if u'*' in node:
            suffix_idx = label_idx if (u'!' + key) in node else label_idx - 1
        break
    return suffix_idx


cdef inline bint _has_known_suffix(list labels):
    """has_known_suffix: an ICANN suffix with a label before it."""
    cdef Py_ssize_t idx = _psl_suffix_index(labels, _trie_icann)
    return 0 < idx < len(labels)


cdef bint _known_suffix_fast(str host):
    """extract._known_suffix(host) for a plain lower-case host."""
    return _has_known_suffix(host.split(u'.'))


cdef str _registrable_label(str host):
    """extract._registrable_label(host) for a plain lower-case host."""
    cdef list labels = host.split(u'.')
    cdef Py_ssize_t idx
    if not _has_known_suffix(labels):
        return u''
    idx = _psl_suffix_index(labels, _trie_private)
    return labels[idx - 1] if 0 < idx < len(labels) else u''


cdef bint _ldh_host(str host):
    """extract._LDH_HOST_RE.fullmatch(host): LDH labels of 1-63 characters without edge
    hyphens, each followed by ".", then an alphabetic TLD of 2-63 letters and maybe a "."."""
    cdef Py_ssize_t n = len(host), i, k, label_start = 0, length
    cdef Py_UCS4 c
    cdef bint saw_dot = False
    if n and host[n - 1] == u'.':
        n -= 1
    if n == 0:
        return False
    for i in range(n + 1):
        if i == n or host[i] == u'.':
            length = i - label_start
            if i == n:
                if not saw_dot or not (2 <= length <= 63):
                    return False
                for k in range(label_start, n):
                    c = host[k]
                    if not ((u'a' <= c <= u'z') or (u'A' <= c <= u'Z')):
                        return False
                return True
            if not (1 <= length <= 63) or host[label_start] == u'-' or host[i - 1] == u'-':
                return False
            saw_dot = True
            label_start = i + 1
        elif not _is_ldh_name_char(host[i]):
            return False
    return False


cdef bint _is_lowered(str host_text, str ascii_host):
    """ascii_host == host_text.rstrip(".").lower() for an LDH host_text (one final dot at most)."""
    cdef Py_ssize_t n = len(host_text), i
    cdef Py_UCS4 c
    if n and host_text[n - 1] == u'.':
        n -= 1
    if len(ascii_host) != n:
        return False
    for i in range(n):
        c = host_text[i]
        if u'A' <= c <= u'Z':
            c = <Py_UCS4>(<int>c + 32)
        if c != ascii_host[i]:
            return False
    return True


cdef Py_ssize_t _host_sep(str t, Py_ssize_t i, Py_ssize_t n):
    """extract._HOST_SEP_RE at i (case-insensitive): its length, or 0."""
    if t[i] == u'.' or _is_fullwidth_dot(t[i]):
        return 1
    return _bracketed(t, i, n, True, False)


cdef bint _tld_shape(str tld):
    """extract._TLD_SHAPE_RE.fullmatch(tld) for an ASCII tld:
    [a-z]{2,63} | xn--[a-z0-9-]{1,59} | 0x[0-9a-f]* | [0-9]+"""
    cdef Py_ssize_t n = len(tld), i
    cdef Py_UCS4 c
    cdef bint letters = True, digits = True
    for i in range(n):
        c = tld[i]
        if not (u'a' <= c <= u'z'):
            letters = False
        if not (u'0' <= c <= u'9'):
            digits = False
    if letters and 2 <= n <= 63:
        return True
    if digits and n >= 1:
        return True
    if tld.startswith(u'xn--') and 5 <= n <= 63:
        for i in range(4, n):
            c = tld[i]
            if not ((u'a' <= c <= u'z') or (u'0' <= c <= u'9') or c == u'-'):
                break
        else:
            return True
    if tld.startswith(u'0x'):
        for i in range(2, n):
            c = tld[i]
            if not ((u'a' <= c <= u'f') or (u'0' <= c <= u'9')):
                return False
        return True
    return False


cdef bint _explicit_host_ok(str host_text, str ascii_host):
    """extract._plausible_explicit_host (memoised there, computed here)."""
    cdef Py_ssize_t n, i, k, label_start, label_count = 0
    cdef str tld, label
    if host_text.startswith(u'['):
        return True
    if _ldh_host(host_text) and _is_lowered(host_text, ascii_host):
        return u'_' not in _registrable_label_any(ascii_host)
    # Labels of host_text.rstrip(".") split at _HOST_SEP_RE: none empty, no edge hyphen.
    n = len(host_text)
    while n and host_text[n - 1] == u'.':
        n -= 1
    i = label_start = 0
    while True:
        k = _host_sep(host_text, i, n) if i < n else 0
        if i >= n or k:
            if i == label_start or host_text[label_start] == u'-' or host_text[i - 1] == u'-':
                return False
            label_count += 1
            if i >= n:
                break
            i += k
            label_start = i
        else:
            i += 1
    for label in ascii_host.split(u'.'):
        if len(label) > 63:
            return False  # beyond the DNS label limit: nothing resolves there
    if label_count == 1:
        return True  # intranet name ("http://intranet/"), clickable as written
    tld = host_text[label_start:n].lower()
    if tld.isascii() and not _tld_shape(tld):
        return False
    if _is_ipv4_form(ascii_host):
        return True
    return u'_' not in _registrable_label_any(ascii_host)


cdef str _registrable_label_any(str host):
    """extract._registrable_label: the walk here for plain hosts, Python for punycode ones."""
    if _lower_plain_host(host):
        return _registrable_label(host)
    return _registrable_label_py(host)


cdef bint _bare_host_ok(str host, bint has_path, object port):
    """extract._plausible_bare_host for plain hosts; others go to Python."""
    cdef list labels
    cdef Py_ssize_t idx
    if _is_ipv4_form(host):
        return has_path or port is not None
    if not _lower_plain_host(host):
        return bool(_plausible_bare_host(host, has_path=has_path, port=port))
    labels = host.split(u'.')
    if not _has_known_suffix(labels):
        return False
    idx = _psl_suffix_index(labels, _trie_private)
    # split_host: sub = labels[:idx-1], domain = labels[idx-1] ("" when idx is 0),
    # suffix = labels[idx:]. A registrable label cannot hold "_"; no subdomain, no path, no
    # port and a file-like suffix make a file name.
    if idx > 0 and u'_' in <str>labels[idx - 1]:
        return False
    return not (idx <= 1 and not has_path and port is None
                and u'.'.join(labels[idx:]) in _file_like_tlds)


# ---------------------------------------------------------------------------------------------
# Normalisation: normalize._normalize_cached's fast path (plain http(s) URLs), else Python
# ---------------------------------------------------------------------------------------------

cdef inline bint _is_safe(Py_UCS4 c):
    # normalize._SAFE = [!$&()*+,\-./0-9:;=@A-Z\[\]^_a-z|~]
    return ((u'a' <= c <= u'z') or (u'A' <= c <= u'Z') or (u'0' <= c <= u'9')
            or c in u'!$&()*+,-./:;=@[]^_|~')


cdef bint _spells_defanged(str text):
    """normalize._spells_defanged: "[.]", "(.)", "{.}", "[dot]", "(dot)", "[:]" or "(:)"."""
    cdef Py_ssize_t i, n = len(text)
    for i in range(n):
        if _bracketed(text, i, n, True, True):
            return True
    return False


cdef object _normalize(str raw):
    """normalize.normalize_url(raw): normalize._FAST_URL_RE and _fast here, the rest there."""
    cdef Py_ssize_t n = len(raw), i = 0, host_start, host_end, label_start, path_start
    cdef Py_ssize_t path_end, query_start = -1, query_end = -1, frag_start = -1, port_start
    cdef Py_UCS4 c
    cdef str scheme, host, display_host, path, url, tail, host_text, port_text = u''
    cdef object query = None, fragment = None, port = None, forms
    cdef bint has_scheme = False, port_as_written = True
    cdef long port_value
    if n == 0 or n > 1_000_000 or u'/.' in raw or _spells_defanged(raw):
        return _normalize_url(raw)
    # (?:(?P<scheme>[hH][tT][tT][pP][sS]?|[fF][tT][pP])://)?
    scheme = u'http'
    if n > 7 and raw[0] in u'hH' and raw[1] in u'tT' and raw[2] in u'tT' and raw[3] in u'pP':
        if raw[4] in u'sS' and raw[5] == u':' and raw[6] == u'/' and raw[7] == u'/':
            scheme, i, has_scheme = u'https', 8, True
        elif raw[4] == u':' and raw[5] == u'/' and raw[6] == u'/':
            scheme, i, has_scheme = u'http', 7, True
    elif n > 6 and raw[0] in u'fF' and raw[1] in u'tT' and raw[2] in u'pP' and raw[3] == u':' \
            and raw[4] == u'/' and raw[5] == u'/':
        scheme, i, has_scheme = u'ftp', 6, True
    # (?P<host>HOST_CHAR+(?:\.HOST_CHAR+)*): letters, digits, "-", "_", any non-ASCII
    host_start = label_start = i
    while i < n:
        c = raw[i]
        if _is_ldh_name_char(c) or c >= 0x80:
            i += 1
        elif c == u'.' and i > label_start and i + 1 < n and (
                _is_ldh_name_char(raw[i + 1]) or raw[i + 1] >= 0x80):
            i += 1
            label_start = i
        else:
            break
    host_end = i
    if host_end == host_start or (host_end < n and raw[host_end] == u'.'):
        return _normalize_url(raw)
    # (?(scheme)(?::(?P<port>[0-9]{1,5}))?)
    if has_scheme and i + 1 < n and raw[i] == u':' and u'0' <= raw[i + 1] <= u'9':
        port_start = i + 1
        i = port_start
        while i < n and i - port_start < 5 and u'0' <= raw[i] <= u'9':
            i += 1
        port_value = int(raw[port_start:i])
        if port_value > 65535:
            return _normalize_url(raw)
        if port_value != (21 if scheme == u'ftp' else (443 if scheme == u'https' else 80)):
            port = port_value
            port_text = u':' + str(port_value)
        # ":0080" or a default port: the URL does not keep the port as written
        port_as_written = port is not None and raw[port_start] != u'0'
    # (?P<path>/(?:SAFE|')*)?
    path_start = path_end = i
    if i < n and raw[i] == u'/':
        i += 1
        while i < n and (_is_safe(raw[i]) or raw[i] == u"'"):
            i += 1
        path_end = i
    # (?:\?(?P<query>(?:SAFE|\?)+))?(?:#(?P<fragment>(?:SAFE|\?)+))?
    if i < n and raw[i] == u'?':
        query_start = i + 1
        i += 1
        while i < n and (_is_safe(raw[i]) or raw[i] == u'?'):
            i += 1
        query_end = i
        if query_end == query_start:
            return _normalize_url(raw)
    if i < n and raw[i] == u'#':
        frag_start = i + 1
        i += 1
        while i < n and (_is_safe(raw[i]) or raw[i] == u'?'):
            i += 1
        if i == frag_start:
            return _normalize_url(raw)
    if i != n:
        return _normalize_url(raw)
    # The host: the plain-host branch of normalize.host_forms here, the function for the rest.
    host_text = raw[host_start:host_end]
    if _plain_ascii_host(host_text):
        host = display_host = host_text if _no_ascii_upper(host_text) else host_text.lower()
    else:
        forms = _host_forms(host_text)
        if forms is None:
            return None
        host, display_host = forms
    path = raw[path_start:path_end] if path_end > path_start else u'/'
    if query_start >= 0:
        query = raw[query_start:query_end]
    if frag_start >= 0:
        fragment = raw[frag_start:]
    # What follows the authority is kept as written (with "/" for an empty path).
    tail = raw[path_start:] if path_end > path_start else u'/' + raw[path_start:]
    if (has_scheme and port_as_written and path_end > path_start and host is host_text
            and raw.startswith(scheme) and raw[len(scheme)] == u':'):
        url = raw  # written canonically already: lower-case scheme and host, a path, no port to drop
    else:
        url = scheme + u'://' + host + port_text + tail
    if display_host == host:
        display = url
    else:
        display = scheme + u'://' + display_host + port_text + tail
    return _new_normalized(url, display, scheme, host, display_host, port, path, query,
                           fragment)


cdef bint _no_ascii_upper(str text):
    cdef Py_ssize_t i
    for i in range(len(text)):
        if u'A' <= text[i] <= u'Z':
            return False
    return True


cdef bint _plain_ascii_host(str host):
    """host_forms' plain-host branch applies: ASCII, no punycode, a last label that is neither
    all digits nor "0x...", fewer than 127 dots, at most 506 characters (LDH labels, not
    empty and without a final dot, are given)."""
    cdef Py_ssize_t n = len(host), i, dots = 0, last_start = 0
    cdef Py_UCS4 c
    cdef bint last_digits = True
    if n > 253 * 2:
        return False
    for i in range(n):
        c = host[i]
        if c >= 0x80:
            return False
        if c == u'.':
            dots += 1
            last_start = i + 1
            last_digits = True
        elif not (u'0' <= c <= u'9'):
            last_digits = False
        if (c == u'-' and i >= 3 and host[i - 1] == u'-' and (host[i - 2] == u'n'
                or host[i - 2] == u'N') and (host[i - 3] == u'x' or host[i - 3] == u'X')):
            return False  # "xn--" (the lower-cased host would hold it)
    if dots >= 127 or last_digits:
        return False
    return not (last_start + 1 < n and host[last_start] == u'0'
                and (host[last_start + 1] == u'x' or host[last_start + 1] == u'X'))


cdef object _new_normalized(str url, str display, str scheme, str host, str display_host,
                            object port, str path, object query, object fragment):
    """NormalizedUrl(url, display, ..., fragment, userinfo=None, defanged=False) without the
    frozen dataclass's __init__, which sets each field through object.__setattr__ from Python
    (most of the cost of a fast-path URL). The fields are set the same way, here from C, by
    the names configure() passed in order."""
    cdef object obj = PyType_GenericAlloc(_normalized_url_cls, 0)  # what object.__new__ does
    cdef tuple names = _normalized_url_fields
    PyObject_GenericSetAttr(obj, names[0], url)
    PyObject_GenericSetAttr(obj, names[1], display)
    PyObject_GenericSetAttr(obj, names[2], scheme)
    PyObject_GenericSetAttr(obj, names[3], host)
    PyObject_GenericSetAttr(obj, names[4], display_host)
    PyObject_GenericSetAttr(obj, names[5], port)
    PyObject_GenericSetAttr(obj, names[6], path)
    PyObject_GenericSetAttr(obj, names[7], query)
    PyObject_GenericSetAttr(obj, names[8], fragment)
    PyObject_GenericSetAttr(obj, names[9], None)
    PyObject_GenericSetAttr(obj, names[10], False)
    return obj


# ---------------------------------------------------------------------------------------------
# The scan
# ---------------------------------------------------------------------------------------------

cdef object _cut_cjk(str host):
    """extract._cut_cjk_host: the host whole when it ends in a real public suffix, else cut
    where the CJK text starts (None when nothing usable is left)."""
    cdef object n = _normalize(u'http://' + host)
    cdef Py_ssize_t i, length = len(host)
    cdef str cut
    if n is not None:
        if _lower_plain_host(n.host):
            if _known_suffix_fast(n.host):
                return host
        elif _known_suffix(n.host):
            return host
    for i in range(length):
        if _is_cjk(host[i]):
            break
    else:
        i = length
    cut = host[:i]
    if not cut or cut[len(cut) - 1] == u'.' or cut[len(cut) - 1] == u'-':
        return None
    return cut


cdef tuple _candidate(str t, _Match* m, _Match* m2):
    """extract._candidate: (raw, NormalizedUrl) or None (the start is m.start)."""
    cdef int kind = m.kind
    cdef Py_ssize_t start = m.start, end = m.end, hs, he, rest
    cdef str raw, host, cut
    cdef object n, cut_obj
    cdef bint has_path
    cdef Py_UCS4 ch
    raw = _trim(t, start, end)
    if not raw:
        return None
    if len(raw) < end - start and kind != K_MAILTO:
        if not _match_at(t, start, start + len(raw), m2) or m2.kind != kind:
            return None
        m = m2
        raw = t[start:m.end]
    if kind == K_MAILTO:
        if end < len(t) and t[end] == u'@':
            return None
        n = _normalize_url(raw)
        if n is not None and n.scheme == u'mailto' and n.host:
            return (raw, n)
        return None
    hs = m.host_start
    he = min(m.host_end, start + len(raw))
    host = t[hs:he]
    rest = len(raw) - (he - start)
    if kind == K_SCHEME:
        if rest == 0 and _truncated_host(t, end):
            return None
        if not host.isascii():
            for ch in host:
                if _is_cjk(ch):
                    cut_obj = _cut_cjk(host)
                    if cut_obj is None:
                        return None
                    cut = cut_obj
                    if len(cut) < len(host):
                        raw = raw[:hs - start + len(cut)].rstrip(u'.')
                        host = cut
                    break
        n = _normalize(raw)
        if n is None or not _explicit_host_ok(host, n.host):
            return None
        return (raw, n)
    # bare
    if _preceded_by_broken_token(t, start):
        return None
    if rest == 0 and _local_part_tail(t, start + len(raw)):
        return None
    if _plain_name(host):
        if not _known_suffix_fast(host.lower()):
            return None
    n = _normalize(raw)
    if n is None or n.scheme != u'http':
        return None
    has_path = len(raw[he - start:].rstrip(u'/')) > 0
    if _is_ipv4_form(n.host) and not _is_ipv4_form(host):
        return None
    if not _bare_host_ok(n.host, has_path, n.port):
        return None
    return (raw, n)


def scan_text(str text, Py_ssize_t limit):
    """extract._scan_text_python(text, schemes_only=False, limit=limit), as a list."""
    return _scan(text, limit)


def found_in_text(str text, Py_ssize_t limit, str source, str context):
    """extract.extract_text(text, source, context=context, max_urls=limit) when no own hosts
    and no own-link decoder are given: the FoundUrl records, built here unless the link may
    be wrapped (then extract._found builds it, unwrapping)."""
    cdef list out = []
    cdef tuple pair
    cdef str raw, ctx
    cdef object n
    for pair in _scan(text, limit):
        raw = <str>pair[0]
        n = pair[1]
        ctx = context + u'_defanged' if n.defanged else context
        if (n.scheme == u'http' or n.scheme == u'https') and _may_be_wrapper_host(n.host):
            out.append(_found_py(n, raw, source, ctx, None, None, ()))
        else:
            out.append(_found_cls(n.url, raw, n.display_url, source, ctx, None, [], None))
    return out


cdef bint _may_be_wrapper_host(str host):
    """unwrap.may_be_wrapper_host: the last two labels name a wrapper, or it is Google's."""
    cdef Py_ssize_t last = host.rfind(u'.')
    cdef str two_labels = host[host.rfind(u'.', 0, last) + 1:] if last > 0 else host
    return two_labels in _wrapper_domains or u'google' in host


cdef list _scan(str text, Py_ssize_t limit):
    cdef list out = []
    cdef Py_ssize_t n = len(text), pos = 0, count = 0, p, tok_start, tok_end, q, i, inner
    cdef _Match m, m2
    cdef tuple found
    cdef Py_UCS4 c
    if n == 0:
        return out
    while count < limit:
        p = _anchor(text, pos, n)
        if p < 0:
            break
        # The whitespace-delimited token around the anchor (space, newline or tab before it,
        # any whitespace after it), as the Python scanner takes it.
        tok_start = pos
        i = p - 1
        while i >= pos:
            c = text[i]
            if c == u' ' or c == u'\n' or c == u'\t':
                tok_start = i + 1
                break
            i -= 1
        tok_end = p + 1
        while tok_end < n and not text[tok_end].isspace():
            tok_end += 1
        q = tok_start
        while q < tok_end and count < limit:
            if not _search(text, q, tok_end, &m):
                break
            found = _candidate(text, &m, &m2)
            if found is None:
                if m.kind != K_BARE:
                    q = m.end
                elif m.end - m.start <= _max_step_in:
                    q = m.start + 1
                else:
                    inner = _scheme_start(text, m.start + 1, m.end)
                    q = inner if inner >= 0 else m.end
                continue
            q = m.start + len(<str>found[0])
            count += 1
            out.append(found)
        pos = tok_end
    return out
