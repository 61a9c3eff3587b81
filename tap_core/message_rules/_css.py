"""Just enough CSS to tell whether a reader sees an element's text: the declarations that hide
it, the ones that show it again, and the names a stylesheet's rules give a visible value
(responsive mail hides mobile-only blocks inline and shows them from a media query with
``!important``; templates set ``font-size:0`` on a column wrapper and a real size on its text).

Linear in its input: declarations are split on ";" and ":", rules on "}".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: What can hide text: a property and whether an element inside can show it again.
HIDING = {"display": False, "visibility": True, "font-size": True, "opacity": False,
          "max-height": False, "height": False}
#: A length or a number, unambiguous (no backtracking on long digit runs).
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([a-z%]*)")
_RELATIVE_UNITS = frozenset({"em", "%", "ex", "ch"})
#: Pixels per absolute unit (a bare number read as pixels, as mail clients do); others are large.
_PIXELS = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "rem": 16.0, "q": 0.945, "mm": 3.78}
_FONT_KEYWORDS = frozenset({"xx-small", "x-small", "small", "medium", "large", "x-large", "xx-large",
                            "xxx-large", "initial"})
_COMBINATOR_RE = re.compile(r"[\s>+~]+")
_NAME_RE = re.compile(r"([.#]?)([A-Za-z_][\w-]*)")


def declarations(style: str, *, important: bool = False) -> dict[str, str]:
    """Property -> value of a declaration block, lowercased, ``!important`` dropped; with
    ``important``, only the declarations marked ``!important``."""
    decls: dict[str, str] = {}
    for decl in style.lower().split(";"):
        prop, _, value = decl.partition(":")
        if important and "!important" not in value:
            continue
        decls[prop.strip()] = value.replace("!important", "").strip()
    return decls


def _size(value: str) -> tuple[float, str] | None:
    m = _SIZE_RE.fullmatch(value)
    return (float(m.group(1)), m.group(2)) if m else None


def hides(prop: str, value: str) -> bool:
    """``prop: value`` hides the element's text (a zero height only with overflow hidden)."""
    if prop == "display":
        return value == "none"
    if prop == "visibility":
        return value in ("hidden", "collapse")
    size = _size(value)
    if size is None:
        return False
    number, unit = size
    if prop == "font-size":  # a relative size of a visible font is visible
        return number == 0 or (unit not in _RELATIVE_UNITS and number * _PIXELS.get(unit, 96.0) <= 1)
    if prop == "opacity":
        return number / (100 if unit == "%" else 1) < 0.1
    return number == 0


def shows(prop: str, value: str) -> bool:
    """``prop: value`` shows again what the same property hid on an element around it (for
    font-size, only an absolute size: 2em of nothing is nothing)."""
    if prop == "font-size":
        size = _size(value)
        return value in _FONT_KEYWORDS or (
            size is not None and size[1] not in _RELATIVE_UNITS and size[0] * _PIXELS.get(size[1], 96.0) > 1)
    return value != "" and value != "inherit" and not hides(prop, value) and (
        prop != "visibility" or value == "visible")


@dataclass(frozen=True, slots=True)
class Stylesheet:
    #: Property -> names (tags, ".class", "#id") a rule gives a visible value of it.
    shown: Mapping[str, frozenset[str]]
    #: The same, from ``!important`` declarations only: they override inline styles.
    forced: Mapping[str, frozenset[str]]
    #: Whether any rule gives any name a visible value.
    names: bool


def _subjects(selectors: str) -> set[str]:
    """The names of the elements a selector list applies to: the last compound of each."""
    names: set[str] = set()
    for selector in selectors.rpartition("{")[2].split(","):  # "@media (...) { .a" -> ".a"
        compound = _COMBINATOR_RE.split(selector.strip())[-1]
        names.update(kind + name.lower() for kind, name in _NAME_RE.findall(compound))
    return names


def stylesheet(css: str) -> Stylesheet:
    shown: dict[str, set[str]] = {prop: set() for prop in HIDING}
    forced: dict[str, set[str]] = {prop: set() for prop in HIDING}
    for rule in css.split("}"):
        selectors, _, block = rule.rpartition("{")
        if not selectors:
            continue
        important = declarations(block, important=True)
        visible = {p for p, v in declarations(block).items() if p in HIDING and shows(p, v)}
        if visible:
            names = _subjects(selectors)
            for prop in visible:
                shown[prop] |= names
                if prop in important:
                    forced[prop] |= names
    return Stylesheet({p: frozenset(n) for p, n in shown.items()},
                      {p: frozenset(n) for p, n in forced.items()}, any(shown.values()))
