"""Identify a file by its content (magic bytes, container inspection, script heuristics).

The declared name never decides the type: attackers rename files. The name is only compared with
the content afterwards (:func:`name_findings`): ``extension_mismatch``, ``dangerous_type``,
``dangerous_extension``, ``double_extension`` and ``rtlo_filename``.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import olefile

from tap_core.detect.rules import Rule, family_rules
from tap_core.model.findings import Finding

# Type -> family. Families group types for policy (what to detonate, what a container holds).
FAMILIES: dict[str, str] = {
    **dict.fromkeys(["exe", "dll", "elf", "macho", "java_class", "msi", "jar", "apk"], "executable"),
    **dict.fromkeys(["js", "vbs", "wsf", "hta", "ps1", "bat", "reg", "chm"], "script"),
    **dict.fromkeys(["lnk", "url_shortcut"], "shortcut"),
    **dict.fromkeys(["iso", "udf", "img", "vhd", "vhdx"], "disk_image"),
    **dict.fromkeys(
        [
            "doc",
            "xls",
            "ppt",
            "ole",
            "office_encrypted",
            "docx",
            "docm",
            "xlsx",
            "xlsm",
            "xlsb",
            "pptx",
            "pptm",
            "odf",
            "xps",
            "office_xml",
            "slk",
            "one",
        ],
        "office",
    ),
    **dict.fromkeys(["rtf", "pdf"], "document"),
    **dict.fromkeys(["zip", "7z", "rar", "tar", "gz", "bz2", "xz", "zstd", "cab"], "archive"),
    **dict.fromkeys(["png", "jpeg", "gif", "bmp", "webp", "tiff"], "image"),
    **dict.fromkeys(["html", "svg", "xml", "mhtml"], "web"),
    **dict.fromkeys(["msg", "eml"], "email"),
    **dict.fromkeys(["text", "csv", "ics", "empty"], "text"),
    "mobileconfig": "config",
    "unknown": "unknown",
}


@dataclass(frozen=True, slots=True)
class FileKind:
    """What a file is: ``type`` (e.g. ``docm``), its ``family`` and a human ``detail``."""

    type: str
    detail: str = ""

    @property
    def family(self) -> str:
        return FAMILIES.get(self.type, "unknown")


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ONENOTE_GUID = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
_LNK_HEADER = bytes.fromhex("4c0000000114020000000000c000000000000046")
_MSI_CLSID = "000C1084-0000-0000-C000-000000000046"
_SIMPLE_MAGIC: list[tuple[bytes, str, str]] = [
    (b"\x7fELF", "elf", "ELF"),
    (b"%PDF", "pdf", "PDF"),
    (b"{\\rt", "rtf", "RTF"),
    (b"7z\xbc\xaf\x27\x1c", "7z", "7-Zip"),
    (b"Rar!\x1a\x07", "rar", "RAR"),
    (b"\x1f\x8b", "gz", "gzip"),
    (b"BZh", "bz2", "bzip2"),
    (b"\xfd7zXZ\x00", "xz", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd", "zstd"),
    (b"MSCF\x00\x00\x00\x00", "cab", "Microsoft Cabinet"),
    (b"ITSF", "chm", "Compiled HTML Help"),
    (b"vhdxfile", "vhdx", "VHDX"),
    (b"conectix", "vhd", "VHD"),
    (b"\x89PNG\r\n\x1a\n", "png", "PNG"),
    (b"\xff\xd8\xff", "jpeg", "JPEG"),
    (b"GIF87a", "gif", "GIF"),
    (b"GIF89a", "gif", "GIF"),
    (b"II*\x00", "tiff", "TIFF"),
    (b"MM\x00*", "tiff", "TIFF"),
    (b"ID;P", "slk", "SYLK"),
    (b"ID;N", "slk", "SYLK"),
]
_MACHO_MAGIC = {b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"}


def identify(data: bytes) -> FileKind:
    """The type of ``data`` from its content alone. Never raises."""
    try:
        return _identify(data)
    except Exception:  # a parser choking on hostile input must not stop the scan
        return FileKind("unknown", "identification failed")


def _identify(data: bytes) -> FileKind:
    if not data:
        return FileKind("empty")
    head = data[:16]
    if head.startswith(b"MZ"):
        return _identify_pe(data)
    if head.startswith(_LNK_HEADER[:4]) and data[:20] == _LNK_HEADER:
        return FileKind("lnk", "Windows shortcut")
    if head.startswith(_OLE_MAGIC):
        return _identify_ole(data)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _identify_zip(data)
    if head.startswith(_ONENOTE_GUID):
        return FileKind("one", "OneNote section")
    if head[:4] in _MACHO_MAGIC:
        return FileKind("macho", "Mach-O")
    if head.startswith(b"\xca\xfe\xba\xbe"):
        # Fat Mach-O and Java class share the magic: a fat header counts a few architectures.
        (count,) = struct.unpack(">I", data[4:8]) if len(data) >= 8 else (0,)
        return FileKind("macho", "Mach-O universal") if 0 < count < 30 else FileKind("java_class")
    if head.startswith(b"%PDF") or b"%PDF-" in data[:1024]:
        return FileKind("pdf", "PDF")
    for magic, ftype, detail in _SIMPLE_MAGIC:
        if head.startswith(magic):
            return FileKind(ftype, detail)
    if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return FileKind("webp", "WebP")
    if head.startswith(b"BM") and len(data) > 26 and struct.unpack("<I", data[2:6])[0] in (0, len(data)):
        return FileKind("bmp", "BMP")
    window = data[:65536]
    if b"<plist" in window and b"PayloadType" in window:
        # Apple configuration profile, plain or CMS-signed (the plist sits inside the DER).
        return FileKind("mobileconfig", "Apple configuration profile")
    disk = _identify_disk(data)
    if disk is not None:
        return disk
    if len(data) > 262 and data[257:262] == b"ustar":
        return FileKind("tar", "tar")
    return _identify_text(data)


def _identify_pe(data: bytes) -> FileKind:
    if len(data) < 0x40:
        return FileKind("exe", "DOS executable")
    (offset,) = struct.unpack("<I", data[0x3C:0x40])
    if offset + 24 > len(data) or data[offset : offset + 4] != b"PE\x00\x00":
        return FileKind("exe", "DOS executable")
    machine, _, _, _, _, _, characteristics = struct.unpack("<HHIIIHH", data[offset + 4 : offset + 24])
    magic = struct.unpack("<H", data[offset + 24 : offset + 26])[0] if len(data) > offset + 26 else 0
    bits = "PE32+" if magic == 0x20B else "PE32"
    is_dll = bool(characteristics & 0x2000)
    arch = {0x14C: "x86", 0x8664: "x86-64", 0xAA64: "ARM64", 0x1C0: "ARM"}.get(machine, hex(machine))
    return FileKind("dll" if is_dll else "exe", f"{bits} {arch} {'DLL' if is_dll else 'executable'}")


def _identify_ole(data: bytes) -> FileKind:
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))  # bytes under 1536 would be taken for a path
    except Exception:
        return FileKind("ole", "OLE2 (unreadable directory)")
    try:
        names = {"/".join(entry).lower() for entry in ole.listdir(streams=True, storages=True)}
        root_clsid = (ole.root.clsid or "").upper() if ole.root is not None else ""
    finally:
        ole.close()
    if "encryptedpackage" in names:
        return FileKind("office_encrypted", "encrypted OOXML document")
    if root_clsid == _MSI_CLSID:
        return FileKind("msi", "Windows Installer")
    if "worddocument" in names:
        return FileKind("doc", "Word 97-2003")
    if "workbook" in names or "book" in names:
        return FileKind("xls", "Excel 97-2003")
    if "powerpoint document" in names:
        return FileKind("ppt", "PowerPoint 97-2003")
    if any(name.startswith("__substg1.0_") for name in names):
        return FileKind("msg", "Outlook message")
    return FileKind("ole", "OLE2 compound file")


_OOXML_MAIN = [
    ("word/", "docx", "docm", "Word"),
    ("xl/", "xlsx", "xlsm", "Excel"),
    ("ppt/", "pptx", "pptm", "PowerPoint"),
]


def _identify_zip(data: bytes) -> FileKind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            lower = {n.lower() for n in names}
            content_types = ""
            if "[content_types].xml" in lower:
                real = next(n for n in names if n.lower() == "[content_types].xml")
                info = zf.getinfo(real)
                if info.file_size < 1_000_000 and not info.flag_bits & 1:
                    content_types = zf.read(real).decode("utf-8", "replace").lower()
            mimetype = ""
            if "mimetype" in lower and zf.getinfo("mimetype").file_size < 200:
                mimetype = zf.read("mimetype").decode("ascii", "replace")
    except Exception:
        return FileKind("zip", "ZIP (unreadable directory)")
    if content_types or "[content_types].xml" in lower:
        macro = "macroenabled" in content_types or any(n.endswith("vbaproject.bin") for n in lower)
        if "xl/workbook.bin" in lower:
            return FileKind("xlsb", "Excel binary workbook")
        for prefix, plain, macro_type, app in _OOXML_MAIN:
            if any(n.startswith(prefix) for n in lower):
                return FileKind(
                    macro_type if macro else plain, f"{app} OOXML{' with macros' if macro else ''}"
                )
        if any(n.endswith(".fdseq") for n in lower):
            return FileKind("xps", "XPS document")
        return FileKind("zip", "OPC package")
    if mimetype.startswith("application/vnd.oasis.opendocument"):
        return FileKind("odf", mimetype)
    if "androidmanifest.xml" in lower and "classes.dex" in lower:
        return FileKind("apk", "Android package")
    if "meta-inf/manifest.mf" in lower or any(n.endswith(".class") for n in lower):
        return FileKind("jar", "Java archive")
    return FileKind("zip", "ZIP")


def _identify_disk(data: bytes) -> FileKind | None:
    for offset in (0x8001, 0x8801, 0x9001):
        tag = data[offset : offset + 5]
        if tag == b"CD001":
            return FileKind("iso", "ISO 9660")
        if tag in (b"BEA01", b"NSR02", b"NSR03"):
            return FileKind("udf", "UDF")
    if len(data) >= 512 and data[-512:-504] == b"conectix":
        return FileKind("vhd", "VHD (fixed)")
    if len(data) >= 512 and data[510:512] == b"\x55\xaa":
        if data[3:11] == b"NTFS    ":
            return FileKind("img", "NTFS disk image")
        if data[0x36:0x3B] in (b"FAT12", b"FAT16") or data[0x52:0x57] == b"FAT32":
            return FileKind("img", "FAT disk image")
    return None


_TEXT_SAMPLE = 8192
_HTML_RE = re.compile(
    rb"<(!doctype\s+html|html|head|body|script|iframe|form|meta|div|table|a\s|p>|title)", re.I
)
_SCRIPT_HINTS: dict[str, list[tuple[str, int]]] = {
    "ps1": [
        (r"\$env:", 3),
        (r"\binvoke-(expression|webrequest|restmethod)\b", 3),
        (r"\biex\b", 2),
        (r"\bnew-object\b", 3),
        (r"-executionpolicy\b", 3),
        (r"\bwrite-host\b", 2),
        (r"\[system\.", 2),
        (r"\b(get|set|start|add|remove)-[a-z]+\b", 2),
        (r"\$_\b", 1),
        (r"\bparam\s*\(", 2),
        (r"-encodedcommand\b", 3),
        (r"\$[a-z_]\w*\s*=", 1),
    ],
    "bat": [
        (r"^[^\S\n]*+@?echo\s+off", 4),
        (r"%~dp0", 3),
        (r"^[^\S\n]*+set\s+/[ap]\b", 3),
        (r"\bgoto\s+:?\w+", 2),
        (r"^[^\S\n]*+rem\s", 2),
        (r"^:\w+\s*$", 1),
        (r"%comspec%", 3),
        (r"^[^\S\n]*+start\s+\"", 2),
        (r"^[^\S\n]*+(if\s+exist|call\s+:)", 2),
        (r"%[a-z]+:~\d+,\d+%", 3),
    ],
    "vbs": [
        (r"^[^\S\n]*+dim\s+\w+", 3),
        (r"\bcreateobject\s*\(", 3),
        (r"^[^\S\n]*+(sub|function)\s+\w+", 2),
        (r"^[^\S\n]*+end\s+(sub|function|if)\b", 3),
        (r"\bon\s+error\s+resume\s+next\b", 4),
        (r"^[^\S\n]*+set\s+\w+\s*=", 2),
        (r"\bmsgbox\b", 2),
        (r"\bchrw?\s*\(\s*\d+\s*\)", 1),
        (r"\bwscript\.(echo|sleep|quit|arguments)\b", 2),
        (r"\bthen\s*$", 1),
    ],
    "js": [
        (r"\bvar\s+\w+\s*=", 2),
        (r"\bfunction\s*+\w*+\s*+\(", 2),  # possessive: two "\s*" around "\w*" re-split spaces
        (r"\bnew\s+activexobject\s*\(", 4),
        (r"\beval\s*\(", 1),
        (r"\b(let|const)\s+\w+\s*=", 2),
        (r"string\.fromcharcode\b", 2),
        (r"\bwscript\.(createobject|echo|sleep|shell)\b", 2),
        (r";\s*$", 1),
        (r"=>", 1),
        (r"\bthis\.\w+", 1),
        (r"\bgetobject\s*\(", 1),
    ],
}
# "^" patterns take the spaces of their own line only ("^\s*" ran over every following blank line
# from each line start: 8,192 newlines cost seconds per pattern); the same lines match.
_SCRIPT_PATTERNS = {
    lang: [(re.compile(pat, re.I | re.M), weight) for pat, weight in hints]
    for lang, hints in _SCRIPT_HINTS.items()
}


def decode_text(data: bytes, limit: int = _TEXT_SAMPLE) -> str | None:
    """A text view of the start of ``data`` (BOMs and UTF-16 handled), None if it is binary."""
    sample = data[:limit]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return sample.decode("utf-16", "replace")
    if sample.startswith(b"\xef\xbb\xbf"):
        sample = sample[3:]
    elif len(sample) > 8 and sample[1::2].count(0) > len(sample) // 4 and sample[0::2].count(0) == 0:
        return sample.decode("utf-16-le", "replace")  # UTF-16 without a BOM (ASCII text)
    if not sample:
        return ""
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    if controls > len(sample) // 20:
        return None
    return sample.decode("utf-8", "replace")


def _identify_text(data: bytes) -> FileKind:
    text = decode_text(data)
    if text is None:
        return FileKind("unknown", "binary data")
    low = text.lower()
    stripped = low.lstrip()
    if "<hta:application" in low:
        return FileKind("hta", "HTML application")
    if stripped.startswith("[internetshortcut]") or "\n[internetshortcut]" in low[:200]:
        return FileKind("url_shortcut", "Internet shortcut")
    if stripped.startswith("begin:vcalendar"):
        return FileKind("ics", "iCalendar")
    if stripped.startswith(("windows registry editor", "regedit4")):
        return FileKind("reg", "registry file")
    if re.match(r"(mime-version|content-type|from|received|return-path|message-id):", stripped):
        if "multipart/related" in low and ("text/html" in low or "<html" in low):
            return FileKind("mhtml", "MHTML web archive")
        if re.search(r"^(from|subject|to|date):", low, re.M):
            return FileKind("eml", "email message")
    if re.search(r"<\s*(package|job)\b", low) and "<script" in low:
        return FileKind("wsf", "Windows Script File")
    if re.search(r"<svg[\s>]", low) and not re.search(r"<html[\s>]", low):
        return FileKind("svg", "SVG image")
    if stripped.startswith("<?xml") or stripped.startswith("<?mso-application"):
        if "mso-application" in low or "schemas.microsoft.com/office/word/2003" in low:
            return FileKind("office_xml", "Office 2003 XML")
        if not _HTML_RE.search(data[:_TEXT_SAMPLE]):
            return FileKind("xml", "XML")
    if _HTML_RE.search(low.encode("utf-8", "replace")):
        return FileKind("html", "HTML")
    lang, score = _best_script(text)
    if score >= 5:
        return FileKind(lang, f"{lang} script (heuristic)")
    return FileKind("text", "text")


def _best_script(text: str) -> tuple[str, int]:
    best = ("text", 0)
    for lang, patterns in _SCRIPT_PATTERNS.items():
        score = sum(weight for pattern, weight in patterns if pattern.search(text))
        if score > best[1]:
            best = (lang, score)
    return best


# --- names ---------------------------------------------------------------------------------------

#: Families whose content behind a wrong extension is a runnable disguise (``extension_mismatch``
#: variant ``runnable``) or a mere oddity (variant ``document``); others are not checked.
_MISMATCH_VARIANTS = {
    **dict.fromkeys(["executable", "script", "shortcut", "disk_image"], "runnable"),
    **dict.fromkeys(["office", "document", "archive", "email"], "document"),
}
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")
_FILE_RULES = ("attachments", "file_rules.toml")


def file_rules() -> dict[str, Rule]:
    """Rules of a file as delivered, its name and its truncation (``data/attachments/file_rules.toml``)."""
    return family_rules(*_FILE_RULES)


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    import yaml  # read on the first attachment only

    text = resources.files("tap_core").joinpath("data/attachments/filetypes.yaml").read_text("utf-8")
    table: dict[str, Any] = yaml.safe_load(text)
    table["_ext_category"] = {
        ext: category for category, exts in table["dangerous_extensions"].items() for ext in exts
    }
    return table


def extension(name: str) -> str:
    """The last extension of ``name``, lowercased, without the dot ('' when none)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().rstrip(". ")
    stem, dot, ext = base.rpartition(".")
    return ext.lower() if dot and stem else ""


