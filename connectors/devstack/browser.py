"""The console in a real browser: the Debian ``chromium`` driven through ``chromium-driver`` by
Selenium, headless, at a fixed window size.

Used by the console's browser tests (``tests/console/``) and by ``tap365 demo`` for its console
screenshots. It collects what the page wrote to the browser console, runs axe-core (the project's
npm dependency, injected into the page) and walks the keyboard's Tab order. Nothing here starts a
browser that downloads anything: the Debian binaries are named explicitly, so Selenium Manager
never runs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AXE_SCRIPT = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMEDRIVER_NAMES = ("chromedriver",)
#: Where Debian puts them when /usr/bin is not on PATH (a service's environment).
DEBIAN_PATHS = {"chromium": "/usr/bin/chromium", "chromedriver": "/usr/bin/chromedriver"}
WINDOW = (1280, 900)
#: A full-page screenshot is cut at this height (CSS pixels): a runaway page must not make a
#: screenshot of hundreds of megabytes.
MAX_SCREENSHOT_HEIGHT = 6000
#: How long a page may take to load, and a script (axe) to run, in seconds.
PAGE_LOAD_TIMEOUT = 60.0
SCRIPT_TIMEOUT = 120.0
#: axe-core impacts that fail a page ("minor" and "moderate" are reported, not failed).
BLOCKING_IMPACTS = ("serious", "critical")


class BrowserUnavailable(RuntimeError):
    """Chromium, its driver, Selenium or axe-core is missing; the message says what to install."""


def _which(names: Sequence[str], debian: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return debian if os.access(debian, os.X_OK) else None


def find_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths, or :class:`BrowserUnavailable` naming what is missing."""
    chromium = _which(CHROMIUM_NAMES, DEBIAN_PATHS["chromium"])
    driver = _which(CHROMEDRIVER_NAMES, DEBIAN_PATHS["chromedriver"])
    missing = [name for name, path in (("chromium", chromium), ("chromium-driver", driver)) if path is None]
    if missing:
        raise BrowserUnavailable(
            f"{' and '.join(missing)} not installed (apt-get install {' '.join(missing)})")
    try:
        import selenium  # noqa: F401
    except ImportError as exc:
        raise BrowserUnavailable("selenium is not installed (pip install -e '.[dev]')") from exc
    assert chromium is not None and driver is not None
    return chromium, driver


def axe_source() -> str:
    if not AXE_SCRIPT.is_file():
        raise BrowserUnavailable(f"axe-core is not installed ({AXE_SCRIPT} missing: run make node-deps)")
    return AXE_SCRIPT.read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class FocusStop:
    """Where one press of Tab put the focus."""

    tag: str
    label: str  # the accessible text a person hears: aria-label, the text, a value or a name
    href: str
    focus_visible: bool  # a focus indicator is drawn (outline or box shadow)
    in_nav: bool  # inside the page's <nav>
    in_main: bool  # inside the page's <main>

    def describe(self) -> str:
        where = "nav" if self.in_nav else "main" if self.in_main else "page"
        return f"{where}:{self.tag}:{self.label or self.href}"


@dataclass(frozen=True, slots=True)
class AxeViolation:
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.rule} ({self.impact}): {self.help} at {', '.join(self.targets[:5])}"


_FOCUS_JS = """
const el = document.activeElement;
if (!el || el === document.body || el === document.documentElement) return null;
const style = getComputedStyle(el);
const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth || '0') > 0;
const shadow = style.boxShadow && style.boxShadow !== 'none';
const text = (el.getAttribute('aria-label') || el.innerText || el.value || el.getAttribute('name') || '');
return {
  tag: el.tagName.toLowerCase(),
  label: text.trim().replace(/\\s+/g, ' ').slice(0, 120),
  href: el.getAttribute('href') || '',
  visible: Boolean(outline || shadow),
  nav: Boolean(el.closest('nav')),
  main: Boolean(el.closest('main')),
};
"""

_AXE_RUN_JS = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']})
  .then(r => done(JSON.stringify(r.violations)))
  .catch(e => done(JSON.stringify({error: String(e)})));
