"""Safe File: replace an attachment by a PDF rebuilt from its appearance or its text.

Bytes in, bytes out, no I/O: PDFs are rasterised page by page (PDFium, no JavaScript engine, form
fields not drawn) and rebuilt as image-only pages; images are decoded and re-encoded (EXIF, XMP,
ICC and comments dropped; EXIF orientation applied first); Office documents go through the
:class:`OfficeConverter` passed in (LibreOffice, in ``connectors``) and are then rasterised like
PDFs, or are rendered as plain text when no converter is given or it fails. Links are never
clickable in the output: they are listed as text on a last page. The original bytes are returned
alongside for release from quarantine.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from tap_core.attachments.filetype import FAMILIES, identify
from tap_core.attachments.safefile.pdfwriter import (
    ImagePage,
    Page,
    build_pdf,
    text_pages,
    wrap_text,
)
from tap_core.attachments.safefile.text import TextLimitError, document_text

Method = Literal["pdf_raster", "image", "office_raster", "text"]
#: Types an Office converter is asked to render (text rendering otherwise).
OFFICE_TYPES = frozenset(
    {"doc", "docx", "docm", "xls", "xlsx", "xlsm", "xlsb", "ppt", "pptx", "pptm", "odf", "rtf"}
)
#: Types rendered as text directly.
TEXT_TYPES = frozenset({"text", "csv", "ics", "html", "mhtml", "xml", "empty"})
IMAGE_TYPES = frozenset(t for t, family in FAMILIES.items() if family == "image")


class SafeFileError(Exception):
    """This file cannot be made safe (encrypted, unsupported type, over a limit): the caller applies
    the policy (usually: hold the original, deliver nothing)."""


class SafeFileLimits(BaseModel):
    max_input_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    max_pages: int = Field(default=50, ge=1, le=1000)
    #: Rendering resolution; pages larger than ``max_page_pixels`` at this DPI are scaled down.
    dpi: int = Field(default=110, ge=36, le=300)
    max_page_pixels: int = Field(default=12_000_000, ge=10_000)
    #: Input images (decompression bombs) above this are refused.
    max_image_pixels: int = Field(default=60_000_000, ge=10_000)
    max_text_chars: int = Field(default=400_000, ge=100)
    max_member_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    #: Wall time for the whole conversion, checked between pages.
    max_seconds: float = Field(default=60.0, gt=0)
    office_timeout_seconds: float = Field(default=90.0, gt=0)
    jpeg_quality: int = Field(default=85, ge=30, le=95)


class SafeFileResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    pdf: bytes
    original_name: str
    original: bytes
    source_type: str
    method: Method
    pages: int
    #: Content was left out (page, time or text limit): the copy is incomplete.
    truncated: bool = False
    links: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class OfficeConverter(Protocol):
    """Renders an Office document to PDF (LibreOffice headless in ``connectors``); raises on failure."""

    def to_pdf(self, name: str, data: bytes, timeout_seconds: float) -> bytes: ...


def safe_file(
    name: str,
    data: bytes,
    *,
    office: OfficeConverter | None = None,
    limits: SafeFileLimits | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SafeFileResult:
    """Convert one attachment to a Safe File PDF. Raises :class:`SafeFileError` when it cannot."""
    limits = limits or SafeFileLimits()
    if len(data) > limits.max_input_bytes:
        raise SafeFileError(
            f"{len(data)} bytes is over the Safe File input limit of {limits.max_input_bytes}"
        )
    kind = identify(data).type
    if kind == "text" and PurePath(name).suffix.lower() in (".htm", ".html"):
        kind = "html"
    job = _Job(limits, clock)
    if kind == "pdf":
        pages, method = job.raster_pdf(data), "pdf_raster"
        job.links += pdf_links(data)
    elif kind in IMAGE_TYPES:
        pages, method = job.image(data), "image"
    elif kind in OFFICE_TYPES and office is not None:
        try:
            rendered = office.to_pdf(name, data, limits.office_timeout_seconds)
            pages, method = job.raster_pdf(rendered), "office_raster"
            job.links += pdf_links(rendered)
        except Exception as exc:  # the converter is an external program: fall back, say so
            job.notes.append(f"Office rendering failed ({type(exc).__name__}); text only")
            pages, method = job.text(kind, data), "text"
    elif kind in OFFICE_TYPES or kind in TEXT_TYPES:
        pages, method = job.text(kind, data), "text"
    else:
        raise SafeFileError(f"no Safe File conversion for {kind} files")
    if job.links or job.truncated or job.notes:
        pages += job.trailer(name)
    pdf = build_pdf(pages, title=f"Safe File copy of {name}")
    problems = active_content(pdf)
    if problems:  # cannot happen with our writer; checked because this is the security boundary
        raise SafeFileError(f"refusing output with active content: {problems}")
    return SafeFileResult(
        name=f"{PurePath(name).stem or 'attachment'}.pdf",
        pdf=pdf,
        original_name=name,
        original=data,
        source_type=kind,
        method=method,  # type: ignore[arg-type]
        pages=len(pages),
        truncated=job.truncated,
        links=list(dict.fromkeys(job.links)),
        notes=job.notes,
    )


class _Job:
    def __init__(self, limits: SafeFileLimits, clock: Callable[[], float]) -> None:
        self.limits, self.clock = limits, clock
        self.deadline = clock() + limits.max_seconds
        self.truncated = False
        self.links: list[str] = []
        self.notes: list[str] = []

    def _out_of_time(self) -> bool:
        if self.clock() > self.deadline:
            self.truncated = True
            self.notes.append(f"stopped at the {self.limits.max_seconds:g} s time limit")
            return True
        return False

    def raster_pdf(self, data: bytes) -> list[Page]:
        import pypdfium2 as pdfium  # type: ignore[import-untyped]  # no JavaScript engine; forms not drawn

        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise SafeFileError(f"the PDF cannot be opened (encrypted or damaged): {exc}") from exc
        try:
            count = len(document)
            if count > self.limits.max_pages:
                self.truncated = True
                self.notes.append(f"only the first {self.limits.max_pages} of {count} pages")
            pages: list[Page] = []
            for index in range(min(count, self.limits.max_pages)):
                if self._out_of_time():
                    break
                page = document[index]
                width, height = page.get_size()
                scale = self.limits.dpi / 72
                pixels = width * height * scale * scale
                if pixels > self.limits.max_page_pixels:
                    scale *= (self.limits.max_page_pixels / pixels) ** 0.5
                image = page.render(scale=scale, may_draw_forms=False).to_pil()
                pages.append(self._image_page(image, width, height))
                page.close()
            return pages
        finally:
            document.close()

    def image(self, data: bytes) -> list[Page]:
        from PIL import Image, ImageOps

        try:
            with Image.open(io.BytesIO(data)) as source:
                if source.width * source.height > self.limits.max_image_pixels:
                    raise SafeFileError(f"image of {source.width}x{source.height} pixels is over the limit")
                pages: list[Page] = []
                frames = min(getattr(source, "n_frames", 1), self.limits.max_pages)
                for frame in range(frames):
                    source.seek(frame)
                    oriented = _plain_mode(ImageOps.exif_transpose(source.copy()))
                    # a new image from the pixels alone: no EXIF, XMP, ICC or comment is carried over
                    picture = Image.frombytes(oriented.mode, oriented.size, oriented.tobytes())
                    width, height = _fit(picture.width, picture.height, self.limits.dpi)
                    pages.append(self._image_page(picture, width, height))
                if getattr(source, "n_frames", 1) > frames:
                    self.truncated = True
                return pages
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise SafeFileError(f"the image cannot be decoded: {exc}") from exc

    def text(self, kind: str, data: bytes) -> list[Page]:
        try:
            text, cut = document_text(kind, data, self.limits.max_text_chars, self.limits.max_member_bytes)
        except TextLimitError as exc:
            raise SafeFileError(str(exc)) from exc
        except (ValueError, KeyError, OSError) as exc:
            raise SafeFileError(f"no text could be read from this {kind} file: {exc}") from exc
        self.truncated |= cut
        header = [
            f"[Safe File: text of the original {kind} document; formatting, images and macros removed]",
            "",
        ]
        pages = text_pages(header + wrap_text(text))
        if len(pages) > self.limits.max_pages:
            self.truncated = True
            pages = pages[: self.limits.max_pages]
        return list(pages)

    def trailer(self, name: str) -> list[Page]:
        lines = [f"About this Safe File copy of {name}", ""]
        if self.truncated:
            lines.append("This copy is INCOMPLETE: ask your administrator to release the original if needed.")
        lines += [f"- {note}" for note in self.notes]
        if self.links:
            lines += ["", "Links in the original (not clickable here; check before typing them in):"]
            lines += wrap_text("\n".join(f"  {link}" for link in dict.fromkeys(self.links)))
        return list(text_pages(lines))

    def _image_page(self, image: object, width_pt: float, height_pt: float) -> ImagePage:
        from PIL import Image

        assert isinstance(image, Image.Image)
        grey = image.mode in ("1", "L", "LA", "I", "I;16")
        if image.mode in ("RGBA", "LA", "P", "PA"):
            image = image.convert("RGBA")
            flat = Image.new("RGB", image.size, "white")
            flat.paste(image, mask=image.getchannel("A"))
            image, grey = flat, False
        image = image.convert("L" if grey else "RGB")
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=self.limits.jpeg_quality, optimize=True)
        return ImagePage(
            buffer.getvalue(), image.width, image.height, round(width_pt, 2), round(height_pt, 2), grey
        )


def _plain_mode(image: Any) -> Any:
    """RGB(A) or L(A): palettes, CMYK and deep modes resolved while the image still knows them."""
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    if image.mode in ("P", "PA") or "transparency" in image.info:
        return image.convert("RGBA")
    if image.mode in ("1", "I", "I;16", "I;16B", "I;16L", "F"):
        return image.convert("L")
    return image.convert("RGB")


def _fit(width_px: int, height_px: int, dpi: int) -> tuple[float, float]:
    """Page size in points for an image: its size at ``dpi``, shrunk to fit within A4 landscape/portrait."""
    width, height = width_px * 72 / dpi, height_px * 72 / dpi
    limit_w, limit_h = (842, 595) if width > height else (595, 842)
    shrink = min(1.0, limit_w / width, limit_h / height) if width and height else 1.0
    return max(width * shrink, 1), max(height * shrink, 1)


def pdf_links(data: bytes, limit: int = 200) -> list[str]:
    """URI targets of the link annotations of a PDF (best effort; never raises)."""
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        links: list[str] = []
        for page in reader.pages[:200]:
            for annotation in page.get("/Annots") or []:
                action = annotation.get_object().get("/A")
                uri = action.get_object().get("/URI") if action is not None else None
                if uri:
                    links.append(str(uri))
                    if len(links) >= limit:
                        return links
        return links
    except Exception:  # hostile PDFs break parsers; links are a convenience
        return []


#: Names that must never appear in a Safe File PDF.
ACTIVE_KEYS = ("/JS", "/JavaScript", "/OpenAction", "/AA", "/Launch", "/EmbeddedFile", "/EmbeddedFiles",
               "/URI", "/AcroForm", "/XFA", "/RichMedia", "/SubmitForm", "/GoToR", "/Annots",
               "/Names")  # fmt: skip


def active_content(pdf: bytes) -> list[str]:
    """Active-content names found in any object of ``pdf`` (empty list: none)."""
    from pypdf import PdfReader
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    reader = PdfReader(io.BytesIO(pdf))
    found: set[str] = set()
    seen: set[tuple[int, int]] = set()
    stack: list[object] = [reader.trailer]
    while stack:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            item = item.get_object()
        if isinstance(item, DictionaryObject):
            found.update(k for k in item if k in ACTIVE_KEYS)
            found.update(str(v) for k, v in item.items() if k == "/S" and str(v) in ACTIVE_KEYS)
            stack.extend(item.values())
        elif isinstance(item, ArrayObject):
            stack.extend(item)
    return sorted(found)
