"""QR codes in PDF images, whatever way the image is stored: raw or Flate samples, PNG predictors,
a soft mask carrying the code, JPEG, inside a form, inline in the content; the per-page image
limit (MAX_QR_IMAGES_PER_PAGE) and images too small to hold a code."""

from __future__ import annotations

import io
import zlib

import pytest
import segno
from PIL import Image

from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.scanners._pdf_images import MAX_QR_IMAGES_PER_PAGE

URL = "https://pdf-quish.example.com/a"


def _qr(url: str = URL, mode: str = "L") -> Image.Image:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=4, border=4)
    return Image.open(io.BytesIO(buffer.getvalue())).convert(mode)


def _stream(entries: str, data: bytes) -> bytes:
    return f"<< {entries} /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"


def _image(image: Image.Image, extra: str = "", *, predictor: bool = False, flate: bool = True) -> bytes:
    space = {"L": "/DeviceGray", "RGB": "/DeviceRGB"}[image.mode]
    head = f"/Type /XObject /Subtype /Image /Width {image.width} /Height {image.height} " \
           f"/ColorSpace {space} /BitsPerComponent 8 {extra}"
    if predictor:  # Pillow's own PNG rows (adaptive filters): what PDF writers store
        png = io.BytesIO()
        image.save(png, format="PNG", optimize=True)
        data, raw = b"", png.getvalue()[8:]
        while raw:
            size, kind = int.from_bytes(raw[:4], "big"), raw[4:8]
            data += raw[8:8 + size] if kind == b"IDAT" else b""
            raw = raw[12 + size:]
        colors = len(image.getbands())
        return _stream(head + f" /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors {colors} "
                       f"/Columns {image.width} >>", data)
    if flate:
        return _stream(head + " /Filter /FlateDecode", zlib.compress(image.tobytes()))
    return _stream(head, image.tobytes())


def _pdf(xobjects: dict[str, bytes], content: bytes | None = None,
         forms: dict[str, tuple[str, bytes]] | None = None, first: bytes | None = None) -> bytes:
    """One page drawing ``xobjects`` (name -> image object); ``forms``: name -> (image name, image)
    drawn through a form XObject; ``content`` replaces the page's drawing operators; ``first``
    is object 1, referred to by the others and not drawn."""
    objects: list[bytes] = [first] if first is not None else []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    names: list[str] = []
    for name, body in xobjects.items():
        names.append(f"/{name} {add(body)} 0 R")
    for name, (inner, body) in (forms or {}).items():
        image = add(body)
        drawing = f"q 100 0 0 100 0 0 cm /{inner} Do Q".encode()
        form = add(_stream(f"/Type /XObject /Subtype /Form /BBox [0 0 200 200] "
                           f"/Resources << /XObject << /{inner} {image} 0 R >> >>", drawing))
        names.append(f"/{name} {form} 0 R")
    drawing = content if content is not None else b" ".join(
        f"q 100 0 0 100 0 0 cm /{n} Do Q".encode() for n in [*xobjects, *(forms or {})])
    contents = add(_stream("", drawing))
    page = add(f"<< /Type /Page /Parent {len(objects) + 2} 0 R /MediaBox [0 0 200 200] "
               f"/Resources << /XObject << {' '.join(names)} >> >> /Contents {contents} 0 R >>".encode())
    pages = add(f"<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>".encode())
    root = add(f"<< /Type /Catalog /Pages {pages} 0 R >>".encode())
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root {root} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _qr_urls(engine: AttachmentEngine, pdf: bytes) -> list[str]:
    result = engine.scan("scan.pdf", pdf)
    return [u.url for u in result.urls if u.context == "qr_code"]


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize(("predictor", "flate"), [(False, True), (True, True), (False, False)])
def test_qr_in_samples(engine: AttachmentEngine, mode: str, predictor: bool, flate: bool) -> None:
    pdf = _pdf({"Im0": _image(_qr(mode=mode), predictor=predictor, flate=flate)})
    assert _qr_urls(engine, pdf) == [URL]


def test_qr_carried_by_the_soft_mask(engine: AttachmentEngine) -> None:
    # Black everywhere; the mask makes the light modules transparent (white once composited).
    code = _qr()
    black = Image.new("RGB", code.size, (0, 0, 0))
    mask = Image.eval(code, lambda v: 255 - v)
    pdf = _pdf({"Im0": _image(black, "/SMask 1 0 R")}, first=_image(mask))
    assert _qr_urls(engine, pdf) == [URL]
    assert _qr_urls(engine, _pdf({"Im0": _image(black)})) == []  # the code is in the mask alone


def test_qr_as_jpeg_in_a_form_and_inline(engine: AttachmentEngine) -> None:
    jpeg = io.BytesIO()
    _qr(mode="RGB").save(jpeg, format="JPEG", quality=90)
    code = _qr()
    dct = _stream(f"/Type /XObject /Subtype /Image /Width {code.width} /Height {code.height} "
                  "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode", jpeg.getvalue())
    assert _qr_urls(engine, _pdf({}, forms={"Fm0": ("Im0", dct)})) == [URL]
    deflated = _stream(f"/Type /XObject /Subtype /Image /Width {code.width} /Height {code.height} "
                       "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter [/FlateDecode /DCTDecode] "
                       "/DecodeParms [null << /ColorTransform 1 >>]", zlib.compress(jpeg.getvalue()))
    assert _qr_urls(engine, _pdf({"Im0": deflated})) == [URL]
    inline = (f"q 100 0 0 100 0 0 cm BI /W {code.width} /H {code.height} /CS /G /BPC 8 ID\n".encode()
              + code.tobytes() + b"\nEI Q")
    assert _qr_urls(engine, _pdf({}, content=inline)) == [URL]


def test_images_past_the_page_limit_are_not_read(engine: AttachmentEngine) -> None:
    blank = _image(Image.new("L", (60, 60), 255))
    code = _image(_qr())
    within = {f"Im{i:02d}": blank for i in range(MAX_QR_IMAGES_PER_PAGE - 1)} | {"Qr": code}
    assert _qr_urls(engine, _pdf(within)) == [URL]
    beyond = {f"Im{i:02d}": blank for i in range(MAX_QR_IMAGES_PER_PAGE)} | {"Qr": code}
    assert _qr_urls(engine, _pdf(beyond)) == []


def test_small_and_broken_images_are_skipped_without_failing(engine: AttachmentEngine) -> None:
    tiny = _stream("/Type /XObject /Subtype /Image /Width 20 /Height 4000 /ColorSpace /DeviceGray "
                   "/BitsPerComponent 8 /Filter /FlateDecode", b"not zlib at all")
    broken = _stream("/Type /XObject /Subtype /Image /Width 60 /Height 60 /ColorSpace /DeviceGray "
                     "/BitsPerComponent 8 /Filter /FlateDecode", b"not zlib either")
    # 5 MB of samples where 60x60 are declared: not inflated past the declared size here.
    lying = _stream("/Type /XObject /Subtype /Image /Width 60 /Height 60 /ColorSpace /DeviceGray "
                    "/BitsPerComponent 8 /Filter /FlateDecode", zlib.compress(bytes(5_000_000)))
    result = engine.scan("scan.pdf", _pdf({"A": tiny, "B": broken, "L": lying, "C": _image(_qr())}))
    assert [u.url for u in result.urls if u.context == "qr_code"] == [URL]
    assert "qr_code_url" in result.reasons
