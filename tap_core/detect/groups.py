"""Rule groups (rspamd's ``scores.d`` groups): what a group may add and how far it may go.

``tap_core/data/detect/groups.toml``:

    [url_hosting]
    description = "Where the link's page is hosted."
    max_score = 4.0            # the most the group adds to one score (learned or default weights)
    min_score = 0.0            # the most it may take away (only learned words weigh negative)
    max_verdict = "suspicious" # the group alone never makes anything worse than this
    click_only = false         # counts only for links a person clicks (not images, scripts)
    name_dependent = false     # depends on a file's declared name, not its content
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from tap_core.data import data_text
from tap_core.model.findings import Verdict

_KEYS = frozenset({"description", "max_score", "min_score", "max_verdict", "click_only", "name_dependent"})


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    description: str
    max_score: float
    #: The most the group may take away (only learned word weights are negative).
    min_score: float = 0.0
    max_verdict: Verdict = Verdict.MALICIOUS
    click_only: bool = False
    name_dependent: bool = False


@cache
def groups() -> Mapping[str, Group]:
    """Every group, by name."""
    out: dict[str, Group] = {}
    for name, spec in tomllib.loads(data_text("detect", "groups.toml")).items():
        unknown = set(spec) - _KEYS
        if unknown:
            raise ValueError(f"data/detect/groups.toml: group {name!r} has unknown keys {sorted(unknown)}")
        out[name] = Group(
            name=name,
            description=" ".join(str(spec["description"]).split()),
            max_score=float(spec["max_score"]),
            min_score=float(spec.get("min_score", 0.0)),
            max_verdict=Verdict(spec.get("max_verdict", "malicious")),
            click_only=bool(spec.get("click_only", False)),
            name_dependent=bool(spec.get("name_dependent", False)),
        )
    return out


@cache
def group_names(*, click_only: bool | None = None, name_dependent: bool | None = None) -> frozenset[str]:
    """Names of the groups with the given properties."""
    return frozenset(
        g.name
        for g in groups().values()
        if (click_only is None or g.click_only == click_only)
        and (name_dependent is None or g.name_dependent == name_dependent)
    )
