"""A host of its own: queue batches run concurrently, and stopping lets running functions finish."""

from __future__ import annotations

import base64
import json
import textwrap
import time
from pathlib import Path

from azure.storage.queue import QueueClient

from tests.localhost.conftest import read_records, wait_for
from tests.localhost.running import running_host
from tests.storage.azurite import Azurite

APP = """
    import json, os, time
    from pathlib import Path
    import azure.functions as func

    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="lifecycle", connection="LifecycleStorage")
    def slow(msg: func.QueueMessage) -> None:
        out = Path(os.environ["LIFECYCLE_OUT"])
        body = msg.get_body().decode()
        with (out / "slow.jsonl").open("a") as fh:
            fh.write(json.dumps({"event": "start", "body": body, "at": time.monotonic()}) + "\\n")
        time.sleep(0.8)
        with (out / "slow.jsonl").open("a") as fh:
            fh.write(json.dumps({"event": "end", "body": body, "at": time.monotonic()}) + "\\n")
"""


def test_batch_runs_concurrently_and_stop_waits_for_running_functions(
    azurite_instance: Azurite, tmp_path: Path
) -> None:
    app_root = tmp_path / "app"
    out = tmp_path / "out"
    app_root.mkdir()
    out.mkdir()
    (app_root / "function_app.py").write_text(textwrap.dedent(APP))
    (app_root / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"queues": {
        "batchSize": 4, "newBatchThreshold": 0, "maxPollingInterval": "00:00:00.2"}}}))
    queue = QueueClient.from_connection_string(azurite_instance.connection_string, "lifecycle")
    env = {"LifecycleStorage": azurite_instance.connection_string, "LIFECYCLE_OUT": str(out)}
    queue.create_queue()
    for i in range(4):  # queued before the host starts, so its first poll takes all four
        queue.send_message(base64.b64encode(f"m{i}".encode()).decode())
    with running_host(app_root, env) as host:
        assert [f.name for f in host.functions] == ["slow"]
        wait_for(lambda: len([r for r in read_records(out, "slow") if r["event"] == "start"]) == 4, timeout=20)
        stop_started = time.monotonic()
    records = read_records(out, "slow")
    starts = sorted(r["at"] for r in records if r["event"] == "start")
    ends = sorted(r["at"] for r in records if r["event"] == "end")
    assert len(ends) == 4  # stop waited for all four
    assert starts[-1] < ends[0]  # all four ran at the same time
    assert time.monotonic() - stop_started < 10
    assert queue.get_queue_properties().approximate_message_count == 0  # and each was deleted
