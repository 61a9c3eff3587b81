"""Domain-age lookups on the demo: RDAP requests per message and the cache hit rate.

    .venv/bin/python bench/rdap_lookups.py [--limit 200] [--corpus ../shared/corpus] [--rate 0]

Runs ``tap365 demo`` (Azurite, m365sim, the simulated RDAP registry and the local host in this
process) on real mail and prints what the demo report's ``totals.rdap`` says: how many lookups
reached the registry, per processed message, how many registered domains the service asked
about, and the share its caches (memory, then the shared table) answered. The simulated registry
answers every domain with a stable old date, so verdicts are those of any run; only the traffic
is measured. Issue 18.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--limit", type=int, default=200, help="messages to deliver (default 200)")
    parser.add_argument("--rate", type=float, default=0.0, help="messages per second (0: all at once)")
    args = parser.parse_args(argv)
    from connectors.devstack.demo import run_demo

    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "demo.json"
        code = run_demo(corpus=Path(args.corpus), report_path=report, limit=args.limit, clicks=0,
                        rate=args.rate)
        totals = json.loads(report.read_text())["totals"]
    rdap = totals.get("rdap") or {}
    print()
    print(f"messages processed      {totals['processed']}/{totals['messages']}")
    print(f"RDAP lookups            {rdap.get('lookups')}")
    print(f"lookups per message     {rdap.get('lookups_per_message')}")
    print(f"domains asked           {rdap.get('domains_asked')}")
    print(f"cache hits              {rdap.get('memory_hits')} memory, {rdap.get('table_hits')} table")
    rate = rdap.get("cache_hit_rate")
    print(f"cache hit rate          {rate:.1%}" if rate is not None else "cache hit rate          n/a")
    print(f"failures                {rdap.get('failures')}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
