"""tap_core's layers read one way: the model at the bottom, the rule families and pipelines above
it, the orchestrator (pipeline, policy) on top. No module imports from a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

TAP_CORE = Path(__file__).resolve().parent.parent / "tap_core"

#: Packages of tap_core by layer, lowest first.
LAYERS: dict[str, int] = {
    # the model: messages, findings, decisions; readers of raw input; data files; the contract
    "model": 0, "parsing": 0, "data": 0, "detect": 0,
    # the rule families and pipelines (they may use each other's public functions)
    "lookalike": 1, "urls": 1, "message_rules": 1, "click": 1, "attachments": 1, "impersonation": 1,
    "auth": 1, "reputation": 1,
    # the orchestrator
    "policy": 2, "pipeline": 2,
}


def _package_of(path: Path) -> str:
    parts = path.relative_to(TAP_CORE).parts
    return parts[0].removesuffix(".py")


def _imported_packages(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tap_core."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("tap_core.")}
    return out


def test_every_package_has_a_layer() -> None:
    packages = {_package_of(p) for p in TAP_CORE.rglob("*.py") if p.name != "__init__.py" or p.parent != TAP_CORE}
    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = []
    for path in sorted(TAP_CORE.rglob("*.py")):
        if path.parent == TAP_CORE and path.name == "__init__.py":
            continue
        own = LAYERS[_package_of(path)]
        for package in _imported_packages(path):
            if LAYERS.get(package, 0) > own:
                upward.append(f"{path.relative_to(TAP_CORE)} imports tap_core.{package}")
    assert not upward, upward


def test_the_bottom_layer_imports_no_family() -> None:
    bottom = {name for name, layer in LAYERS.items() if layer == 0}
    for path in sorted(TAP_CORE.rglob("*.py")):
        if _package_of(path) in bottom:
            assert _imported_packages(path) <= bottom, path


#: Test tooling that product code (tap_core, connectors, function_app.py) never imports: the
#: simulators run as processes of their own and are driven over HTTP only.
FORBIDDEN_IN_PRODUCT = ("m365sim", "rdapsim")


def test_product_code_never_imports_a_simulator() -> None:
    root = TAP_CORE.parent
    paths = [*TAP_CORE.rglob("*.py"), *(root / "connectors").rglob("*.py"), root / "function_app.py"]
    offending = []
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offending += [f"{path.relative_to(root)} imports {name}" for name in names
                          if name.split(".")[0] in FORBIDDEN_IN_PRODUCT]
    assert not offending, offending
