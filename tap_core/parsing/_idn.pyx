# cython: language_level=3, boundscheck=True, wraparound=False
"""Compiled IDN primitives for the hot host paths, giving what the Python libraries give.

CPython's ``punycode`` codec is pure Python and quadratic in the label length, and
``idna.uts46_remap`` looks up each character with a Python-level bisect; a long Unicode label
costs tens of microseconds. Each function here returns exactly the library's result for the
inputs it accepts and ``None`` for anything else (an invalid encoded label, a value beyond
64-bit arithmetic, a code point beyond U+10FFFF, a code point UTS #46 disallows, an over-long
domain), so that the caller falls back to the library and keeps its behaviour, errors
included. ``uts46_remap`` reads idna's own mapping table. ``tests/test_idn.py`` compares both
on random labels.
"""

import unicodedata

try:  # idna's UTS #46 table (the pinned idna release); without it, always defer to idna
    from idna.core import _max_input_length as _IDNA_MAX_INPUT
    from idna.uts46data import uts46_replacements, uts46_starts, uts46_statuses
except ImportError:  # pragma: no cover - another idna layout
    uts46_starts = None

cdef const unsigned int[:] _starts = uts46_starts if uts46_starts is not None else None
cdef bytes _statuses = uts46_statuses if uts46_starts is not None else b""
cdef tuple _replacements = uts46_replacements if uts46_starts is not None else ()
cdef Py_ssize_t _max_input = _IDNA_MAX_INPUT if uts46_starts is not None else 0
cdef object _normalize = unicodedata.normalize

DEF BASE = 36
DEF TMIN = 1
DEF TMAX = 26
DEF SKEW = 38
DEF DAMP = 700
DEF INITIAL_BIAS = 72
DEF INITIAL_N = 128
DEF LIMIT = 1 << 60

cdef str _DIGITS = u"abcdefghijklmnopqrstuvwxyz0123456789"


cdef inline long long _threshold(long long k, long long bias):
    cdef long long t = k - bias
    if t < TMIN:
        return TMIN
    if t > TMAX:
        return TMAX
    return t


cdef long long _adapt(long long delta, bint first, long long numpoints):
    cdef long long k = 0
    delta = delta // DAMP if first else delta // 2
    delta += delta // numpoints
    while delta > ((BASE - TMIN) * TMAX) // 2:
        delta //= BASE - TMIN
        k += BASE
    return k + (BASE - TMIN + 1) * delta // (delta + SKEW)


def encode(str label):
    """``label.encode("punycode").decode("ascii")``, or None to leave it to the codec."""
    cdef Py_ssize_t length = len(label), i
    cdef long long n = INITIAL_N, delta = 0, bias = INITIAL_BIAS, h, b = 0, m, q, k, t
    cdef Py_UCS4 c
    cdef list out = []
    for i in range(length):
        c = label[i]
        if c < 0x80:
            out.append(c)
            b += 1
    if b:
        out.append(u'-')
    h = b
    while h < length:
        m = 0x7FFFFFFFFFFFFFFF
        for i in range(length):
            c = label[i]
            if n <= <long long>c < m:
                m = c
        delta += (m - n) * (h + 1)
        if delta > LIMIT:
            return None
        n = m
        for i in range(length):
            c = label[i]
            if <long long>c < n:
                delta += 1
            elif <long long>c == n:
                q = delta
                k = BASE
                while True:
                    t = _threshold(k, bias)
                    if q < t:
                        break
                    out.append(_DIGITS[t + (q - t) % (BASE - t)])
                    q = (q - t) // (BASE - t)
                    k += BASE
                out.append(_DIGITS[q])
                bias = _adapt(delta, h == b, h + 1)
                delta = 0
                h += 1
        delta += 1
        n += 1
    return u''.join(out)


def decode(str encoded):
    """``encoded.encode("ascii").decode("punycode")`` for a valid encoding, else None."""
    cdef Py_ssize_t length = len(encoded), dash, pos, i
    cdef long long n = INITIAL_N, bias = INITIAL_BIAS, at = -1, digit, w, k, t, result, size
    cdef Py_UCS4 c
    cdef list out
    cdef bint first = True
    if not encoded.isascii():
        return None
    dash = encoded.rfind(u'-')
    out = list(encoded[:dash]) if dash >= 0 else []
    pos = dash + 1
    while pos < length:
        result = 0
        w = 1
        k = BASE
        while True:
            if pos >= length:
                return None  # incomplete: the codec raises
            c = encoded[pos]
            pos += 1
            if u'a' <= c <= u'z':
                digit = <long long>c - 0x61
            elif u'A' <= c <= u'Z':
                digit = <long long>c - 0x41
            elif u'0' <= c <= u'9':
                digit = <long long>c - 22
            else:
                return None  # not a base-36 digit: the codec raises
            t = _threshold(k, bias)
            result += digit * w
            if result > LIMIT:
                return None
            if digit < t:
                break
            w *= BASE - t
            if w > LIMIT:
                return None
            k += BASE
        size = len(out) + 1
        at += result + 1
        n += at // size
        if n > 0x10FFFF:
            return None  # the codec raises
        at = at % size
        out.insert(at, chr(n))
        bias = _adapt(result, first, size)
        first = False
    return u''.join(out)


cdef Py_ssize_t _table_index(Py_UCS4 cp):
    """bisect.bisect_right(uts46_starts, cp) - 1, as idna computes it (direct below 256)."""
    cdef Py_ssize_t lo = 0, hi = _starts.shape[0], mid
    if cp < 256:
        return cp
    while lo < hi:
        mid = (lo + hi) // 2
        if cp < _starts[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo - 1


def uts46_remap(str domain):
    """``idna.uts46_remap(domain, std3_rules=False, transitional=False)``, or None where idna
    raises (a disallowed code point, an over-long domain) or its table is not available."""
    cdef Py_ssize_t length = len(domain), pos, start = 0, i
    cdef Py_UCS4 cp
    cdef unsigned char status
    cdef list out = []
    cdef object replacement
    if _starts is None or length > _max_input:
        return None
    if domain.isascii():
        return domain.lower()
    for pos in range(length):
        cp = domain[pos]
        i = _table_index(cp)
        if i < 0 or i >= len(_statuses):
            return None
        status = _statuses[i]
        if status == 86 or status == 68:  # V valid, D deviation: kept
            continue
        if status == 77:  # M mapped
            replacement = _replacements[i]
        elif status == 73:  # I ignored
            replacement = None
        else:  # disallowed: idna raises
            return None
        if start < pos:
            out.append(domain[start:pos])
        if replacement:
            out.append(replacement)
        start = pos + 1
    if start == 0:
        return _normalize("NFC", domain)
    out.append(domain[start:])
    return _normalize("NFC", "".join(out))
