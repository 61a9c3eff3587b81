"""A small writer of Outlook ``.msg`` files for the tests: an OLE2 compound file ([MS-CFB],
version 3, 512-byte sectors, streams under 4,096 bytes in the mini stream) holding the
``__substg1.0_`` property streams of [MS-OXMSG]. olefile only reads, so the fixtures are built
here, from the specification, byte by byte."""

from __future__ import annotations

import struct
from collections.abc import Mapping

FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
SECTOR, MINI, CUTOFF = 512, 64, 4096

#: A tree of storages: a name maps to bytes (a stream) or to another mapping (a storage).
Tree = Mapping[str, "bytes | Tree"]


def _sort_key(name: str) -> tuple[int, str]:
    return (len(name), name.upper())  # [MS-CFB] 2.6.4: shorter names first, then case-blind


def write_cfb(tree: Tree) -> bytes:
    entries: list[dict[str, object]] = [{"name": "Root Entry", "type": 5, "children": [], "data": b""}]

    def add(node: Tree, parent: int) -> None:
        for name in sorted(node, key=_sort_key):
            value = node[name]
            index = len(entries)
            if isinstance(value, bytes):
                entries.append({"name": name, "type": 2, "children": [], "data": value})
            else:
                entries.append({"name": name, "type": 1, "children": [], "data": b""})
                add(value, index)
            children = entries[parent]["children"]
            assert isinstance(children, list)
            children.append(index)

    add(tree, 0)
    # Small streams in the mini stream, in 64-byte mini sectors.
    mini = bytearray()
    minifat: list[int] = []
    big: list[tuple[int, bytes]] = []
    for index, entry in enumerate(entries):
        data = entry["data"]
        assert isinstance(data, bytes)
        entry["start"], entry["size"] = END, len(data)
        if entry["type"] != 2 or not data:
            continue
        if len(data) < CUTOFF:
            first = len(minifat)
            count = -(-len(data) // MINI)
            minifat.extend([*range(first + 1, first + count), END])
            mini += data + b"\0" * (count * MINI - len(data))
            entry["start"] = first
        else:
            big.append((index, data))
    directory_sectors = -(-len(entries) * 128 // SECTOR)
    minifat_sectors = -(-len(minifat) * 4 // SECTOR)
    mini_sectors = -(-len(mini) // SECTOR)
    big_sectors = sum(-(-len(d) // SECTOR) for _, d in big)
    body = directory_sectors + minifat_sectors + mini_sectors + big_sectors
    fat_sectors = 1
    while fat_sectors * SECTOR // 4 < body + fat_sectors:
        fat_sectors += 1
    assert fat_sectors <= 109, "only the header's DIFAT is written"
    fat = [FATSECT] * fat_sectors
    sectors: list[bytes] = []

    def chain(data: bytes) -> int:
        count = -(-len(data) // SECTOR)
        first = fat_sectors + len(sectors)
        for i in range(count):
            fat.append(first + i + 1 if i < count - 1 else END)
            sectors.append(data[i * SECTOR:(i + 1) * SECTOR].ljust(SECTOR, b"\0"))
        return first

    for index, data in big:
        entries[index]["start"] = chain(data)
    minifat_start = chain(b"".join(struct.pack("<I", v) for v in minifat)) if minifat else END
    if mini:
        entries[0]["start"], entries[0]["size"] = chain(bytes(mini)), len(mini)
    directory = bytearray()
    for entry in entries:
        children = entry["children"]
        assert isinstance(children, list)
        # Children as a chain of right siblings (all black): olefile walks any valid binary tree.
        for a, b in zip(children, [*children[1:], None][: len(children)], strict=True):
            entries[a]["right"] = b if b is not None else NOSTREAM
        entry["child"] = children[0] if children else NOSTREAM
    for entry in entries:
        name = str(entry["name"]).encode("utf-16-le") + b"\0\0"
        directory += struct.pack(
            "<64sHBBIII16sIQQIQ", name, len(name), int(str(entry["type"])), 1, NOSTREAM,
            int(str(entry.get("right", NOSTREAM))), int(str(entry["child"])), b"\0" * 16, 0, 0, 0,
            int(str(entry["start"])), int(str(entry["size"])),
        )
    directory_start = chain(bytes(directory).ljust(directory_sectors * SECTOR, b"\0"))
    fat_bytes = b"".join(struct.pack("<I", v) for v in fat).ljust(fat_sectors * SECTOR, b"\xff")
    difat = list(range(fat_sectors)) + [FREE] * (109 - fat_sectors)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\0" * 16, 0x3E, 3, 0xFFFE, 9, 6,
        b"\0" * 6, 0, fat_sectors, directory_start, 0, CUTOFF, minifat_start,
        -(-len(minifat) * 4 // SECTOR), END, 0,
    ) + b"".join(struct.pack("<I", v) for v in difat)
    return header + fat_bytes + b"".join(sectors)


def _text(prop: int, value: str) -> tuple[str, bytes]:
    return f"__substg1.0_{prop:04X}001F", value.encode("utf-16-le")


def build_msg(
    *,
    subject: str,
    sender: str = "",
    headers: str = "",
    body: str = "",
    html: str = "",
    internet_message_id: str = "",
    attachments: Mapping[str, bytes] | None = None,
) -> bytes:
    """A ``.msg`` with the given properties (transport headers when ``headers`` is given)."""
    tree: dict[str, bytes | Tree] = dict([_text(0x0037, subject)])
    if sender:
        tree.update([_text(0x0C1F, sender), _text(0x5D01, sender)])
    if headers:
        tree.update([_text(0x007D, headers)])
    if body:
        tree.update([_text(0x1000, body)])
    if html:
        tree["__substg1.0_10130102"] = html.encode("utf-8")
    if internet_message_id:
        tree.update([_text(0x1035, internet_message_id)])
    for n, (name, data) in enumerate((attachments or {}).items()):
        tree[f"__attach_version1.0_#{n:08X}"] = dict(
            [_text(0x3707, name), ("__substg1.0_37010102", data)]
        )
    tree["__properties_version1.0"] = b"\0" * 32
    return write_cfb(tree)
