"""The images of a PDF page that can hold a QR code, decoded natively where that is exact.

pypdf's ``page.images`` parses the page's whole content stream (for inline images), decodes every
image, runs PNG predictors in pure Python and re-encodes each image to PNG or JPEG before handing
it back. Here the page's image XObjects are listed from its resources as pypdf lists them, the
ones too small or too large for the QR reader are skipped before decoding, and the common kinds
(8-bit RGB or grey, Flate with or without a PNG predictor, or JPEG, no mask or decode array) are
decoded by zlib and Pillow. Anything else, and any image whose data does not fit its declared
size, is left to pypdf, as are inline images (only when the content holds one).
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Callable, Iterator

from PIL import Image
from pypdf import PageObject
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NullObject, PdfObject, StreamObject

from tap_core.attachments.scanners.qr import QR_MIN_SIDE

#: Images of one page handed to the QR reader (the page's first ones, in pypdf's order).
MAX_QR_IMAGES_PER_PAGE = 20

#: The ``BI`` (begin inline image) operator as a token of a content stream.
_INLINE_IMAGE = re.compile(rb"(?<![^\s\[\]<>(){}/%])BI(?![^\s\[\]<>(){}/%])")
_MODES = {"/DeviceRGB": ("RGB", 3, 2), "/DeviceGray": ("L", 1, 0)}  # Pillow mode, samples, PNG type
#: The keys that make pypdf change the decoded samples (masks, decode arrays, stencils).
_ALTERING = ("/SMask", "/Mask", "/Decode", "/ImageMask", "/SMaskInData")

Decoder = Callable[[], "Image.Image | None"]
#: An image as listed: the size its decoding will have when known beforehand, and its decoder.
Listed = tuple["tuple[int, int] | None", Decoder]


def qr_images(page: PageObject, max_pixels: int, min_side: int = QR_MIN_SIDE,
              max_images: int = MAX_QR_IMAGES_PER_PAGE) -> Iterator[Image.Image]:
    """The page's first ``max_images`` images that may hold a QR code (both sides at least
    ``min_side``, at most ``max_pixels``), decoded; an image that cannot be decoded is skipped,
    one whose size rules it out is not decoded at all."""

    def fits(size: tuple[int, int]) -> bool:
        return size[0] >= min_side and size[1] >= min_side and size[0] * size[1] <= max_pixels

    for size, decode in _images(page)[:max_images]:
        if size is not None and not fits(size):
            continue
        try:
            image = decode()
        except Exception:  # noqa: S112 - hostile images fail in many ways; the next may be read
            continue
        if image is not None and fits(image.size):
            yield image


def _images(page: PageObject) -> list[Listed]:
    """Each image of the page, in pypdf's order."""
    if _has_inline_images(page):
        images = page.images  # pypdf parses the content for its inline images
        return [(None, _pypdf(page, key)) for key in images.keys()]
    found: list[Listed] = []
    _xobject_images(page, page, [], [], found)
    return found


def _has_inline_images(page: PageObject) -> bool:
    contents = page.get("/Contents")
    contents = contents.get_object() if contents is not None else None
    streams = contents if isinstance(contents, ArrayObject) else [contents]
    for stream in streams:
        stream = stream.get_object() if stream is not None else None
        if isinstance(stream, StreamObject) and _INLINE_IMAGE.search(stream.get_data()):
            return True
    return False


def _xobject_images(page: PageObject, obj: DictionaryObject, path: list[str], seen: list[object],
                    found: list[Listed]) -> None:
    """What pypdf's ``_get_ids_image`` lists: the image XObjects of ``obj``'s resources, and
    those of the form XObjects in them, recursively (each form once on the path)."""
    ref = getattr(obj, "indirect_reference", None)
    if ref in seen:
        return
    seen.append(ref)
    resources = obj.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    if not isinstance(resources, DictionaryObject) or "/XObject" not in resources:
        return
    xobjects = resources["/XObject"].get_object()
    if not isinstance(xobjects, DictionaryObject):
        return
    for name in xobjects:
        entry = xobjects[name]
        if not isinstance(entry, StreamObject):
            continue
        if entry.get("/Subtype", "") == "/Image":
            key: str | list[str] = name if not path else [*path, name]
            found.append((_size(entry), _decoder(page, key, entry)))
        else:
            _xobject_images(page, entry, [*path, name], seen, found)


def _pypdf(page: PageObject, key: str | list[str]) -> Decoder:
    def decode() -> Image.Image | None:
        image: Image.Image | None = page.images[key].image
        return image

    return decode


def _decoder(page: PageObject, key: str | list[str], xobj: StreamObject) -> Decoder:
    def decode() -> Image.Image | None:
        try:
            image = _native(xobj)
        except Exception:  # a damaged stream pypdf may still repair (it inflates without checks)
            image = None
        return image if image is not None else _pypdf(page, key)()

    return decode


def _value(obj: PdfObject | None) -> PdfObject | None:
    return obj.get_object() if obj is not None else None


def _last_filter(xobj: StreamObject) -> PdfObject | None:
    filters = _value(xobj.get("/Filter"))
    if isinstance(filters, ArrayObject):
        return _value(filters[-1]) if filters else None
    return filters


