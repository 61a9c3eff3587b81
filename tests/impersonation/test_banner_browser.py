"""The banner as a reader sees it: rendered by headless Chromium, checked on the screenshot.

Skipped with a reason when Chromium is absent on a developer machine; in CI (CI=true) a missing
browser fails the test instead, so the check cannot silently stop running there.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tap_core.impersonation.banner import BANNER_BACKGROUND, BANNER_EDGE, add_banner_html
from tap_core.model.findings import Finding

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
WIDTH, HEIGHT = 800, 600


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is required in CI (Debian package 'chromium')")
    pytest.skip("Chromium not installed (apt-get install -y chromium) - banner not rendered")


def _decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, unfiltered rows) of an 8-bit RGB/RGBA PNG, stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = depth = ctype = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and ctype in (2, 6), (depth, ctype)
    channels = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        filt = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if filt == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out += line
        prev = line
    return width, height, channels, bytes(out)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 6) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def _render(tmp_path: Path, html: str) -> tuple[int, int, int, bytes]:
    page = tmp_path / "message.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={WIDTH},{HEIGHT}",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return _decode_png(shot.read_bytes())


def test_banner_is_visible_at_the_top_of_a_rendered_message(tmp_path: Path) -> None:
    body = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head>"
        "<body style='margin:0;background:#ffffff'>"
        "<p style='font:16px Arial'>Hi Alice, are you at your desk? I need a quick favour.</p>"
        "<p style='font:16px Arial'>Jane</p></body></html>"
    )
    finding = Finding(
        name="display_name_vip",
        score=1,
        reason="The sender's name resembles Jane Doe, but the message comes from ceo.jane@gmail.com.",
        evidence="x",
    )
    width, height, channels, pixels = _render(tmp_path, add_banner_html(body, [finding]))

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        i = (y * width + x) * channels
        return pixels[i], pixels[i + 1], pixels[i + 2]

    # The banner background fills the top of the page; its red edge runs down the left side.
    assert _close(pixel(width - 20, 4), _rgb(BANNER_BACKGROUND)), pixel(width - 20, 4)
    assert _close(pixel(2, 20), _rgb(BANNER_EDGE)), pixel(2, 20)
    # Its text is drawn (dark pixels inside the banner), and the page below is the message's.
    banner_rows = [y for y in range(height) if _close(pixel(width - 20, y), _rgb(BANNER_BACKGROUND))]
    assert 40 <= len(banner_rows) <= 300
    text_pixels = sum(1 for y in banner_rows for x in range(20, width - 20, 2) if sum(pixel(x, y)) < 3 * 120)
    assert text_pixels > 200
    assert _close(pixel(width - 20, height - 10), (255, 255, 255))


def test_without_banner_the_top_is_the_message(tmp_path: Path) -> None:
    width, _, channels, pixels = _render(
        tmp_path, "<html><body style='margin:0;background:#fff'>x</body></html>"
    )
    i = (4 * width + width - 20) * channels
    assert _close((pixels[i], pixels[i + 1], pixels[i + 2]), (255, 255, 255))
