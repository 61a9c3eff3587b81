"""``python -m m365sim``: the ready line, the state folder, a YAML seed, a clean stop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from m365sim.directory import default_seed
from m365sim.testing import GRAPH_SCOPE, http_session, run_sim


def test_python_m_entry_point(tmp_path: Path) -> None:
    seed = default_seed()
    seed["tenants"][0]["users"] = seed["tenants"][0]["users"][:2]
    seed_file = tmp_path / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed), encoding="utf-8")
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "m365sim", "--port", "0", "--state", str(state), "--seed", str(seed_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("m365sim ready https://127.0.0.1:") and line.endswith("\n")
        base = line.split()[-1]
        ca = state / "ca.pem"
        assert ca.exists() and (state / "server.pem").exists()
        assert json.loads((state / "endpoint.json").read_text())["baseUrl"] == base
        session = http_session(ca)
        app, tenant = seed["apps"][0], seed["tenants"][0]
        token = session.post(
            f"{base}/{tenant['domain']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app["clientId"],
                "client_secret": app["secrets"][0],
                "scope": GRAPH_SCOPE,
            },
        ).json()["access_token"]
        users = session.get(f"{base}/v1.0/users", headers={"Authorization": f"Bearer {token}"}).json()
        assert len(users["value"]) == 2
        assert session.get(f"{base}/_sim/stats").json()["requests"]["by_route"]["GET /v1.0/users"] == 1
        session.close()
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0
        if process.stdout:
            assert process.stdout.read() == ""  # exactly one line on stdout
            process.stdout.close()
        if process.stderr:
            assert "m365sim ca " in process.stderr.read()
            process.stderr.close()


def test_state_folder_is_reused(tmp_path: Path) -> None:
    with run_sim(state_dir=tmp_path) as first:
        ca = Path(first.ca_path).read_bytes()
        token = first.token()
    with run_sim(state_dir=tmp_path, mode="subprocess") as second:
        assert Path(second.ca_path).read_bytes() == ca  # clients keep trusting the same CA
        # Same signing key: a token from the first run still verifies.
        assert second.graph("GET", "/users", token).status_code == 200


def test_persisted_state_survives_a_restart(tmp_path: Path) -> None:
    from m365sim.testing import Receiver

    from .conftest import ADELE, sample_mail

    with Receiver() as receiver:
        with run_sim(state_dir=tmp_path, mode="subprocess", persist=True) as sim:
            token = sim.token()
            delivered = sim.deliver(ADELE, sample_mail())
            sim.graph(
                "PATCH", f"/users/{ADELE}/messages/{delivered['id']}", token, json={"categories": ["kept"]}
            )
            folder = sim.graph(
                "POST", f"/users/{ADELE}/mailFolders", token, json={"displayName": "Hold", "isHidden": True}
            ).json()
            sub = sim.graph(
                "POST",
                "/subscriptions",
                token,
                json={
                    "changeType": "created",
                    "notificationUrl": receiver.url,
                    "resource": f"users/{ADELE}/messages",
                    "expirationDateTime": "2099-01-01T00:00:00Z",
                },
            )
            assert sub.status_code == 400  # beyond 4230 minutes
            sim.grant(["Mail.Read"], app=1)
        assert (tmp_path / "snapshot.json").exists()
        with run_sim(state_dir=tmp_path, mode="subprocess", persist=True) as again:
            token = again.token()
            message = again.graph("GET", f"/users/{ADELE}/messages/{delivered['id']}", token).json()
            assert message["categories"] == ["kept"]
            assert again.graph("GET", f"/users/{ADELE}/mailFolders/{folder['id']}", token).json()["isHidden"]
            assert again.token(app=1)  # the changed grant survived too
