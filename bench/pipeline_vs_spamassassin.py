"""``tap365 scan`` against SpamAssassin on the same real mail, in one run, process start included.

Both read the same N files (default: the first 200 of ``train/phish`` by name) in one process
each: ``python -m connectors.cli scan --json`` over a folder of them, and ``spamassassin -L``
(local rules only: no network, no DNS blocklists) given every file. Each side runs ``--rounds``
times, alternately; the bench prints each side's median wall time and CPU time (of the process
and its children: the fair "per core" figure, as each is one process on one core) and the ratio
SpamAssassin / tap365 for both. Both outputs are checked to cover every message. tap365's
modules are byte-compiled first (``compileall``), as an installed package's are: the bench
measures the scan, not Python compiling our sources anew under ``PYTHONDONTWRITEBYTECODE``.

SpamAssassin is the Debian package ``spamassassin`` (``make system-deps``, which ``make bench``
runs, installs it as root); without it the bench says so and exits 2.

    .venv/bin/python bench/pipeline_vs_spamassassin.py [--corpus ../shared/corpus]
        [--set train/phish] [--limit 200] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The ratio issue 17 asks for (SpamAssassin's time over tap365's, per core).
TARGET_RATIO = 20.0


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, errors="replace")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # spamassassin -e is not used; 1 would be "spam found"
        raise SystemExit(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--set", default="train/phish", help="folder of mail under the corpus")
    parser.add_argument("--limit", type=int, default=200, help="messages (first N by name)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each side, alternately")
    args = parser.parse_args()
    spamassassin = shutil.which("spamassassin")
    if spamassassin is None:
        print("spamassassin is missing: install the Debian package (make system-deps, as root, "
              "or apt-get install spamassassin); nothing was measured", file=sys.stderr)
        return 2
    source = Path(args.corpus) / args.set
    if not source.is_dir():
        print(f"no mail at {source}: pass --corpus / --set", file=sys.stderr)
        return 2
    files = sorted(p for p in source.iterdir() if p.is_file())[: args.limit]
    if not files:
        print(f"no files in {source}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        mail = Path(tmp) / "mail"
        mail.mkdir()
        for f in files:
            (mail / f.name).symlink_to(f.resolve())
        names = [str(mail / f.name) for f in files]
        tap_env = {**os.environ, "TAP365_STATE_DIR": str(Path(tmp) / "state")}
        # Its own home: no user preferences or Bayes database carried over from other runs.
        sa_env = {**os.environ, "HOME": tmp}
        tap_cmd = [sys.executable, "-m", "connectors.cli", "scan", str(mail), "--json", "--no-progress"]
        sa_cmd = [spamassassin, "-L", "-x", *names]
        # The bytecode an installed package carries (pip and the Functions build compile it);
        # without it, under PYTHONDONTWRITEBYTECODE, every run would compile our modules anew.
        subprocess.run([sys.executable, "-m", "compileall", "-q", "tap_core", "connectors"], cwd=ROOT,
                       check=True, capture_output=True)
        tap: list[tuple[float, float]] = []
        sa: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            wall, cpu, out = _timed(tap_cmd, tap_env)
            scanned = sum(1 for line in out.splitlines() if line.startswith("{"))
            if scanned != len(files):
                raise SystemExit(f"tap365 scan gave {scanned} records for {len(files)} messages")
            tap.append((wall, cpu))
            wall, cpu, out = _timed(sa_cmd, sa_env)
            checked = sum(1 for line in out.splitlines() if line.startswith("X-Spam-Status:"))
            if checked != len(files):
                raise SystemExit(f"spamassassin checked {checked} of {len(files)} messages")
            sa.append((wall, cpu))
    print(f"{len(files)} messages of {args.set}, {args.rounds} round(s) alternating, medians, "
          "process start included (tap365's bytecode compiled beforehand, as installed)")
    for what, index in (("wall", 0), ("CPU", 1)):
        t = statistics.median(x[index] for x in tap)
        s = statistics.median(x[index] for x in sa)
        print(f"  {what:4}: tap365 scan {t:6.2f} s   spamassassin -L {s:6.2f} s   "
              f"ratio {s / t:5.1f}x")
    cpu_ratio = statistics.median(x[1] for x in sa) / statistics.median(x[1] for x in tap)
    verdict = "meets" if cpu_ratio >= TARGET_RATIO else "misses"
    print(f"  per core (CPU): {cpu_ratio:.1f}x, {verdict} the {TARGET_RATIO:.0f}x target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
