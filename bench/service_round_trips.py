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
import os
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


class _ChildCpu(threading.Thread):
    """CPU seconds of this process's direct children (Azurite's node, m365sim), read from /proc
    every half second while they run (they are gone when the demo returns)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: dict[tuple[int, str], float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        me, tick = os.getpid(), os.sysconf("SC_CLK_TCK")
        while not self.stop.wait(0.5):
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    pid, rest = stat.read_text().split(" (", 1)
                    _comm, fields = rest.rsplit(") ", 1)
                except (OSError, ValueError):
                    continue
                values = fields.split()
                if int(values[1]) != me:  # ppid; utime and stime are the 14th and 15th fields
                    continue
                try:
                    cmdline = (Path("/proc") / pid / "cmdline").read_bytes()
                except OSError:
                    continue
                name = "m365sim" if b"m365sim" in cmdline else "azurite" if b"azurite" in cmdline else ""
                if name:  # the forked analyses are counted when reaped (os.times)
                    self.seen[(int(pid), name)] = (int(values[11]) + int(values[12])) / tick

    def by_name(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, name), seconds in self.seen.items():
            out[name] += seconds
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--rate", type=float, default=0.0, help="messages per second (0: all at once)")
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    args = ap.parse_args(argv)
    _count()
    from connectors.devstack.demo import run_demo

    children = _ChildCpu()
    children.start()
    own = os.times()
    code = run_demo(corpus=Path(args.corpus), limit=args.limit, rate=args.rate, clicks=0)
    children.stop.set()
    done = os.times()
    n = max(1, args.limit)
    print(f"\nstorage requests by the service: {sum(_COUNTS.values())} for {args.limit} messages "
          f"({sum(_COUNTS.values()) / n:.1f} per message, onboarding included)")
    for kind, count in _COUNTS.most_common():
        print(f"  {count / n:6.2f}  {kind}")
    print(f"by the demo's own polling (not the service): {sum(_HARNESS.values()) / n:.1f} per message")
    # CPU of the whole run (start-up and onboarding included): where a message's cost lies.
    services = children.by_name()
    reaped = done.children_user + done.children_system - own.children_user - own.children_system
    cpu = {"this process (demo, host, intake, workers)": done.user + done.system - own.user - own.system,
           # Azurite and m365sim are reaped too when the demo stops them: what remains is the forks'.
           "forked analyses": max(0.0, reaped - sum(services.values())), **services}
    print("CPU seconds (whole run, start-up included): " + ", ".join(
        f"{name} {seconds:.1f} ({1000 * seconds / n:.0f} ms per message)" for name, seconds in cpu.items()))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
