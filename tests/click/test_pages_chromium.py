"""The click pages in real headless Chromium: screenshots show the banner, nothing injected runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tap_core.click.pages import Branding, RenderedPage, block_page, error_page, warning_page
from tests.click.servers import serve

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is required in CI for the click page screenshot tests")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

HOSTILE = 'https://evil.example/"><script>document.title="PWNED"</script><img src=x onerror="document.title=\'PWNED\'">'
BRANDING = Branding(
    name='Contoso <script>document.title="PWNED"</script>',
    support_contact="it@contoso.example",
    custom_text="<img src=x onerror=\"document.title='PWNED'\">",
)
PAGES: dict[str, RenderedPage] = {
    "block": block_page(HOSTILE, ("page_form_exfil_endpoint", "<b>x</b>"), BRANDING),
    "warn": warning_page(HOSTILE, ("page_brand_login_foreign",), BRANDING, "https://r.example/go?x=1"),
    "error": error_page(BRANDING),
}
BANNER_RGB = {"block": (0xB3, 0x26, 0x1E), "warn": (0x8A, 0x4B, 0x00), "error": (0x1F, 0x4E, 0x8C)}


@pytest.fixture(scope="module")
def pages_url() -> Iterator[str]:
    async def page(request: Request) -> Response:
        rendered = PAGES[request.path_params["kind"]]
        return Response(rendered.body, status_code=200, headers=rendered.headers)

    with serve(Starlette(routes=[Route("/{kind}", page)])) as port:
        yield f"http://127.0.0.1:{port}"


def _chromium(args: list[str], url: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp / 'profile'}",
        *args,
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _banner_pixels(png: Path, rgb: tuple[int, int, int]) -> float:
    img = Image.open(png).convert("RGB")
    w, h = img.size
    top = img.crop((0, 0, w, min(h, 120)))
    pixels: list[tuple[int, int, int]] = list(top.get_flattened_data())  # type: ignore[arg-type]
    hits = sum(1 for px in pixels if all(abs(a - b) <= 6 for a, b in zip(px, rgb, strict=True)))
    return hits / (top.width * top.height)


@pytest.mark.parametrize("kind", ["block", "warn", "error"])
@pytest.mark.parametrize("size", ["1280,800", "390,844"])  # desktop and a phone
def test_screenshot_shows_the_banner(pages_url: str, kind: str, size: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        png = tmp / "shot.png"
        result = _chromium([f"--screenshot={png}", f"--window-size={size}"], f"{pages_url}/{kind}", tmp)
        assert png.exists(), result.stderr[-2000:]
        assert _banner_pixels(png, BANNER_RGB[kind]) > 0.5  # the top of the page is the banner colour


@pytest.mark.parametrize("kind", ["block", "warn", "error"])
def test_nothing_injected_executes(pages_url: str, kind: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        result = _chromium(["--dump-dom", "--virtual-time-budget=2000"], f"{pages_url}/{kind}", Path(d))
    dom = result.stdout
    assert "<h1>" in dom and "PWNED" not in dom.split("<title>")[1].split("</title>")[0]
    assert "<script" not in dom.lower()
    assert "<img" not in dom  # the injected image exists only as text (no logo configured)
    if kind == "warn":
        assert 'id="proceed"' in dom and 'href="https://r.example/go?x=1"' in dom
