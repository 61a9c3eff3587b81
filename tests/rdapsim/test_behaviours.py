"""Each configured behaviour of a domain, as a client meets it over real HTTP."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import pytest
import requests

from connectors.devstack.rdap import RdapSimClient

from .test_answers import RDAP, assert_rfc9083_domain


def _error(response: requests.Response, code: int) -> dict[str, Any]:
    assert response.status_code == code
    assert response.headers["Content-Type"] == RDAP
    body = response.json()
    assert body["errorCode"] == code and body["title"] and isinstance(body["description"], list)
    return body  # type: ignore[no-any-return]


def test_not_found(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("gone.example", behaviour="not_found")
    _error(rdap_sim.domain("gone.example"), 404)


def test_error_answers_a_plain_body_with_the_status(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("down.example", behaviour="error")
    response = rdap_sim.domain("down.example")
    assert response.status_code == 503 and response.headers["Content-Type"].startswith("text/plain")
    rdap_sim.set_domain("down.example", behaviour="error", status=500)
    assert rdap_sim.domain("down.example").status_code == 500


def test_garbage_is_200_but_not_json(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("junk.example", behaviour="garbage")
    response = rdap_sim.domain("junk.example")
    assert response.status_code == 200 and response.headers["Content-Type"] == RDAP
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_no_events_is_a_valid_domain_without_a_registration_date(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("denic-style.de", behaviour="no_events")
    obj = assert_rfc9083_domain(rdap_sim.domain("denic-style.de"), "denic-style.de")
    assert obj["events"] and not [e for e in obj["events"] if e["eventAction"] == "registration"]


def test_bad_date_is_a_registration_event_that_is_no_date(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("odd-date.example", behaviour="bad_date", registered_days_ago=2)
    obj = rdap_sim.domain("odd-date.example").json()
    assert obj["objectClassName"] == "domain"
    registration = next(e["eventDate"] for e in obj["events"] if e["eventAction"] == "registration")
    with pytest.raises(ValueError):
        datetime.fromisoformat(registration.replace("Z", "+00:00"))


def test_ratelimit_answers_429_with_retry_after(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("busy.example", behaviour="ratelimit")
    response = rdap_sim.domain("busy.example")
    _error(response, 429)
    assert response.headers["Retry-After"] == "30"
    rdap_sim.set_domain("busy.example", behaviour="ratelimit", retry_after=5)
    assert rdap_sim.domain("busy.example").headers["Retry-After"] == "5"
    assert rdap_sim.stats()["rate_limited"] == 0  # the domain's behaviour, not the server's limit


def test_huge_is_valid_json_of_several_megabytes(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("big.example", behaviour="huge", registered_days_ago=3)
    response = rdap_sim.domain("big.example")
    assert len(response.content) >= 5 * 1024 * 1024
    obj = assert_rfc9083_domain(response, "big.example")
    assert any(e["eventAction"] == "registration" for e in obj["events"])
    rdap_sim.set_domain("big.example", behaviour="huge", size_bytes=200_000)
    assert 200_000 <= len(rdap_sim.domain("big.example").content) < 1_000_000


def test_a_slow_answer_does_not_hold_up_other_queries(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("slow.example", behaviour="slow", delay_seconds=3, registered_days_ago=1)
    slow: list[requests.Response] = []
    worker = threading.Thread(target=lambda: slow.append(requests.get(
        f"{rdap_sim.base_url}/domain/slow.example", timeout=30)))
    worker.start()
    try:
        # Wait until the slow query has reached the server, then ask for another domain.
        while worker.is_alive() and not rdap_sim.stats()["by_domain"].get("slow.example"):
            worker.join(0.01)
        assert_rfc9083_domain(rdap_sim.domain("quick.example"), "quick.example")
        assert worker.is_alive() and not slow  # answered while the slow one still sleeps
    finally:
        worker.join(30)
    assert_rfc9083_domain(slow[0], "slow.example")


def test_a_slow_answer_can_be_cut_short_by_the_client(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("slow.example", behaviour="slow")  # 10 s by default
    with pytest.raises(requests.Timeout):
        rdap_sim.domain("slow.example", timeout=0.5)
    assert_rfc9083_domain(rdap_sim.domain("other.example"), "other.example")


def test_redirect_points_elsewhere_and_the_registrar_path_answers(rdap_sim: RdapSimClient) -> None:
    target = f"{rdap_sim.base_url}/registrar/domain/moved.example"
    rdap_sim.set_domain("moved.example", behaviour="redirect", location=target, registered_days_ago=4)
    response = requests.get(f"{rdap_sim.base_url}/domain/moved.example", allow_redirects=False, timeout=30)
    assert (response.status_code, response.headers["Location"]) == (302, target)
    assert_rfc9083_domain(requests.get(target, timeout=30), "moved.example")
    rdap_sim.set_domain("moved.example", behaviour="redirect", location=target, status=307)
    assert requests.get(f"{rdap_sim.base_url}/domain/moved.example", allow_redirects=False, timeout=30).status_code == 307
    with pytest.raises(requests.HTTPError):
        rdap_sim.set_domain("moved.example", behaviour="redirect")  # where to?


def test_huge_chunked_has_no_length(rdap_sim: RdapSimClient) -> None:
    rdap_sim.set_domain("stream.example", behaviour="huge_chunked", size_bytes=300_000)
    response = rdap_sim.domain("stream.example")
    assert "content-length" not in response.headers
    assert len(response.content) >= 300_000
    assert_rfc9083_domain(response, "stream.example")
