"""``tap365 scan`` now against ``tap365 scan`` at an earlier commit, on the same mail, in one run.

The earlier tree is checked out from this repository's history into a temporary git worktree
(default: the last commit before the detection engine, 3e766e0), without the compiled twins it
then had (they saved nothing on a whole scan and are gone); both run as
``python -m connectors.cli scan --json`` on the same folder, alternately, several times. Prints
each side's median wall and CPU time (the CPU time of the scan process: steadier on a shared
machine) and their ratios.

    .venv/bin/python bench/scan_speed.py [--corpus ../shared/corpus] [--set train/phish]
        [--limit 200] [--rounds 3] [--baseline 3e766e0]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _worktree(revision: str, into: Path) -> Path:
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", "-q", str(into), revision], check=True)
    return into


def _scan(tree: Path, mail: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``tap365 scan --json`` of ``mail`` with ``tree``'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree), "TAP365_STATE_DIR": str(mail.parent / "state")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-m", "connectors.cli", "scan", str(mail), "--json", "--no-progress"]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"scan failed in {tree}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/corpus")
    parser.add_argument("--set", default="train/phish", help="folder of mail under the corpus")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default="3e766e0", help="git revision to compare with")
    args = parser.parse_args()
    source = Path(args.corpus) / args.set
    files = sorted(p for p in source.iterdir() if p.is_file())[: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        mail = Path(tmp) / "mail"
        mail.mkdir()
        for f in files:
            (mail / f.name).symlink_to(f.resolve())
        baseline = _worktree(args.baseline, Path(tmp) / "baseline")
        try:
            now: list[tuple[float, float]] = []
            then: list[tuple[float, float]] = []
            for _ in range(args.rounds):
                then.append(_scan(baseline, mail))
                now.append(_scan(ROOT, mail))
        finally:
            git = ["git", "-C", str(ROOT), "worktree"]
            subprocess.run([*git, "remove", "--force", str(baseline)], check=False)
    print(f"{len(files)} messages of {args.set}, {args.rounds} rounds alternating, medians (import included)")
    for what, index in (("wall", 0), ("CPU", 1)):
        a = statistics.median(x[index] for x in then)
        b = statistics.median(x[index] for x in now)
        print(f"  {what:4}: {args.baseline} {a:.2f} s   now {b:.2f} s   now / {args.baseline} = {b / a:.2f}"
              f" ({'faster' if b < a else 'slower'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
