"""The Sentinel table and the data collection rule in both templates declare exactly the event's
columns (connectors/siem/events.py COLUMNS) and the stream the code sends to by default, and the
app's identity may publish to the rule."""

from __future__ import annotations

import re
from pathlib import Path

from connectors.settings import Settings
from connectors.siem.events import COLUMNS

INFRA = Path(__file__).resolve().parents[2] / "infra"
EXPECTED = list(COLUMNS.values())


def test_bicep_declares_the_events_columns_in_the_table_and_the_stream() -> None:
    text = (INFRA / "bicep" / "main.bicep").read_text()
    block = text.split("var sentinelColumns = [", 1)[1].split("\n]\n", 1)[0]
    assert re.findall(r"name: '(\w+)'\s+type: '(\w+)'", block) == EXPECTED
    assert "var sentinelStream = 'Custom-${sentinelTable}'" in text
    assert f"var sentinelTable = '{Settings().sentinel_stream.removeprefix('Custom-')}'" in text
    assert text.count("columns: sentinelColumns") == 2  # the table's schema and the rule's stream
    role = text.split("resource siemDcrRole", 1)[1].split("\n}\n", 1)[0]
    assert "scope: siemDcr" in role and "roles.monitoringMetricsPublisher" in role
    assert "TAP365_SENTINEL_DCE: siemDce.properties.logsIngestion.endpoint" in text
    assert "TAP365_SENTINEL_DCR_ID: siemDcr.properties.immutableId" in text


def test_terraform_declares_the_events_columns_in_the_table_and_the_stream() -> None:
    text = (INFRA / "terraform" / "main.tf").read_text()
    table = text.split('resource "azapi_resource" "siem_table"', 1)[1].split("\n}\n", 1)[0]
    assert re.findall(r'\{ name = "(\w+)", type = "(\w+)" \}', table) == EXPECTED
    rule = text.split('resource "azurerm_monitor_data_collection_rule" "siem"', 1)[1].split("\n}\n", 1)[0]
    stream = rule.split("stream_declaration {", 1)[1].split("\n  }\n", 1)[0]
    assert re.findall(r'name = "(\w+)"\s+type = "(\w+)"', stream) == EXPECTED
    assert f'sentinel_stream       = "{Settings().sentinel_stream}"' in text
    role = text.split('resource "azurerm_role_assignment" "siem_publisher"', 1)[1].split("\n}\n", 1)[0]
    assert "azurerm_monitor_data_collection_rule.siem.id" in role and "Monitoring Metrics Publisher" in role
