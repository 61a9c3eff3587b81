"""OOXML packages (docx/xlsx/pptx and macro variants) and OpenDocument files: remote templates and
objects, DDE, embeddings; their links (external relationships, ODF hyperlinks, field hyperlinks)
and the URLs typed in their text."""

from __future__ import annotations

import html
import io
import re
import zipfile

from tap_core.attachments.context import ScanContext, Unparseable, read_capped
from tap_core.attachments.scanners._urls import add_reference, add_text
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

# Linear on hostile parts: a tag's scan stops at the next "<" (never inside an XML attribute
# value), a name starts only at a word boundary, and nothing backtracks into a run it consumed;
# otherwise "<Relationship " + "a" * 25_600 rescans the run from every position (36 s).
_REL = re.compile(r"<(?:\w++:)?Relationship\b([^<>]*+)>", re.I)
_ATTR = re.compile(r'(?<!\w)(\w++)\s*+=\s*+(?:"([^"<]*+)"|\'([^\'<]*+)\')')
_INSTR_TEXT = re.compile(r"<w:instrText[^<>]*+>([^<]*+)</w:instrText>", re.I)
# A tag's attributes, where a quoted value may hold ">" (a field instruction "IF a > b").
_TAG_BODY = r"""((?:[^<>"']++|"[^"<]*+"|'[^'<]*+')*+)"""
_FLD_SIMPLE = re.compile(rf"<w:fldSimple\b{_TAG_BODY}", re.I)
_DDE = re.compile(r"^\s*DDE(AUTO)?\b", re.I)
_DDE_LINK = re.compile(rf"<(?:\w++:)?ddeLink\b{_TAG_BODY}", re.I)
_XML_PART_CAP = 16 * 1024 * 1024
_XML_PARA_END = re.compile(r"</(?:w:p|a:p|text:p|text:h)>|<w:br\b[^<>]*/>|<w:tab\b[^<>]*/>|</si>|</row>")
_XML_TAG = re.compile(r"<[^<>]++>")
_ODF_HREF = re.compile(r"""xlink:href\s*+=\s*+(?:"([^"<]*+)"|'([^'<]*+)')""")
#: Absolute URLs in a relationship target, and the namespace URIs that are none.
_URL = re.compile(r"""\b(?:https?|ftp)://[^\s"'<>()\[\]{}\\^`|]{2,2048}""", re.I)
_NAMESPACE = re.compile(
    r"https?://(schemas\.openxmlformats\.org|schemas\.microsoft\.com|www\.w3\.org|purl\.org|ns\.adobe\.com|"
    r"schemas\.xmlsoap\.org|www\.apple\.com/DTDs|openoffice\.org/\d{4})/",
    re.I,
)
_HYPERLINK_FIELD = re.compile(r"HYPERLINK\s++\"([^\"]++)\"", re.I)
_IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp"})
_MAX_IMAGES = 10
_IMAGE_CAP = 10 * 1024 * 1024


