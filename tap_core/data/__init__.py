"""The project's packaged data files (``tap_core/data/...``): the only file reads tap_core does."""

from __future__ import annotations

from importlib import resources


def data_text(*parts: str) -> str:
    """The text of ``tap_core/data/<parts...>``."""
    node = resources.files("tap_core").joinpath("data")
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def data_lines(*parts: str) -> tuple[str, ...]:
    """The entries of a list file: one per line, lowercased, ``#`` comments and blanks removed."""
    out: list[str] = []
    for line in data_text(*parts).splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line:
            out.append(line)
    return tuple(out)
