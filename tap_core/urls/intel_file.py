"""The intelligence index as one compact file: built once per refresh, loaded by every instance
with one bulk read and no parsing.

Layout (little-endian)::

    header   magic b"TAPINTEL" | u16 format version | u16 0 | u32 0 | u64 payload length
             | 32-byte SHA-256 of the payload                                      (56 bytes)
    payload  u32 length of the directory | directory (JSON, UTF-8) | sections, 8-byte aligned

The directory names the sources table (feed, category, kind, first seen), the counts by kind and,
per table (``url_exact``, ``url_prefix``, ``host_exact``, ``host_tree``, ``net:<v>/<plen>``), the
offsets of its sections:

* ``hashes``  u32 CRC-32 of each key (UTF-8), entry order;
* ``offsets`` u32 start of each key in ``keys`` (n + 1 values);
* ``keys``    the keys' UTF-8 bytes, concatenated;
* ``metas``   u32 per key: a source id, or ``0x80000000 | i`` where ``multi[i]`` is a count
  followed by that many source ids (a key listed by several feeds);
* ``slots``   u32 open-addressing table (a power of two, at most half full): entry index + 1,
  0 for empty; a key's probe starts at ``crc & (size - 1)``.

and one ``filter`` section: a byte per slot (a power of two, about ``FILTER_SLOTS_PER_KEY`` slots
per filtered string), each the OR of the bits of every string whose CRC-32 falls in it. The
writer decides what the bits mean (the index: which tables hold a key, or keys under a host's
anchor). A lookup reads one byte, ``filter[crc32(utf8 of the string) & (len - 1)]``, with no
Python call: a string whose bit is clear is certainly absent, so most probes of a miss end
there; a set bit may be a collision (about one slot in ``FILTER_SLOTS_PER_KEY``) and only sends
the probe on to the table.

Lookups read these through ``memoryview`` casts of the one ``bytes`` read: no object per key.
**No false match:** the CRC only picks candidates; a candidate matches only when its stored key
bytes equal the looked-up key, so answers are exactly those of the in-memory dicts.

A file with another magic, format version, length or checksum is refused with
:class:`IntelFileError`; callers then build from the feeds.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from typing import Any, cast
from zlib import crc32

__all__ = [
    "FILTER_SLOTS_PER_KEY",
    "FORMAT_VERSION",
    "MAGIC",
    "CompactTable",
    "IntelFileError",
    "decode",
    "encode",
]

MAGIC = b"TAPINTEL"
FORMAT_VERSION = 3  # 2: a byte filter replaced the "anchors" table; 3: wide anchors in it
#: Filter slots (bytes) per filtered string, rounded up to a power of two: 8 to 16 bytes a
#: string, so about one miss probe in 10 to 20 goes past the filter to the table.
FILTER_SLOTS_PER_KEY = 8
_HEADER = struct.Struct("<8sHHIQ32s")
_MULTI = 0x80000000

Meta = int | tuple[int, ...]
Source = tuple[str, str, str, date | None]  # feed, category, kind value, first seen


class IntelFileError(ValueError):
    """A compact intelligence file that cannot be used; the message says why."""


def _u32(values: Iterable[int]) -> array[int]:
    out = array("I", values)
    if sys.byteorder != "little":
        out.byteswap()
    return out


def _encode_key(key: str) -> bytes:
    # surrogatepass: a feed line decoded with errors kept must still round-trip exactly.
    return key.encode("utf-8", "surrogatepass") if not key.isascii() else key.encode("ascii")


def _filter_bytes(entries: Mapping[str, int]) -> bytes:
    size = 8
    while size < FILTER_SLOTS_PER_KEY * len(entries):
        size *= 2
    out = bytearray(size)
    mask = size - 1
    for key, bits in entries.items():
        if not 0 <= bits <= 0xFF:
            raise ValueError(f"filter bits of {key!r} do not fit a byte: {bits}")
        out[crc32(_encode_key(key)) & mask] |= bits
    return bytes(out)


class CompactTable:
    """A read-only ``key -> meta`` table over the sections of a loaded file (the read side of a
    ``dict``: ``get``, ``in``, ``len``, ``items``, ``copy``). Keys are ``str``, or ``int`` for
    network tables (stored as their decimal text)."""

    __slots__ = ("_data", "_int_keys", "_keys_at", "_meta", "_n", "_offsets", "get")

    get: Callable[..., Any]  # (key, default=None): bound in __init__, see _getter

    def __init__(self, data: bytes, sections: dict[str, int], multi: memoryview, int_keys: bool) -> None:
        view = memoryview(data)
        n = sections["n"]

        def u32(name: str, count: int) -> memoryview:
            start = sections[name]
            if not 0 <= start <= len(data) - 4 * count:
                raise IntelFileError(f"section {name} lies outside the file")
            return view[start : start + 4 * count].cast("I")

        size = sections["size"]
        slots = u32("slots", size)
        # A lookup walks slots until an empty one: even a well-sealed but wrong file must have
        # one, or a miss would never return (the search stops at the first: the table is at
        # most half full).
        if size & (size - 1) or 0 not in slots:
            raise IntelFileError("slot table malformed")
        self._n = n
        self._data = data
        self._offsets = u32("offsets", n + 1)
        self._keys_at = sections["keys"]  # absolute position of the key bytes in ``data``
        self._int_keys = int_keys
        metas = u32("metas", n)

        def meta(entry: int) -> Meta:
            m = metas[entry]
            if m < _MULTI:
                return m
            j = m & ~_MULTI
            return tuple(multi[j + 1 : j + 1 + multi[j]])

        self._meta = meta
        self.get = _getter(data, slots, u32("hashes", n), self._offsets, metas, meta,
                           self._keys_at, int_keys)

    def __getitem__(self, key: Any) -> Meta:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return cast(Meta, found)

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None if isinstance(key, int if self._int_keys else str) else False

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def _key(self, entry: int) -> Any:
        start, end = self._offsets[entry] + self._keys_at, self._offsets[entry + 1] + self._keys_at
        text = self._data[start:end].decode("utf-8", "surrogatepass")
        return int(text) if self._int_keys else text

    def __iter__(self) -> Iterator[Any]:
        return (self._key(e) for e in range(self._n))

    def items(self) -> Iterator[tuple[Any, Meta]]:
        return ((self._key(e), self._meta(e)) for e in range(self._n))

    def copy(self) -> dict[Any, Meta]:
        """A mutable dict of the same entries (what ``IntelIndex.copy`` refreshes from)."""
        return dict(self.items())


def _getter(
    data: bytes, slots: memoryview, hashes: memoryview, offsets: memoryview, metas: memoryview,
    meta: Callable[[int], Meta], keys_at: int, int_keys: bool,
) -> Callable[..., Any]:
    """The table's ``get``: a closure, so the several probes per looked-up URL read their arrays
    as fast local cells rather than attributes."""
    mask = len(slots) - 1
    startswith = data.startswith

    def get(key: Any, default: Any = None) -> Any:
        if int_keys:
            key = str(key)
        try:
            kb = key.encode()
        except UnicodeEncodeError:
            kb = key.encode("utf-8", "surrogatepass")
        h = crc32(kb)
        i = h & mask
        while True:
            entry = slots[i]
            if not entry:
                return default
            entry -= 1
            if hashes[entry] == h:
                start = offsets[entry]
                if offsets[entry + 1] - start == len(kb) and startswith(kb, keys_at + start):
                    m = metas[entry]
                    return m if m < _MULTI else meta(entry)
            i = (i + 1) & mask

    return get


def _table_bytes(table: Mapping[Any, Meta], multi: list[int]) -> tuple[dict[str, int], list[bytes]]:
    """Sections of one table (positions relative to the table's first section)."""
    keys = [_encode_key(str(k)) for k in table]
    n = len(keys)
    hashes = [crc32(k) for k in keys]
    offsets = [0] * (n + 1)
    pos = 0
    for i, k in enumerate(keys):
        offsets[i] = pos
        pos += len(k)
    offsets[n] = pos
    metas: list[int] = []
    for meta in table.values():
        if isinstance(meta, int):
            metas.append(meta)
        else:
            metas.append(_MULTI | len(multi))
            multi.append(len(meta))
            multi.extend(meta)
    size = 8
    while size < 2 * n:
        size *= 2
    slots = [0] * size
    mask = size - 1
    for entry, h in enumerate(hashes):
        i = h & mask
        while slots[i]:
            i = (i + 1) & mask
        slots[i] = entry + 1
    parts = {"hashes": _u32(hashes).tobytes(), "offsets": _u32(offsets).tobytes(),
             "metas": _u32(metas).tobytes(), "slots": _u32(slots).tobytes(), "keys": b"".join(keys)}
    sections: dict[str, int] = {"n": n, "size": size}
    chunks: list[bytes] = []
    at = 0
    for name, blob in parts.items():
        sections[name] = at
        chunks.append(blob + b"\0" * (-len(blob) % 8))
        at += len(chunks[-1])
    return sections, chunks


def encode(
    tables: Mapping[str, Mapping[Any, Meta]], sources: list[Source], counts: dict[str, int],
    options: dict[str, Any], filter_entries: Mapping[str, int],
) -> bytes:
    """The file of ``tables`` (name -> key -> meta; ``net:`` tables have int keys) and of a byte
    filter of ``filter_entries`` (string -> bits, 0 to 255); ``options`` is any JSON the reader
    needs besides them."""
    multi: list[int] = []
    directory: dict[str, Any] = {
        "sources": [[f, c, k, s.isoformat() if s else None] for f, c, k, s in sources],
        "counts": counts,
        "options": options,
        "tables": {},
    }
    body: list[bytes] = []
    at = 0
    for name, table in tables.items():
        sections, chunks = _table_bytes(table, multi)
        for key in ("hashes", "offsets", "metas", "slots", "keys"):
            sections[key] += at
        directory["tables"][name] = sections
        body.extend(chunks)
        at += sum(len(c) for c in chunks)
    multi_bytes = _u32(multi).tobytes()
    directory["multi"] = [at, len(multi)]
    body.append(multi_bytes + b"\0" * (-len(multi_bytes) % 8))
    at += len(body[-1])
    filter_bytes = _filter_bytes(filter_entries)
    directory["filter"] = [at, len(filter_bytes)]
    body.append(filter_bytes)
    head = json.dumps(directory, separators=(",", ":")).encode()
    head += b" " * (-(4 + len(head)) % 8)  # sections stay 8-byte aligned
    payload = b"".join([struct.pack("<I", len(head)), head, *body])
    return _HEADER.pack(MAGIC, FORMAT_VERSION, 0, 0, len(payload), hashlib.sha256(payload).digest()) + payload


def decode(
    data: bytes,
) -> tuple[dict[str, CompactTable], memoryview, list[Source], dict[str, int], dict[str, Any]]:
    """Tables, filter, sources, counts and options of a file; :class:`IntelFileError` when it
    cannot be used."""
    if len(data) < _HEADER.size:
        raise IntelFileError(f"intelligence file too short ({len(data)} bytes)")
    magic, version, _r1, _r2, length, digest = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise IntelFileError("not an intelligence file (bad magic)")
    if version != FORMAT_VERSION:
        raise IntelFileError(
            f"intelligence file format {version} is not supported (this build reads {FORMAT_VERSION})"
        )
    if len(data) != _HEADER.size + length:
        raise IntelFileError(
            f"intelligence file truncated or padded ({len(data) - _HEADER.size} of {length} bytes)"
        )
    payload = memoryview(data)[_HEADER.size :]
    if hashlib.sha256(payload).digest() != digest:
        raise IntelFileError("intelligence file checksum mismatch (corrupt)")
    if sys.byteorder != "little":  # the sections are read in place as native u32
        raise IntelFileError("intelligence files are read on little-endian hosts only")
    try:
        (head_len,) = struct.unpack_from("<I", payload)
        directory = json.loads(bytes(payload[4 : 4 + head_len]))
        base = _HEADER.size + 4 + head_len
        multi_at, multi_n = directory["multi"]
        multi = memoryview(data)[base + multi_at : base + multi_at + 4 * multi_n].cast("I")
        filter_at, filter_n = directory["filter"]
        if filter_n < 1 or filter_n & (filter_n - 1) or not 0 <= base + filter_at <= len(data) - filter_n:
            raise IntelFileError("filter section malformed")
        filter_view = memoryview(data)[base + filter_at : base + filter_at + filter_n]
        tables: dict[str, CompactTable] = {}
        for name, sections in directory["tables"].items():
            absolute = {k: (v + base if k in ("hashes", "offsets", "metas", "slots", "keys") else v)
                        for k, v in sections.items()}
            tables[name] = CompactTable(data, absolute, multi, name.startswith("net:"))
        sources: list[Source] = [
            (str(f), str(c), str(k), date.fromisoformat(s) if s else None)
            for f, c, k, s in directory["sources"]
        ]
        counts = {str(k): int(v) for k, v in directory["counts"].items()}
        options = dict(directory["options"])
    except (ValueError, KeyError, TypeError, IndexError, struct.error) as exc:
        # The checksum matched, so this is a writer bug or a forged file: refuse it all the same.
        raise IntelFileError(f"intelligence file directory unreadable ({type(exc).__name__}: {exc})") from exc
    return tables, filter_view, sources, counts, options