class OoxmlScanner(Scanner):
    name = "ooxml"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        try:
            package = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, EOFError) as exc:
            raise Unparseable(str(exc)) from exc
        with package:
            infos = [i for i in package.infolist() if not i.is_dir()]
            images = 0
            for info in infos:
                ctx.check_time()
                lower = info.filename.lower()
                if lower.endswith(".rels"):
                    self._relationships(self._read(package, info, ctx), info.filename, ctx)
                elif "/embeddings/" in lower and ctx.can_extract(
                    info.filename, info.file_size, info.compress_size
                ):
                    content = self._read(package, info, ctx)
                    if content:
                        ctx.add_child(info.filename, content, packed=info.compress_size)
                elif "/activex/" in lower and lower.endswith(".xml"):
                    ctx.add("ooxml_activex", info.filename)
                elif "/media/" in lower and lower.rsplit(".", 1)[-1] in _IMAGE_EXTENSIONS:
                    # Pictures are where QR codes (quishing) hide; a few per document are enough.
                    if images < _MAX_IMAGES and info.file_size <= _IMAGE_CAP:
                        if ctx.can_extract(info.filename, info.file_size, info.compress_size):
                            images += 1
                            ctx.add_child(info.filename, self._read(package, info, ctx))
                elif lower.startswith("word/") and lower.endswith(".xml") and "/_rels/" not in lower:
                    xml = self._read(package, info, ctx)
                    self._text_urls(xml, ctx)
                    self._word_fields(xml, info.filename, ctx)
                elif lower == "xl/sharedstrings.xml" or (
                    lower.startswith(("ppt/slides/", "ppt/notesslides/")) and lower.endswith(".xml")
                ):
                    self._text_urls(self._read(package, info, ctx), ctx)
                elif lower in ("content.xml", "styles.xml"):  # OpenDocument
                    xml = self._read(package, info, ctx)
                    for match in _ODF_HREF.finditer(xml.decode("utf-8", "replace")):
                        add_reference(
                            ctx, html.unescape(match.group(1) or match.group(2) or ""), "odf_hyperlink"
                        )
                    self._text_urls(xml, ctx)
                elif lower.startswith("xl/externallinks/") and lower.endswith(".xml"):
                    self._excel_dde(self._read(package, info, ctx), info.filename, ctx)

    @staticmethod
    def _read(package: zipfile.ZipFile, info: zipfile.ZipInfo, ctx: ScanContext) -> bytes:
        if info.flag_bits & 0x1:
            return b""
        with package.open(info) as stream:
            cap = min(_XML_PART_CAP, ctx.extract_cap)
            return read_capped(stream, cap, ctx, info.filename, packed=info.compress_size) or b""

    @staticmethod
    def _relationships(xml: bytes, part: str, ctx: ScanContext) -> None:
        text = xml.decode("utf-8", "replace")
        for match in _REL.finditer(text):
            attrs = _attributes(match.group(1))
            if attrs.get("targetmode", "").lower() != "external":
                continue
            target = attrs.get("target", "")
            rel_type = attrs.get("type", "").rsplit("/", 1)[-1]
            add_reference(ctx, target, "ooxml_hyperlink" if rel_type == "hyperlink" else "ooxml_relationship")
            remote = target.startswith(("\\\\", "file:")) or any(
                not _NAMESPACE.match(url.group(0)) for url in _URL.finditer(target)
            )
            if rel_type == "hyperlink" or not remote:
                continue
            if rel_type == "attachedTemplate":
                ctx.add("external_template", target)
            elif rel_type == "oleObject":
                ctx.add("external_ole_object", target)
            else:
                ctx.add("external_relationship", f"{part}: {target}", part=rel_type or "part")

    @staticmethod
    def _text_urls(xml: bytes, ctx: ScanContext) -> None:
        """URLs typed in a part's text (tags dropped, one line per paragraph; not the XML namespaces)."""
        text = _XML_TAG.sub("", _XML_PARA_END.sub("\n", xml.decode("utf-8", "replace")))
        add_text(ctx, html.unescape(text), "ooxml_text")

    @staticmethod
    def _word_fields(xml: bytes, part: str, ctx: ScanContext) -> None:
        if b"instr" not in xml:
            return
        text = xml.decode("utf-8", "replace")
        # A field instruction can be split across runs: join the runs of the part.
        joined = "".join(html.unescape(t) for t in _INSTR_TEXT.findall(text))
        fields = [
            instr for tag in _FLD_SIMPLE.findall(text)
            if (instr := _attributes(tag, lower=False).get("instr")) is not None
        ]
        for instruction in [joined, *fields]:
            for target in _HYPERLINK_FIELD.findall(instruction):
                add_reference(ctx, target, "ooxml_field", if_new=True)
        for instruction in [joined, *fields]:
            if _DDE.search(instruction):
                ctx.add("dde_link", f"{part}: {instruction.strip()[:200]}")
                return

    @staticmethod
    def _excel_dde(xml: bytes, part: str, ctx: ScanContext) -> None:
        for tag in _DDE_LINK.findall(xml.decode("utf-8", "replace")):
            attrs = _attributes(tag, lower=False)
            if "ddeService" in attrs and "ddeTopic" in attrs:
                ctx.add("dde_link", f"{part}: {attrs['ddeService']}|{attrs['ddeTopic']}", variant="workbook")
                return


def _attributes(tag: str, *, lower: bool = True) -> dict[str, str]:
    """The attributes of one tag's text (names lower-cased when ``lower``), values unescaped."""
    return {
        (m.group(1).lower() if lower else m.group(1)): html.unescape(m.group(2) or m.group(3) or "")
        for m in _ATTR.finditer(tag)
    }
