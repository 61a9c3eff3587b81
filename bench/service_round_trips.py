"""Storage round trips per message on the service's path, and the demo's figures, in one run.

    .venv/bin/python bench/service_round_trips.py [--limit 50] [--rate 0] [--corpus ../shared/corpus]

Runs ``tap365 demo`` (Azurite, m365sim, the local host in this process) on real mail and counts
every request the storage SDKs send, by operation and table/queue/container, through a wrapper
around azure-core's requests transport (what every storage client here uses). The demo's own
polling of the journal (this process's main thread) is counted apart: it is the harness, not the
service. Prints requests per message, then the demo's latency and throughput. Issue 17: cut what
an exactly-once design does not need. The figures depend on the machine's load: compare runs
made in the same sitting.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_COUNTS: Counter[str] = Counter()
_HARNESS: Counter[str] = Counter()
_LOCK = threading.Lock()
_TABLES = r"(journal|verdicts|audit|tenants|subscriptions|senders|clicks|ratelimit|quarantine|urls)"


def _kind(method: str, url: str) -> str:
    """``PATCH journal``, ``POST notifications/messages``: the operation, without keys or prefix."""
    path = re.sub(r"^https?://[^/]+/(devstoreaccount1/)?", "", url.split("?")[0])
    head, _, rest = path.partition("/")
    head = re.sub(r"\(.*\)$", "", head)
    head = re.sub(rf"^[a-z0-9]*?{_TABLES}(\d{{8}})?$", r"\1", head)  # tables: <prefix><name>[<date>]
    head = re.sub(r"^[a-z0-9]+-", "", head)  # queues and containers: <prefix>-<name>
    sub = rest.split("/")[0] if rest else ""
    return f"{method} {head}{'/' + sub if sub == 'messages' else ''}"


def _count() -> None:
    from azure.core.pipeline.transport import RequestsTransport

    send = RequestsTransport.send

    def counted(self: RequestsTransport, request: Any, **kwargs: Any) -> Any:
        kind = _kind(request.method, request.url)
        with _LOCK:
            (_HARNESS if threading.current_thread() is threading.main_thread() else _COUNTS)[kind] += 1
        return send(self, request, **kwargs)

    RequestsTransport.send = counted  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--rate", type=float, default=0.0, help="messages per second (0: all at once)")
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    args = ap.parse_args(argv)
    _count()
    from connectors.devstack.demo import run_demo

    code = run_demo(corpus=Path(args.corpus), limit=args.limit, rate=args.rate, clicks=0)
    n = max(1, args.limit)
    print(f"\nstorage requests by the service: {sum(_COUNTS.values())} for {args.limit} messages "
          f"({sum(_COUNTS.values()) / n:.1f} per message, onboarding included)")
    for kind, count in _COUNTS.most_common():
        print(f"  {count / n:6.2f}  {kind}")
    print(f"by the demo's own polling (not the service): {sum(_HARNESS.values()) / n:.1f} per message")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
