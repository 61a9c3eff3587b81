"""Bar charts drawn on the server as SVG geometry (the ``chart`` macro in ``_macros.html`` turns
it into markup): no chart library, no script, readable without one (every chart has a
``<title>``, a description and the same numbers in a table beside it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    series: str  # CSS class suffix (colour), e.g. "url"
    tip: str  # the <title> of the bar: what it counts


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    description: str
    width: int
    height: int
    rects: tuple[Rect, ...]
    labels: tuple[Label, ...]
    #: (series key, label) for the legend.
    legend: tuple[tuple[str, str], ...]
    empty: bool


def _nice_max(value: int) -> int:
    """A round top for the axis (1, 2, 5, 10, 20, 50...) at or above ``value``."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= value:
                return step * m
        step *= 10


def stacked_columns(
    title: str,
    description: str,
    categories: Sequence[str],
    series: Mapping[str, tuple[str, Sequence[int]]],
    *,
    width: int = 720,
    height: int = 240,
    label_every: int = 1,
) -> Chart:
    """One column per category (a day), stacked by series (``key -> (label, values)``)."""
    left, right, top, bottom = 40.0, 10.0, 10.0, 34.0
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for _, values in series.values()) for i in range(len(categories))]
    top_value = _nice_max(max(totals, default=0) or 1)
    slot = plot_w / max(1, len(categories))
    bar_w = max(2.0, slot * 0.7)
    rects: list[Rect] = []
    labels = [
        Label(left - 6, top + plot_h - plot_h * f + 4, str(round(top_value * f)), "end") for f in (0, 0.5, 1)
    ]
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        for key, (name, values) in series.items():
            value = values[i]
            if value <= 0:
                continue
            h = plot_h * value / top_value
            y -= h
            rects.append(
                Rect(
                    round(x, 1), round(y, 1), round(bar_w, 1), round(h, 1), key, f"{category}: {value} {name}"
                )
            )
        if i % max(1, label_every) == 0:
            labels.append(Label(round(x + bar_w / 2, 1), height - bottom + 16, category))
    legend = tuple((key, name) for key, (name, _) in series.items())
    return Chart(
        title, description, width, height, tuple(rects), tuple(labels), legend, empty=not any(totals)
    )


def horizontal_bars(
    title: str,
    description: str,
    items: Sequence[tuple[str, int]],
    *,
    series: str = "total",
    width: int = 520,
    row: int = 24,
) -> Chart:
    """One bar per item (label, count), longest first as given."""
    label_w, right = 230.0, 40.0
    height = max(1, len(items)) * row + 8
    top_value = max((v for _, v in items), default=0) or 1
    plot_w = width - label_w - right
    rects: list[Rect] = []
    labels: list[Label] = []
    for i, (text, value) in enumerate(items):
        y = 4 + i * row
        w = plot_w * value / top_value
        shown = text if len(text) <= 34 else text[:33] + "\u2026"
        rects.append(Rect(label_w, y + 3, round(max(w, 1.0), 1), row - 8, series, f"{text}: {value}"))
        labels.append(Label(label_w - 6, y + row / 2 + 4, shown, "end"))
        labels.append(Label(round(label_w + w + 4, 1), y + row / 2 + 4, str(value), "start"))
    return Chart(title, description, width, height, tuple(rects), tuple(labels), (), empty=not items)
