"""QR codes in image attachments, whatever the image's colours: opaque (grey, RGB, a palette, an
alpha channel with no transparent pixel) or a code whose light modules are transparent (a
palette's transparent index, an alpha channel), which reads only once laid on white."""

from __future__ import annotations

import io

import pytest
import segno
from PIL import Image

from tap_core.attachments.engine import AttachmentEngine

URL = "https://image-quish.example.com/a"


def _code() -> Image.Image:
    """The code in grey: black modules 0, light modules and border 255."""
    buffer = io.BytesIO()
    segno.make(URL, error="m").save(buffer, kind="png", scale=4, border=4)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def _png(image: Image.Image, **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _transparent_light(mode: str) -> Image.Image:
    """Black everywhere; the light modules carry alpha 0 (black on black once alpha is dropped)."""
    grey = _code()
    alpha = grey.point(lambda v: 255 - v)
    black = Image.new("L", grey.size, 0)
    if mode == "LA":
        return Image.merge("LA", (black, alpha))
    return Image.merge("RGBA", (black, black, black, alpha))


def _opaque(mode: str) -> tuple[Image.Image, dict[str, object]]:
    grey = _code()
    if mode == "RGBA":  # an alpha channel, every pixel opaque
        return grey.convert("RGBA"), {}
    return grey.convert(mode), {}


def _palette_transparent() -> tuple[Image.Image, dict[str, object]]:
    """A palette of black (0) and a light index (1) that is transparent and black itself."""
    grey = _code()
    palette = grey.point(lambda v: 1 if v else 0).convert("P")
    palette.putpalette([0, 0, 0, 0, 0, 0])
    return palette, {"transparency": 1}


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "RGBA"])
def test_qr_code_in_an_opaque_image(engine: AttachmentEngine, mode: str) -> None:
    image, save = _opaque(mode)
    result = engine.scan(f"scan-{mode}.png", _png(image, **save))
    assert result.type == "png"
    assert [u.url for u in result.urls] == [URL], (mode, image.mode)
    assert "qr_code_url" in result.reasons


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_qr_code_whose_light_modules_are_transparent(engine: AttachmentEngine, mode: str) -> None:
    if mode == "P":
        image, save = _palette_transparent()
    else:
        image, save = _transparent_light(mode), {}
    data = _png(image, **save)
    assert Image.open(io.BytesIO(data)).mode == mode
    result = engine.scan(f"scan-{mode}.png", data)
    assert [u.url for u in result.urls] == [URL], mode
    assert "qr_code_url" in result.reasons