"""


class ConsoleBrowser:
    """One headless Chromium session. ``screenshots``: the folder :meth:`screenshot` writes to."""

    def __init__(self, driver: WebDriver, screenshots: Path | None) -> None:
        self.driver = driver
        self.screenshots = screenshots
        self._axe: str | None = None

    def open(self, url: str) -> None:
        self.driver.get(url)

    @property
    def title(self) -> str:
        return str(self.driver.title)

    def console_errors(self) -> list[str]:
        """What pages wrote to the browser console at level SEVERE since the last call (errors,
        failed loads, CSP violations); reading empties Chromium's log."""
        entries = self.driver.get_log("browser")
        return [str(e.get("message", "")) for e in entries if e.get("level") == "SEVERE"]

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """A PNG of the page as shown, ``<screenshots>/<name>.png``; the whole page's height (up
        to MAX_SCREENSHOT_HEIGHT) when ``full_page``."""
        if self.screenshots is None:
            raise ValueError("this browser was started without a screenshot folder")
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{_slug(name)}.png"
        if not full_page:
            self.driver.save_screenshot(str(path))
            return path
        width, height = self.driver.execute_script(
            "const d = document.documentElement;"
            "const b = document.body;"
            "return [d.clientWidth, Math.max(d.scrollHeight, b ? b.scrollHeight : 0)];")
        height = min(int(height), MAX_SCREENSHOT_HEIGHT)
        clip = {"x": 0, "y": 0, "width": int(width), "height": height, "scale": 1}
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot",
                                           {"format": "png", "captureBeyondViewport": True, "clip": clip})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def axe(self) -> list[AxeViolation]:
        """axe-core's violations on the page as it is now, every impact."""
        if self._axe is None:
            self._axe = axe_source()
        # Injected through the driver, not a <script> in the page: the console's CSP (script-src
        # 'self') does not apply to what the driver evaluates.
        self.driver.execute_script(self._axe)
        raw = json.loads(self.driver.execute_async_script(_AXE_RUN_JS))
        if isinstance(raw, dict):
            raise RuntimeError(f"axe-core failed: {raw.get('error')}")
        return [
            AxeViolation(rule=str(v["id"]), impact=str(v.get("impact") or ""), help=str(v.get("help", "")),
                         targets=tuple(",".join(map(str, n.get("target", []))) for n in v.get("nodes", [])))
            for v in raw
        ]

    def blocking_axe_violations(self) -> list[AxeViolation]:
        return [v for v in self.axe() if v.impact in BLOCKING_IMPACTS]

    def tab_order(self, limit: int = 200) -> list[FocusStop]:
        """Press Tab from the top of the page until the focus leaves the page or comes back to a
        control it was on, at most ``limit`` times; the controls the focus went to, in order."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        self.driver.execute_script(
            "if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0);")
        stops: list[FocusStop] = []
        seen: set[str] = set()
        last = ""
        for _ in range(limit):
            ActionChains(self.driver).send_keys(Keys.TAB).perform()
            data: dict[str, Any] | None = self.driver.execute_script(_FOCUS_JS)
            if data is None:
                break
            key = self.driver.execute_script(
                "const p=[];let e=document.activeElement;"
                "while(e&&e.parentElement){p.unshift([...e.parentElement.children].indexOf(e));e=e.parentElement}"
                "return p.join('.');")
            if key == last:
                continue  # Tab moved within one control (the day, month and year of a date input)
            if key in seen:
                break
            seen.add(str(key))
            last = str(key)
            stops.append(FocusStop(tag=str(data["tag"]), label=str(data["label"]), href=str(data["href"]),
                                   focus_visible=bool(data["visible"]), in_nav=bool(data["nav"]),
                                   in_main=bool(data["main"])))
        return stops

    def nav_links(self) -> list[tuple[str, str]]:
        """(text, absolute href) of every link in the page's <nav>, in document order."""
        from selenium.webdriver.common.by import By

        return [(a.text.strip(), str(a.get_attribute("href") or ""))
                for a in self.driver.find_elements(By.CSS_SELECTOR, "nav a[href]")]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "page"


@contextlib.contextmanager
def console_browser(*, screenshots: Path | None = None,
                    window: tuple[int, int] = WINDOW) -> Iterator[ConsoleBrowser]:
    """A headless Chromium session; :class:`BrowserUnavailable` when it cannot be had."""
    chromium, driver_path = find_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="tap365-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in (
            "--headless=new",
            "--no-sandbox",  # root (CI, containers) cannot use Chromium's sandbox
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--window-size={window[0]},{window[1]}",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
            driver.set_script_timeout(SCRIPT_TIMEOUT)
            yield ConsoleBrowser(driver, screenshots)
        finally:
            driver.quit()


def screenshot_console(console_url: str, folder: Path) -> list[Path]:
    """A full-page PNG of every console page its navigation lists, and of the first held
    message's own page, into ``folder`` (``01-overview.png``, ...); the pages in nav order."""
    from selenium.webdriver.common.by import By

    shots: list[Path] = []
    with console_browser(screenshots=folder) as b:
        b.open(console_url.rstrip("/") + "/")
        pages = b.nav_links()
        for n, (label, href) in enumerate(pages, start=1):
            b.open(href)
            shots.append(b.screenshot(f"{n:02d}-{label.lower()}"))
            if href.rstrip("/").endswith("/held"):
                first = b.driver.find_elements(By.CSS_SELECTOR, "main table tbody tr a[href]")
                if first:
                    b.open(str(first[0].get_attribute("href")))
                    shots.append(b.screenshot(f"{n:02d}-{label.lower()}-message"))
    return shots
