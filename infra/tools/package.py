"""Build the Flex Consumption deployment package (`make package`).

    python infra/tools/package.py [--out dist/tap365.zip]

The package is what the Functions host runs: ``function_app.py``, ``host.json``,
``requirements.txt`` (remote build installs it), ``connectors/`` and ``tap_core/`` (pure
Python: nothing of the project itself needs building). Left out: caches, the simulated tenant
and tests.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_FILES = ("function_app.py", "host.json", "requirements.txt")
APP_PACKAGES = ("connectors", "tap_core")
_SKIPPED_SUFFIXES = (".pyc",)


def package_files(root: Path = ROOT) -> list[Path]:
    """The files that go into the package, relative to ``root``, sorted."""
    files = [Path(name) for name in APP_FILES]
    for package in APP_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            rel = path.relative_to(root)
            if path.is_dir() or "__pycache__" in rel.parts or path.suffix in _SKIPPED_SUFFIXES:
                continue
            files.append(rel)
    return sorted(files)


def build(out: Path, files: list[Path], root: Path = ROOT) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel in files:
            archive.write(root / rel, rel.as_posix())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "tap365.zip")
    args = parser.parse_args(argv)
    files = package_files()
    build(args.out, files)
    print(f"{args.out}: {len(files)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
