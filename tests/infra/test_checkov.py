"""checkov over infra/ (Bicep and Terraform) passes; every skipped check carries its reason
(``checkov:skip=CKV_...: reason`` next to the resource)."""

from __future__ import annotations

import json

import pytest

from .conftest import run_check

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def report(infra_venvs, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("checkov") / "checkov.json"
    done = run_check("checkov", str(out))
    assert out.is_file(), f"checkov wrote no report:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    data = json.loads(out.read_text(encoding="utf-8"))
    reports = data if isinstance(data, list) else [data]
    by_type = {r["check_type"]: r for r in reports}
    by_type["_run"] = {"returncode": done.returncode, "stdout": done.stdout}
    return by_type


@pytest.mark.parametrize("framework", ["bicep", "terraform"])
def test_checkov_passes(report, framework):
    assert framework in report, f"checkov scanned no {framework} file: {sorted(report)}"
    result = report[framework]
    summary = result["summary"]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in result["results"]["failed_checks"]]
    assert not failed, f"checkov {framework} failures:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0, f"checkov could not parse some {framework} files: {summary}"
    assert summary["passed"] > 10 and summary["resource_count"] > 10, summary


def test_checkov_exit_code(report):
    assert report["_run"]["returncode"] == 0, report["_run"]["stdout"][-3000:]


@pytest.mark.parametrize("framework", ["bicep", "terraform"])
def test_every_skip_has_a_reason(report, framework):
    for check in report[framework]["results"]["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert reason and reason != "No comment provided" and len(reason.strip()) > 20, (
            f"{check['check_id']} on {check['resource']} is skipped without a reason"
        )
