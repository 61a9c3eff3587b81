"""The console's Jinja2 environment: autoescape on for every template, strict about undefined
names (a misspelt variable fails the test that renders the page instead of showing nothing)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).parent / "templates"


def utc(value: datetime | str | None) -> str:
    """A time as UTC ISO 8601 to the second ("2026-12-08T03:16:52Z"); "" for none."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit ("3 h", "2 d")."""
    if value is None:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - value).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@lru_cache(maxsize=1)
def environment() -> Environment:
    from connectors.console.app import assets, url

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its name: mail's text never becomes markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(url=url, static=lambda name: assets().url(name))
    env.filters.update(utc=utc, age=age)
    return env


def render_page(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)
