"""`make package` (infra/tools/package.py): the zip Flex Consumption runs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from .code_settings import ROOT

PACKAGE = ROOT / "infra" / "tools" / "package.py"


def test_the_package_holds_the_app_and_runs_alone(tmp_path: Path) -> None:
    out = tmp_path / "tap365.zip"
    done = subprocess.run([sys.executable, str(PACKAGE), "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(out).namelist()
    for required in ("function_app.py", "host.json", "requirements.txt",
                     "connectors/cli.py", "tap_core/data/message/message_rules.toml"):
        assert required in names
    # No caches, simulated tenant or tests.
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.split("/")[0] in ("m365sim", "tests", "bench", "infra")]

    # Unpacked on its own, the app imports, and from the package.
    app = tmp_path / "app"
    zipfile.ZipFile(out).extractall(app)
    probe = "import function_app, tap_core; print(tap_core.__file__)"
    ran = subprocess.run([sys.executable, "-c", probe], cwd=app, capture_output=True, text=True,
                         timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    assert Path(ran.stdout.strip()).is_relative_to(app)