def extension_category(name: str) -> str | None:
    """The category (``executable``, ``script``...) of ``name``'s extension when Windows runs it."""
    category: str | None = _table()["_ext_category"].get(extension(name))
    return category


def is_dangerous_type(ftype: str) -> bool:
    """A content type that runs code when opened: a variant of the ``dangerous_type`` rule."""
    return ftype in file_rules()["dangerous_type"].weights


def name_findings(name: str, kind: FileKind) -> list[Finding]:
    """Findings from the declared name compared with the identified content (group ``file_name``)."""
    table = _table()
    rules = file_rules()
    findings: list[Finding] = []
    if _BIDI_CONTROLS.search(name):
        visible = _BIDI_CONTROLS.sub("", name)
        findings.append(rules["rtlo_filename"].finding(repr(name), visible=repr(visible)))
    plain = _BIDI_CONTROLS.sub("", name)
    ext = extension(plain)
    dangerous = is_dangerous_type(kind.type)
    if dangerous:
        findings.append(rules["dangerous_type"].finding(kind.type, kind.type))
    category = table["_ext_category"].get(ext)
    if category is not None and not dangerous:
        findings.append(rules["dangerous_extension"].finding(f".{ext}", category, ext=ext, category=category))
    if category is not None:
        base = plain.replace("\\", "/").rsplit("/", 1)[-1]
        parts = base.lower().rstrip(". ").split(".")
        if len(parts) >= 3 and parts[-2].strip() in table["document_extensions"]:
            findings.append(rules["double_extension"].finding(base, shown=parts[-2].strip(), ext=ext))
        elif re.search(r"(?<!\s)\s{3,}\.\w+$", base):  # from a run's start only: linear
            findings.append(rules["double_extension"].finding(base, "spaces"))
    expected = table["extension_types"].get(ext)
    variant = _MISMATCH_VARIANTS.get(kind.family)
    if expected is not None and kind.type not in expected and variant is not None:
        # Only content riskier than plain text/markup/images matters (a .xml that is text is fine).
        findings.append(
            rules["extension_mismatch"].finding(
                f".{ext} is {kind.type}", variant, ext=ext, content=kind.detail or kind.type
            )
        )
    return findings
