"""Builders for attachment test files, made at test time (nothing risky is stored in the repo)."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import py7zr
import pyzipper

FIXTURES = Path(__file__).parent / "fixtures"

# The standard anti-malware test string, assembled so this source file is not itself a test file.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC" + b")7}$EICAR-STANDARD-ANTIVIRUS" + b"-TEST-FILE!$H+H*"


def make_zip(members: dict[str, bytes], password: str | None = None) -> bytes:
    buffer = io.BytesIO()
    if password is None:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return buffer.getvalue()
    with pyzipper.AESZipFile(
        buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    ) as archive:
        archive.setpassword(password.encode())
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def make_7z(members: dict[str, bytes], password: str | None = None, encrypt_names: bool = False) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", password=password, header_encryption=encrypt_names) as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return buffer.getvalue()


def make_ooxml(document_xml: str, rels: str = "", extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal Word document package."""
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="xml" ContentType="application/xml"/><Override '
        'PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'wordprocessingml.document.main+xml"/></Types>'
    )
    members = {
        "[Content_Types].xml": content_types.encode(),
        "_rels/.rels": b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": document_xml.encode(),
    }
    if rels:
        members["word/_rels/settings.xml.rels"] = rels.encode()
    members.update(extra or {})
    return make_zip(members)


WORD_XML = (
    '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:body><w:p><w:r><w:t>{body}</w:t></w:r></w:p>{fields}</w:body></w:document>"
)


def make_lnk(target: str, arguments: str) -> bytes:
    """A minimal Windows shortcut: header, relative path and arguments (Unicode StringData)."""
    flags = 0x08 | 0x20 | 0x80  # HasRelativePath | HasArguments | IsUnicode
    clsid = bytes.fromhex("0114020000000000c000000000000046")
    header = struct.pack("<I16sIIQQQIiIHHII", 0x4C, clsid, flags, 0x20, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0)

    def string(value: str) -> bytes:
        return struct.pack("<H", len(value)) + value.encode("utf-16-le")

    return header + string(target) + string(arguments) + b"\0\0\0\0"


def minimal_pe(dll: bool = False) -> bytes:
    """A PE header that identifies as a 64-bit executable (not runnable)."""
    dos = bytearray(b"MZ" + b"\0" * 0x3E)
    struct.pack_into("<I", dos, 0x3C, 0x40)
    characteristics = 0x0022 | (0x2000 if dll else 0)
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, 0xF0, characteristics)
    optional = struct.pack("<H", 0x20B) + b"\0" * 0xEE
    return bytes(dos) + coff + optional + b"\0" * 256


def make_zipcrypto(name: str, data: bytes, password: str) -> bytes:
    """A one-member ZIP with traditional PKWARE (ZipCrypto) encryption, stored (no compression)."""
    import binascii

    def crc(value: int, byte: int) -> int:
        return binascii.crc32(bytes([byte]), value ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(byte: int) -> None:
        keys[0] = crc(keys[0], byte)
        keys[1] = (keys[1] + (keys[0] & 0xFF)) & 0xFFFFFFFF
        keys[1] = (keys[1] * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = crc(keys[2], keys[1] >> 24)

    def encrypt(plain: bytes) -> bytes:
        out = bytearray()
        for byte in plain:
            temp = (keys[2] | 2) & 0xFFFF
            out.append(byte ^ ((temp * (temp ^ 1)) >> 8) & 0xFF)
            update(byte)
        return bytes(out)

    for byte in password.encode():
        update(byte)
    checksum = binascii.crc32(data) & 0xFFFFFFFF
    header = bytes(range(11)) + bytes([checksum >> 24])  # last byte checks the password
    body = encrypt(header) + encrypt(data)
    raw_name = name.encode()
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 1, 0, 0, 0, checksum, len(body), len(data), len(raw_name), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        1,
        0,
        0,
        0,
        checksum,
        len(body),
        len(data),
        len(raw_name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    start = len(local) + len(raw_name) + len(body)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(raw_name), start, 0)
    return local + raw_name + body + central + raw_name + end
