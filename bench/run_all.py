"""Run every benchmark and evaluation in ``bench/`` one after the other (what ``make bench`` does).

Each script runs in its own process, on the same corpus, with its normal report printed as it
goes; a table at the end gives each one's exit status and wall time. Speed figures are only
comparable within one script's run (each measures itself against its named peer in the same
run), so run this on an otherwise idle machine.

    .venv/bin/python bench/run_all.py [--corpus ../shared/corpus] [--only NAME ...] [--list]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

#: Script -> whether it takes ``--corpus``. The order puts quick evaluations first.
SCRIPTS: dict[str, bool] = {
    "url_extraction.py": True,
    "url_heuristics_eval.py": True,
    "url_protect_eval.py": True,
    "detection_eval.py": True,
    "scan_speed.py": True,
    "pipeline_vs_spamassassin.py": True,
    "intel_scale.py": False,
    "impersonation_eval.py": True,
    "attachments_eval.py": True,
    "page_analysis_eval.py": True,
    "render_cost.py": False,
    "redirector_bench.py": False,
    "cold_start.py": False,
    "service_round_trips.py": True,
    "rdap_lookups.py": True,
    "sandbox_eval.py": True,
    "pattern_sweep.py": False,
}
#: (make_*.py are generators of tap_core data, not measurements.)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(BENCH.parent.parent / "shared" / "corpus"),
                        help="corpus root (default: ../shared/corpus from the project root)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts")
    parser.add_argument("--list", action="store_true", help="list the scripts and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(SCRIPTS))
        return 0
    chosen = list(SCRIPTS)
    if args.only:
        wanted = {n if n.endswith(".py") else f"{n}.py" for n in args.only}
        unknown = wanted - set(SCRIPTS)
        if unknown:
            parser.error(f"unknown script(s): {', '.join(sorted(unknown))}; see --list")
        chosen = [n for n in chosen if n in wanted]
    if not Path(args.corpus).is_dir():
        parser.error(f"no corpus at {args.corpus}: pass --corpus (make bench CORPUS=...)")
    results: list[tuple[str, int, float]] = []
    for name in chosen:
        command = [sys.executable, str(BENCH / name)]
        if SCRIPTS[name]:
            command += ["--corpus", args.corpus]
        print(f"\n===== {name} =====", flush=True)
        started = time.perf_counter()
        status = subprocess.run(command, check=False).returncode
        results.append((name, status, time.perf_counter() - started))
    print("\n===== summary =====")
    for name, status, seconds in results:
        print(f"{name:<26} {'ok' if status == 0 else f'exit {status}':<8} {seconds:7.1f} s")
    return 0 if all(status == 0 for _, status, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
