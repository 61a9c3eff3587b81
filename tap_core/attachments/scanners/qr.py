"""QR codes in images (zxing-cpp): URLs go to URL Protect, a URL in a QR code is itself a finding."""

from __future__ import annotations

import io
import re
import warnings

import zxingcpp
from PIL import Image

from tap_core.attachments.context import ScanContext
from tap_core.attachments.scanners._urls import add_reference
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

_URLISH = re.compile(r"^(https?://|www\.)\S+$", re.I)
QR_MIN_SIDE = 21  # the smallest QR code is 21x21 modules, one pixel each at the least
_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def qr_urls_from_image(image: Image.Image, ctx: ScanContext, where: str) -> list[str]:
    """Decode QR codes in ``image``; add URLs (and the finding) to ``ctx``."""
    width, height = image.size
    if width < QR_MIN_SIDE or height < QR_MIN_SIDE or width * height > ctx.limits.max_image_pixels:
        return []
    ctx.check_time()
    if image.mode in ("RGBA", "LA", "P", "PA") and not _opaque(image):
        # A code drawn on a transparent background reads as black on black once alpha is dropped.
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        image = white.convert("RGB")
    elif image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    found: list[str] = []
    for barcode in zxingcpp.read_barcodes(image, formats=_QR_ONLY):
        text = barcode.text.strip()
        if _URLISH.match(text):
            url = text if "://" in text else f"http://{text}"
            found.append(url)
            add_reference(ctx, url, "qr_code")
    if found:
        ctx.add("qr_code_url", f"{where}: {found[0]}")
    return found


def _opaque(image: Image.Image) -> bool:
    """No pixel of ``image`` is transparent: over white it is its own colours, so the four
    whole-image passes of compositing are skipped (a 4-megapixel scan: 100 ms)."""
    if image.mode == "P":
        return "transparency" not in image.info
    return image.getchannel("A").getextrema()[0] == 255  # type: ignore[index]


class ImageQrScanner(Scanner):
    name = "qr"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                image = Image.open(io.BytesIO(data))
                width, height = image.size
                if width * height > ctx.limits.max_image_pixels:
                    return
                image.load()
            except (Image.DecompressionBombWarning, Image.DecompressionBombError):
                return
        qr_urls_from_image(image, ctx, ctx.kind.type)
