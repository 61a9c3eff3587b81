"""The policy editor's review step: a policy written as YAML checked the way the admin API checks
it (``parse_policy``), each problem placed at its field and line, and the change shown as a diff
against the stored version before it is saved (through ``AdminApi.put_policy`` and its ETag)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from tap_core.policy import MAX_POLICY_BYTES, Policy, PolicyError, parse_policy

#: Lines of diff shown at most (a policy is at most MAX_POLICY_BYTES; the rest is counted).
MAX_DIFF_LINES = 2000
#: Problems listed at most.
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the text: where (a dotted field path, a 1-based line) and what."""

    message: str
    field: str = ""
    line: int | None = None


@dataclass(frozen=True)
class Review:
    policy: Policy | None
    #: The document as it will be stored (defaults left out), when valid.
    document: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)
    diff_cut: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.diff)


def as_yaml(document: Mapping[str, Any] | None) -> str:
    """A stored policy document as the editor shows it (keys in the stored order)."""
    if not document:
        return ""
    return yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, default_flow_style=False)


def review(text: str, stored: Mapping[str, Any] | None) -> Review:
    """``text`` checked; when valid, the diff of what would be stored against ``stored``."""
    try:
        policy = parse_policy(text, name="policy")
    except PolicyError as exc:
        return Review(None, None, problems(text, exc)[:MAX_PROBLEMS])
    document = policy.model_dump(mode="json", exclude_defaults=True)
    before, after = as_yaml(stored).splitlines(), as_yaml(document).splitlines()
    lines = list(difflib.unified_diff(before, after, "stored policy", "your edit", lineterm="", n=3))
    cut = max(0, len(lines) - MAX_DIFF_LINES)
    return Review(policy, document, [], lines[:MAX_DIFF_LINES], cut)


def problems(text: str, exc: PolicyError) -> list[Problem]:
    """Each problem of ``exc`` with its field and, where the text has it, its line."""
    cause = exc.__cause__
    if isinstance(cause, yaml.MarkedYAMLError) and cause.problem_mark is not None:
        return [Problem(f"not valid YAML: {cause.problem or cause}", line=cause.problem_mark.line + 1)]
    if isinstance(cause, ValidationError):
        found = []
        for err in cause.errors():
            loc = [p for p in err["loc"]]
            path = ".".join(str(p) for p in loc)
            found.append(Problem(err["msg"], path, _line_of(text, loc)))
        return found
    return [Problem(str(exc).removeprefix("policy: "))]


def _line_of(text: str, loc: Sequence[Any]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (keys and list indexes), or of its nearest
    parent the text has (a missing key is reported at its mapping). None for JSON-less text."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        return None
    try:
        node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return None
    line: int | None = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        nxt: Any = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    nxt, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line
