"""Cold start: ``python -c "import function_app"`` and a fresh interpreter's first notification.

    .venv/bin/python bench/cold_start.py [--runs 5]

Each run is a new interpreter (what a cold Functions instance is). Prints the median wall time
of the import, and of process start to Graph's notification answered (202): the import, the
handshake-free POST, the runtime built from the environment against a real Azurite (the project's
own npm dependency), the clientState check and the queue write; once with every store already
made, once on a fresh deployment (the notification path creates only the queue it writes to).
Aims (issue 17): 0.5 s and 1 s. The import's test (tests/test_cold_start.py) checks which modules
load, never the time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_NOTIFICATION = """
import azure.functions as func
import function_app
answer = function_app.graph_notifications._function.get_user_function()(
    func.HttpRequest("POST", "/api/graph/notifications", body=BODY))
assert answer.status_code == 202, (answer.status_code, answer.get_body())
"""


def _wall(code: str, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    baseline = statistics.median(_wall("pass") for _ in range(args.runs))
    imports = statistics.median(_wall("import function_app") for _ in range(args.runs))
    print(f"python -c pass:                 {baseline:.3f} s (interpreter start)")
    print(f"python -c 'import function_app': {imports:.3f} s (aim <= 0.5 s)")

    from pydantic import SecretStr

    from connectors.devstack.azurite import AzuriteUnavailable, azurite
    from connectors.storage.azure import AzureStores
    from connectors.storage.config import StorageConfig
    from connectors.storage.interfaces import Subscription

    try:
        with azurite() as emulator:
            firsts: dict[bool, list[float]] = {True: [], False: []}
            for run in range(2 * args.runs):
                created = run % 2 == 0  # every store made before, or only the subscriptions table
                prefix = f"b{uuid.uuid4().hex[:8]}"
                stores = AzureStores.open(StorageConfig(
                    connection_string=SecretStr(emulator.connection_string), prefix=prefix), create=created)
                stores.subscriptions.ensure()
                sub = Subscription(str(uuid.uuid4()), str(uuid.uuid4()), "u@example.org",
                                   "users/u/messages", datetime.now(UTC) + timedelta(days=1))
                stores.subscriptions.put_subscription(sub, SecretStr("bench-state"))
                body = json.dumps({"value": [{
                    "subscriptionId": sub.subscription_id, "clientState": "bench-state",
                    "tenantId": sub.tenant_id, "changeType": "created",
                    "resource": "users/u/messages/m"}]}).encode()
                env = {**os.environ, "AzureWebJobsStorage": emulator.connection_string,
                       "TAP365_STORAGE_PREFIX": prefix, "TAP365_GRAPH_CLIENT_ID": str(uuid.uuid4()),
                       "TAP365_GRAPH_CLIENT_SECRET": "unused"}
                env.pop("TAP365_STORAGE_CONNECTION_STRING", None)
                firsts[created].append(_wall(f"BODY = {body!r}\n" + FIRST_NOTIFICATION, env))
    except AzuriteUnavailable as exc:
        print(f"first notification: not measured, Azurite unavailable ({exc}); run `make install`")
        return 1
    print(f"first notification answered:     {statistics.median(firsts[True]):.3f} s from process start "
          "(aim <= 1 s; the stores exist)")
    print(f"  on a fresh deployment:         {statistics.median(firsts[False]):.3f} s "
          "(only the subscriptions table exists: the first send creates the queue)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
