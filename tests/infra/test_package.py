"""`make package` (infra/tools/package.py): the zip Flex Consumption runs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from .code_settings import ROOT

PACKAGE = ROOT / "infra" / "tools" / "package.py"


def test_the_package_holds_the_app_and_its_compiled_modules_and_runs_alone(tmp_path: Path) -> None:
    out = tmp_path / "tap365.zip"
    done = subprocess.run([sys.executable, str(PACKAGE), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(out).namelist()
    for required in ("function_app.py", "host.json", "requirements.txt",
                     "connectors/cli.py", "tap_core/data/message/message_rules.toml"):
        assert required in names
    compiled = [n for n in names if n.endswith(".so")]
    assert any(n.startswith("tap_core/urls/_textscan.") for n in compiled), compiled
    assert any(n.startswith("tap_core/parsing/_idn.") for n in compiled), compiled
    # No caches, Cython sources or generated C, simulated tenant or tests.
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyx", ".c"))]
    assert not [n for n in names if n.split("/")[0] in ("m365sim", "tests", "bench", "infra")]

    # Unpacked on its own, the app imports, and from the package, compiled scanner included.
    app = tmp_path / "app"
    zipfile.ZipFile(out).extractall(app)
    probe = ("import function_app, tap_core; from tap_core.urls import extract; "
             "print(tap_core.__file__); print(extract._textscan is not None)")
    ran = subprocess.run([sys.executable, "-c", probe], cwd=app, capture_output=True, text=True,
                         timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    where, compiled_in_use = ran.stdout.split()
    assert Path(where).is_relative_to(app)
    assert compiled_in_use == "True"