def _size(xobj: StreamObject) -> tuple[int, int] | None:
    """The size pypdf's decoding gives the image, read without decoding: the declared one for
    raw, Flate and RunLength samples, the JPEG's own for DCT; None for the other filters, whose
    decoders may find another size in the data."""
    last = _last_filter(xobj)
    if last == "/DCTDecode" and not isinstance(_value(xobj.get("/Filter")), ArrayObject):
        try:
            return Image.open(io.BytesIO(xobj._data), formats=("JPEG",)).size  # the header only
        except Exception:
            return None
    if last not in (None, "/FlateDecode", "/RunLengthDecode"):
        return None
    width, height = _value(xobj.get("/Width")), _value(xobj.get("/Height"))
    return (width, height) if isinstance(width, int) and isinstance(height, int) else None


def _native(xobj: StreamObject) -> Image.Image | None:
    """The image decoded by zlib / Pillow when that gives what pypdf would, else None. A soft
    mask (a grey image of the same size) becomes the alpha channel, as pypdf makes it."""
    smask = _value(xobj.get("/SMask"))
    if smask is None:
        return _samples(xobj)
    if not isinstance(smask, StreamObject) or smask is xobj or _last_filter(xobj) != "/FlateDecode":
        return None  # pypdf would write a JPEG with alpha as JPEG 2000: left to it
    image, alpha = _samples(xobj, ignore=("/SMask",)), _samples(smask)
    if image is None or alpha is None or alpha.mode != "L" or alpha.size != image.size:
        return None
    image.putalpha(alpha)
    return image


def _samples(xobj: StreamObject, ignore: tuple[str, ...] = ()) -> Image.Image | None:
    """The image of ``xobj``'s samples alone, or None when pypdf would do more to them."""
    if any(key in xobj for key in _ALTERING if key not in ignore):
        return None
    filters = _value(xobj.get("/Filter"))
    if isinstance(filters, ArrayObject):
        names = [_value(f) for f in filters]
        if names == ["/FlateDecode", "/DCTDecode"] and _no_flate_parameters(xobj):
            return _deflated_jpeg(xobj)
        if len(filters) != 1:
            return None
        filters = names[0]
    space = _value(xobj.get("/ColorSpace"))
    if isinstance(space, ArrayObject) and len(space) == 1:
        space = _value(space[0])
    if not isinstance(filters, NameObject) or not isinstance(space, NameObject) or space not in _MODES:
        return None
    if _value(xobj.get("/BitsPerComponent")) != 8:
        return None
    width, height = _value(xobj.get("/Width")), _value(xobj.get("/Height"))
    if not isinstance(width, int) or not isinstance(height, int) or width <= 0 or height <= 0:
        return None
    raw: bytes = xobj._data  # the stream's encoded bytes
    mode, samples, png_type = _MODES[space]
    if filters == "/DCTDecode":
        jpeg = Image.open(io.BytesIO(raw), formats=("JPEG",))
        return jpeg if jpeg.mode == mode else None  # CMYK and odd JPEGs: pypdf converts them
    if filters != "/FlateDecode":
        return None
    parms = _value(xobj.get("/DecodeParms"))
    predictor = _value(parms.get("/Predictor")) if isinstance(parms, DictionaryObject) else None
    if predictor in (None, 1):
        data = _inflate(raw, width * height * samples)
        return Image.frombytes(mode, (width, height), data) if data is not None else None
    if not isinstance(predictor, int) or not 10 <= predictor <= 15 or not isinstance(parms, DictionaryObject):
        return None
    if (_value(parms.get("/Columns")) != width or _value(parms.get("/Colors", None)) not in (None, samples)
            or _value(parms.get("/BitsPerComponent")) not in (None, 8)):
        return None
    if _inflate(raw, height * (width * samples + 1)) is None:
        return None
    # PDF's PNG predictors are PNG's row filters: the stream is a PNG image's IDAT data.
    png = _png(width, height, png_type, raw)
    image = Image.open(io.BytesIO(png), formats=("PNG",))
    image.load()
    return image if image.mode == mode else None


def _no_flate_parameters(xobj: StreamObject) -> bool:
    """No parameters (a predictor) for the first filter: none at all, or null first."""
    parms = _value(xobj.get("/DecodeParms"))
    return parms is None or (isinstance(parms, ArrayObject) and bool(parms)
                             and isinstance(_value(parms[0]), (NullObject, type(None))))


def _deflated_jpeg(xobj: StreamObject) -> Image.Image | None:
    """A JPEG stored deflated (Flate then DCT), as pypdf reads it, without its JPEG re-encoding."""
    space = _value(xobj.get("/ColorSpace"))
    width, height = _value(xobj.get("/Width")), _value(xobj.get("/Height"))
    if not isinstance(space, NameObject) or space not in _MODES or not isinstance(width, int) \
            or not isinstance(height, int) or width <= 0 or height <= 0:
        return None
    mode, samples, _ = _MODES[space]
    # A JPEG is smaller than its samples; one that is not is left to pypdf.
    inflater = zlib.decompressobj()
    data = inflater.decompress(xobj._data, width * height * samples + 1)
    if not inflater.eof or len(data) > width * height * samples:
        return None
    jpeg = Image.open(io.BytesIO(data), formats=("JPEG",))
    return jpeg if jpeg.mode == mode else None


def _inflate(raw: bytes, size: int) -> bytes | None:
    """The zlib stream ``raw`` inflated when it holds exactly ``size`` bytes, else None; never
    more than ``size`` + 1 bytes are inflated (a stream that lies about its image stops there)."""
    inflater = zlib.decompressobj()
    data = inflater.decompress(raw, size + 1)
    return data if len(data) == size and not inflater.unconsumed_tail and inflater.eof else None


def _png(width: int, height: int, colour_type: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
