"""Build the Flex Consumption deployment package (`make package`).

    python infra/tools/package.py [--out dist/tap365.zip] [--allow-python-only]

The package is what the Functions host runs: ``function_app.py``, ``host.json``,
``requirements.txt`` (remote build installs it), ``connectors/`` and ``tap_core/`` with the
compiled modules ``make install`` built (remote build does not build the project itself).
Left out: caches, the Cython sources and the C they generate, the simulated tenant and tests.

Exits 1 when a compiled module is missing, since the service would then run the slower Python
code; ``--allow-python-only`` packages anyway (same verdicts, URL extraction about three times
slower). Flex Consumption runs Linux x86_64 with Python 3.11: build the package there.
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_FILES = ("function_app.py", "host.json", "requirements.txt")
APP_PACKAGES = ("connectors", "tap_core")
#: Compiled modules, by import path (see [[tool.setuptools.ext-modules]] in pyproject.toml).
COMPILED = ("tap_core/urls/_textscan", "tap_core/parsing/_idn")
_SKIPPED_SUFFIXES = (".pyc", ".pyx", ".c")


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


def missing_compiled(files: list[Path]) -> list[str]:
    """Compiled modules without a built extension for this interpreter among ``files``."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    names = {str(f) for f in files}
    return [module for module in COMPILED if module + suffix not in names]


def build(out: Path, files: list[Path], root: Path = ROOT) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel in files:
            archive.write(root / rel, rel.as_posix())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "tap365.zip")
    parser.add_argument("--allow-python-only", action="store_true",
                        help="package even when a compiled module is not built")
    args = parser.parse_args(argv)
    files = package_files()
    missing = missing_compiled(files)
    if missing and not args.allow_python_only:
        print(f"error: not built: {', '.join(missing)}. Run `make install` on Linux x86_64 with "
              "Python 3.11 (it needs gcc and the Python headers), or pass --allow-python-only.",
              file=sys.stderr)
        return 1
    build(args.out, files)
    print(f"{args.out}: {len(files)} files"
          + (f" (Python only: {', '.join(missing)} not built)" if missing else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
