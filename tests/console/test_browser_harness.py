"""The browser harness itself, on small pages made to pass or fail each check: the console tests
rely on it to see console errors, accessibility violations and an invisible focus, so it must."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from connectors.devstack.browser import WINDOW, ConsoleBrowser
from tests.click.servers import serve
from tests.console.browser import browser  # noqa: F401  (fixture)

CSP = "default-src 'self'; script-src 'self'; style-src 'self'"
NAV = '<nav aria-label="Main"><a href="/a">Overview</a> <a href="/b">Held mail</a></nav>'
GOOD = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Good</title></head><body>'
    f"<header>{NAV}</header><main><h1>Good</h1>"
    '<form method="post"><label for="q">Search</label><input id="q" name="q">'
    '<button type="submit">Release</button></form></main></body></html>'
)
BAD = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Bad</title></head><body>'
    '<main><h1>Bad</h1><input name="q"><img src="/pixel.png"></main></body></html>'
)
NO_FOCUS = GOOD.replace("<title>Good</title>", '<title>No focus</title><link rel="stylesheet" href="/nofocus.css">')
NOISY = GOOD.replace("<title>Good</title>", '<title>Noisy</title><script src="/boom.js"></script>')
INLINE = GOOD.replace("<title>Good</title>", "<title>Inline</title><script>document.title='ran'</script>")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    pages = {"good": GOOD, "bad": BAD, "nofocus": NO_FOCUS, "noisy": NOISY, "inline": INLINE}
    assets = {"nofocus.css": ("text/css", "*:focus { outline: none; box-shadow: none; }"),
              "boom.js": ("text/javascript", "console.error('boom from the page');")}

    async def page(request: Request) -> Response:
        name = request.path_params["name"]
        if name in assets:
            kind, body = assets[name]
            return Response(body, media_type=kind)
        if name in ("pixel.png", "favicon.ico"):
            return Response(status_code=204)
        return HTMLResponse(pages[name], headers={"Content-Security-Policy": CSP})

    with serve(Starlette(routes=[Route("/{name}", page)])) as port:
        yield f"http://127.0.0.1:{port}"


def test_console_errors_and_csp_violations_are_collected(browser: ConsoleBrowser, site: str) -> None:  # noqa: F811
    browser.console_errors()
    browser.open(f"{site}/good")
    assert browser.console_errors() == []
    browser.open(f"{site}/noisy")
    assert any("boom from the page" in e for e in browser.console_errors())
    browser.open(f"{site}/inline")  # refused by the CSP, which Chromium reports as an error
    errors = browser.console_errors()
    assert browser.title == "Inline" and any("Content Security Policy" in e for e in errors), errors


def test_axe_reports_unlabelled_controls_and_images_without_text(browser: ConsoleBrowser, site: str) -> None:  # noqa: F811
    browser.open(f"{site}/good")
    assert browser.blocking_axe_violations() == []
    browser.open(f"{site}/bad")
    rules = {v.rule for v in browser.blocking_axe_violations()}
    assert {"label", "image-alt"} <= rules, rules


def test_tab_order_walks_the_nav_then_the_main_controls_with_focus_shown(
    browser: ConsoleBrowser, site: str  # noqa: F811
) -> None:
    browser.open(f"{site}/good")
    stops = browser.tab_order()
    assert [s.describe() for s in stops] == [
        "nav:a:Overview", "nav:a:Held mail", "main:input:q", "main:button:Release"]
    assert all(s.focus_visible for s in stops)
    browser.open(f"{site}/nofocus")
    assert [s.focus_visible for s in browser.tab_order()] == [False] * 4


def test_screenshot_is_the_whole_page_at_the_window_width(browser: ConsoleBrowser, site: str) -> None:  # noqa: F811
    browser.open(f"{site}/good")
    path = browser.screenshot("harness good")
    assert path.name == "harness-good.png"
    with Image.open(path) as image:
        assert image.width == WINDOW[0] and image.height >= 100
        # something is drawn: the heading's dark pixels on the white page
        darkest, _ = image.convert("L").getextrema()
        assert isinstance(darkest, int) and darkest < 100
