"""``tap365 demo``'s report totals, from a real run (Azurite, m365sim and the local host) on the
bundled samples: the throughput figure beside the latency percentiles, for a burst and a rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.devstack.demo import BUNDLED, run_demo

pytestmark = pytest.mark.slow

SAMPLES = len(list(BUNDLED.glob("*.eml")))


def _totals(tmp_path: Path, rate: float) -> tuple[dict[str, object], list[float]]:
    report = tmp_path / f"demo-{rate}.json"
    assert run_demo(mail=BUNDLED, report_path=report, timeout=180, clicks=0, rate=rate) == 0
    document = json.loads(report.read_text())
    assert document["clicks"] == []  # clicks=0 clicks nothing (the run measures the service alone)
    return document["totals"], [m["latency_ms"] for m in document["messages"]]


@pytest.mark.timeout(300)
def test_a_burst_reports_messages_over_first_delivery_to_last_remediation(tmp_path: Path) -> None:
    totals, latencies = _totals(tmp_path, rate=0)
    assert totals["processed"] == SAMPLES
    # Domain ages were asked of the simulated registry; what its caches answered is counted.
    rdap = totals["rdap"]
    assert isinstance(rdap, dict) and rdap["lookups"] > 0
    assert rdap["lookups_per_message"] == round(rdap["lookups"] / SAMPLES, 3)
    assert rdap["domains_asked"] >= rdap["lookups"]
    assert rdap["cache_hit_rate"] == round((rdap["memory_hits"] + rdap["table_hits"]) / rdap["domains_asked"], 4)
    throughput = totals["throughput_msgs_per_s"]
    assert isinstance(throughput, float) and throughput > 0
    # The span covers at least the slowest message's whole latency (it was delivered after the first).
    assert SAMPLES / throughput >= max(latencies) / 1000 - 0.01


@pytest.mark.timeout(300)
def test_at_a_rate_the_span_covers_the_deliveries(tmp_path: Path) -> None:
    rate = 2.0
    totals, latencies = _totals(tmp_path, rate=rate)
    assert totals["processed"] == SAMPLES
    throughput = totals["throughput_msgs_per_s"]
    assert isinstance(throughput, float) and throughput > 0
    # From first delivery to last remediation: (n - 1) / rate of delivering, then the last one's
    # latency. The report rounds the throughput to 0.01 and times deliveries to the millisecond:
    # the span it implies is compared with that much slack, far less than one delivery interval.
    span = SAMPLES / (throughput - 0.005)
    assert span >= (SAMPLES - 1) / rate + latencies[-1] / 1000 - 0.05
