"""tap_core.impersonation stays pure: stdlib and analysis libraries, its own data, no I/O layers."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import tap_core.impersonation as package
from tap_core.impersonation import Directory, SenderHistory, StaticDirectory
from tap_core.impersonation.memory_history import InMemorySenderHistory

ALLOWED_THIRD_PARTY = {"pydantic", "rapidfuzz", "idna"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_stdlib_analysis_libraries_and_tap_core() -> None:
    folder = Path(package.__file__).parent
    for path in folder.glob("*.py"):
        for name in _imports(path):
            assert (
                name in sys.stdlib_module_names
                or name in ALLOWED_THIRD_PARTY
                or name
                in {
                    "tap_core",
                    "__future__",
                }
            ), f"{path.name} imports {name}"


def test_in_memory_implementations_satisfy_the_protocols() -> None:
    assert isinstance(InMemorySenderHistory(), SenderHistory)
    assert isinstance(StaticDirectory([]), Directory)
