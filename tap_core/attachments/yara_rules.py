"""The project's YARA ruleset (packaged data) plus admin-supplied rules, compiled once.

tap_core reads no files outside its package: admin rule files are read by the caller (settings
name the paths) and passed here as ``{name: source}``. Each admin file is compiled alone first so
a syntax error names the file and the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

import yara


class YaraRuleError(ValueError):
    """An admin rule file does not compile; the message names the file and YARA's error."""


def packaged_rule_sources() -> dict[str, str]:
    """The shipped rule files, ``{stem: source}``."""
    folder = resources.files("tap_core").joinpath("data/yara")
    sources: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yar"):
            sources[entry.name.removesuffix(".yar")] = entry.read_text("utf-8")
    return sources


@lru_cache(maxsize=1)
def packaged_rules() -> yara.Rules:
    """The shipped ruleset, compiled once per process."""
    return yara.compile(sources=packaged_rule_sources(), includes=False)


def compile_rules(extra: Mapping[str, str] | None = None) -> yara.Rules:
    """Shipped rules plus ``extra`` admin rule sources (namespaced ``admin_<name>``).

    Raises :class:`YaraRuleError` naming the first admin file that does not compile.
    """
    if not extra:
        return packaged_rules()
    sources = dict(packaged_rule_sources())
    for name, source in extra.items():
        namespace = f"admin_{name}"
        try:
            yara.compile(source=source, includes=False)
        except yara.SyntaxError as exc:
            raise YaraRuleError(f"YARA rule file {name!r} does not compile: {exc}") from exc
        except yara.Error as exc:
            raise YaraRuleError(f"YARA rule file {name!r} was refused: {exc}") from exc
        sources[namespace] = source
    try:
        return yara.compile(sources=sources, includes=False)
    except yara.Error as exc:  # e.g. duplicate rule names across files
        raise YaraRuleError(f"YARA rules do not compile together: {exc}") from exc
