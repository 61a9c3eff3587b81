"""The one scorer: findings -> score, verdict and reasons, for URLs, pages, files and messages.

Each finding contributes its weight (the rule's default weight, or the learned model's for a
message); a group's contributions together never exceed the group's cap; a group never raises
the verdict above its ``max_verdict``; a finding whose rule decides alone (an intel hit,
malware) sets the verdict whatever the score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from tap_core.detect.groups import Group, groups
from tap_core.model.findings import Finding, Verdict

WeightOf = Callable[[Finding], float]


class Thresholds(BaseModel):
    """Scores at which a verdict is reached. ``hold``, between the two, splits SUSPICIOUS into
    "tag" (below) and "hold" (at or above); without it every SUSPICIOUS result is held."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    suspicious: float = Field(validation_alias=AliasChoices("suspicious", "suspicious_score"))
    malicious: float = Field(validation_alias=AliasChoices("malicious", "malicious_score"))
    hold: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.malicious < self.suspicious:
            raise ValueError("malicious must not be below suspicious")
        if self.hold is not None and not self.suspicious <= self.hold <= self.malicious:
            raise ValueError("hold must lie between suspicious and malicious")
        return self


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one finding added to a score, after its group's cap."""

    finding: Finding
    weight: float


@dataclass(frozen=True, slots=True)
class Scored:
    score: float
    verdict: Verdict
    #: MALICIOUS, or SUSPICIOUS at or above the hold threshold.
    hold: bool
    #: One per finding name, strongest first.
    contributions: tuple[Contribution, ...]
    #: Findings whose rule decided the verdict on their own.
    deciding: tuple[Finding, ...] = ()
    #: The score each verdict sees: the groups allowed to reach it, and every negative weight.
    reach: Mapping[Verdict, float] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        """Finding names, deciding ones first, then by contribution."""
        first = [f.name for f in self.deciding]
        return first + [c.finding.name for c in self.contributions if c.finding.name not in first]

    def weight_of(self, name: str) -> float:
        return next((c.weight for c in self.contributions if c.finding.name == name), 0.0)


def default_weight(finding: Finding) -> float:
    """The weight a finding carries without a learned model: its rule's (``Finding.score``)."""
    return finding.score


_UNGROUPED = Group(name="", description="", max_score=float("inf"), min_score=float("-inf"))


def score(
    findings: Iterable[Finding],
    thresholds: Thresholds,
    *,
    weight_of: WeightOf = default_weight,
    bias: float = 0.0,
    cap_scale: float = 1.0,
) -> Scored:
    """Score ``findings`` against ``thresholds``.

    ``weight_of`` gives each finding's weight (default: its rule's), ``bias`` is added as is
    (a learned intercept, a child file's score), ``cap_scale`` converts the group caps of
    ``groups.toml`` (default-weight points) into the unit of ``weight_of``."""
    table = groups()
    strongest: dict[str, tuple[Finding, float]] = {}
    deciding: dict[str, Finding] = {}
    for f in findings:
        w = weight_of(f)
        kept = strongest.get(f.name)
        if kept is None or w > kept[1]:
            strongest[f.name] = (f, w)
        if f.verdict is not None and f.name not in deciding:
            deciding[f.name] = f
    by_group: dict[str, list[tuple[Finding, float]]] = {}
    for f, w in strongest.values():
        by_group.setdefault(f.group, []).append((f, w))
    contributions: list[Contribution] = []
    reach = {Verdict.SUSPICIOUS: bias, Verdict.MALICIOUS: bias}
    for name, members in by_group.items():
        group = table.get(name, _UNGROUPED)
        cap, floor = group.max_score * cap_scale, group.min_score * cap_scale
        positive = sum(w for _, w in members if w > 0)
        negative = sum(w for _, w in members if w < 0)
        up = cap / positive if positive > cap else 1.0
        down = floor / negative if negative < floor else 1.0
        for f, w in members:
            weight = round(w * (up if w > 0 else down), 4)
            contributions.append(Contribution(f, weight))
            for level in reach:
                if weight < 0 or group.max_verdict.rank >= level.rank:
                    reach[level] += weight
    contributions.sort(key=lambda c: (-c.weight, c.finding.name))
    total = round(bias + sum(c.weight for c in contributions), 4)
    decided = tuple(deciding.values())
    verdict, hold = verdict_for(reach, thresholds, [f.verdict for f in decided if f.verdict is not None])
    levels = {level: round(value, 4) for level, value in reach.items()}
    return Scored(total, verdict, hold, tuple(contributions), decided, levels)


def verdict_for(
    reach: float | Mapping[Verdict, float],
    thresholds: Thresholds,
    deciding: Iterable[Verdict] = (),
) -> tuple[Verdict, bool]:
    """(verdict, hold) for a score (or the score each verdict sees, as :attr:`Scored.reach`)
    against ``thresholds``; ``deciding`` are verdicts of findings that decide alone."""
    if isinstance(reach, Mapping):
        suspicious, malicious = reach[Verdict.SUSPICIOUS], reach[Verdict.MALICIOUS]
    else:
        suspicious = malicious = reach
    if malicious >= thresholds.malicious:
        verdict = Verdict.MALICIOUS
    elif suspicious >= thresholds.suspicious:
        verdict = Verdict.SUSPICIOUS
    else:
        verdict = Verdict.CLEAN
    held_from = thresholds.suspicious if thresholds.hold is None else thresholds.hold
    hold = verdict is Verdict.MALICIOUS or (verdict is Verdict.SUSPICIOUS and suspicious >= held_from)
    forced = list(deciding)
    if forced:
        verdict = Verdict.worst([verdict, *forced])
        hold = hold or verdict is not Verdict.CLEAN
    return verdict, hold
