"""Parse the deployment templates and print them as JSON (run by infra/check.sh in its venvs).

    python infra/tools/iac.py bicep FILE...   # checkov's Bicep parser (pycep-parser)
    python infra/tools/iac.py tf FILE...      # python-hcl2

Prints ``{"files": {path: parsed}, "errors": {path: message}}``; exit 1 when a file fails.

pycep-parser (the version checkov pins) predates Bicep's ``extension`` statement, which the
Microsoft Graph extension needs, so ``extension NAME`` lines are blanked before parsing (line
numbers kept) and listed under ``extensions``. Nothing else is changed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

EXTENSION = re.compile(r"^extension\s+\S+.*$", re.MULTILINE)


def strip_extensions(text: str) -> tuple[str, list[str]]:
    found = [m.group(0).strip() for m in EXTENSION.finditer(text)]
    return EXTENSION.sub("", text), found


def parse_bicep(path: Path) -> dict:
    from pycep import BicepParser

    text, extensions = strip_extensions(path.read_text(encoding="utf-8"))
    parsed = BicepParser().parse(text=text)
    parsed["extensions"] = extensions
    return parsed


def unquote(value: object) -> object:
    """python-hcl2 8 keeps HCL's quotes on string keys and literals (``'"web"'``): drop them."""
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def parse_tf(path: Path) -> dict:
    import hcl2

    with path.open(encoding="utf-8") as handle:
        return unquote(hcl2.load(handle))


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("bicep", "tf"):
        print(__doc__, file=sys.stderr)
        return 2
    parse = parse_bicep if argv[0] == "bicep" else parse_tf
    out: dict[str, dict] = {"files": {}, "errors": {}}
    for name in argv[1:]:
        try:
            out["files"][name] = parse(Path(name))
        except Exception as exc:  # report every file, not just the first failure
            out["errors"][name] = f"{type(exc).__name__}: {exc}"
    json.dump(out, sys.stdout, default=str)
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
