"""$batch, throttling (budget and concurrency), fault injection, request statistics."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

from m365sim.testing import SimHandle

from .conftest import ADELE, ALEX, sample_mail


def _batch(sim: SimHandle, token: str, requests: list[dict]) -> object:
    return sim.graph("POST", "/$batch", token, json={"requests": requests})


def test_batch_of_twenty_and_twenty_one(sim: SimHandle, token: str) -> None:
    delivered = sim.deliver(ADELE, sample_mail())
    requests = [
        {"id": str(i), "method": "GET", "url": f"/users/{ADELE}/messages/{delivered['id']}?$select=subject"}
        for i in range(20)
    ]
    response = _batch(sim, token, requests)
    assert response.status_code == 200
    responses = response.json()["responses"]
    assert len(responses) == 20
    assert all(r["status"] == 200 and r["body"]["subject"] == "Quarterly invoice" for r in responses)
    assert responses[0]["headers"]["Content-Type"].startswith("application/json")
    too_many = _batch(sim, token, [*requests, {"id": "20", "method": "GET", "url": "/users"}])
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "BadRequest"
    duplicate = _batch(sim, token, [requests[0], requests[0]])
    assert duplicate.status_code == 400


def test_batch_sub_requests_use_normal_routing(sim: SimHandle, token: str) -> None:
    delivered = sim.deliver(ADELE, sample_mail(attach_pdf=False))
    message = f"/users/{ADELE}/messages/{delivered['id']}"
    response = _batch(
        sim,
        token,
        [
            {"id": "missing", "method": "GET", "url": f"/users/{ADELE}/messages/AAMkAnope"},
            {
                "id": "patch",
                "method": "PATCH",
                "url": message,
                "dependsOn": ["missing"],
                "headers": {"Content-Type": "application/json"},
                "body": {"categories": ["x"]},
            },
            {
                "id": "categorise",
                "method": "PATCH",
                "url": message,
                "headers": {"Content-Type": "application/json"},
                "body": {"categories": ["TAP: Clean"]},
            },
            {"id": "mime", "method": "GET", "url": f"{message}/$value", "dependsOn": ["categorise"]},
            {"id": "users", "method": "GET", "url": "users?$top=2"},
        ],
    ).json()["responses"]
    by_id = {r["id"]: r for r in response}
    assert by_id["missing"]["status"] == 404
    assert by_id["missing"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert by_id["patch"]["status"] == 424
    assert by_id["categorise"]["status"] == 200 and by_id["categorise"]["body"]["categories"] == [
        "TAP: Clean"
    ]
    assert b"Subject: Quarterly invoice" in base64.b64decode(by_id["mime"]["body"])  # non-JSON: base64
    assert len(by_id["users"]["body"]["value"]) == 2
    stats = sim.stats()["requests"]
    assert stats["batch_subrequests"] == 4  # the 424 one never ran
    assert stats["by_route"]["POST /v1.0/$batch"] == 1


def test_mailbox_budget_429_with_retry_after(sim: SimHandle, token: str) -> None:
    sim.configure(throttle_budget=3, throttle_window_seconds=60)
    statuses = [sim.graph("GET", f"/users/{ADELE}/messages", token).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    throttled = sim.graph("GET", f"/users/{ADELE}/messages", token)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert sim.graph("GET", f"/users/{ALEX}/messages", token).status_code == 200  # per mailbox
    sim.advance_clock(61)
    assert sim.graph("GET", f"/users/{ADELE}/messages", sim.token()).status_code == 200
    assert sim.stats()["requests"]["throttled"]["GET /v1.0/users/{id}/messages"] == 1


def test_concurrency_limit(sim: SimHandle, token: str) -> None:
    sim.configure(max_concurrent_requests=2)
    sim.faults(latency_ms=600)

    def call(_: int) -> object:
        return sim.graph("GET", f"/users/{ADELE}/messages", token)

    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(call, range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 2 and statuses.count(429) == 3
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["error"]["code"] == "ApplicationThrottled"


def test_batch_sub_requests_are_throttled_individually(sim: SimHandle, token: str) -> None:
    sim.configure(throttle_budget=2)
    requests = [{"id": str(i), "method": "GET", "url": f"/users/{ADELE}/messages"} for i in range(3)]
    statuses = [r["status"] for r in _batch(sim, token, requests).json()["responses"]]
    assert statuses == [200, 200, 429]


def test_fault_injection_is_deterministic_and_filtered(sim: SimHandle, token: str) -> None:
    sim.faults(error_rate=1.0, error_status=503, routes=["GET /v1.0/users/{id}/messages"])
    failed = sim.graph("GET", f"/users/{ADELE}/messages", token)
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "1"
    assert sim.graph("GET", "/users", token).status_code == 200
    sim.faults(error_rate=0.5, error_status=500, seed=7)
    first = [sim.graph("GET", "/users", token).status_code for _ in range(12)]
    sim.faults(error_rate=0.5, error_status=500, seed=7)
    second = [sim.graph("GET", "/users", token).status_code for _ in range(12)]
    assert first == second and 500 in first and 200 in first


def test_request_stats(sim: SimHandle, token: str) -> None:
    delivered = sim.deliver(ADELE, sample_mail())
    sim.reset_stats()
    sim.graph("GET", f"/users/{ADELE}/messages/{delivered['id']}", token)
    sim.graph("GET", f"/users/{ADELE}/messages/{delivered['id']}", token)
    sim.graph("GET", f"/users/{ALEX}/mailFolders/inbox/messages", token)
    sim.graph("GET", "/users", token)
    requests = sim.stats()["requests"]
    assert requests["by_route"]["GET /v1.0/users/{id}/messages/{id}"] == 2
    assert requests["by_route"]["GET /v1.0/users/{id}/mailFolders/{id}/messages"] == 1
    assert requests["by_mailbox"] == {ADELE: 2, ALEX: 1}
    assert requests["total"] == 4 and requests["by_status"] == {"200": 4}
