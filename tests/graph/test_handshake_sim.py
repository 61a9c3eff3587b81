"""Our own notification endpoint (built on connectors.graph.notifications) against m365sim:
the handshake and notification validation go through the helpers the Functions app uses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from connectors.graph import GraphApp, SubscriptionManager
from connectors.graph.config import GraphSettings
from connectors.graph.notifications import (
    ChangeNotification,
    NotificationError,
    SubscriptionRecord,
    parse_notifications,
    validate,
    validation_token,
)
from m365sim.testing import SimHandle

from .conftest import ADELE, mail, run

# msgraph-sdk's generated request builders warn about their own deprecated classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions|msgraph")


class Endpoint:
    def __init__(self) -> None:
        self.records: dict[str, SubscriptionRecord] = {}
        self.accepted: list[ChangeNotification] = []
        self.rejected = 0
        self.handshakes = 0
        self.event = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                query = dict(parse_qsl(urlsplit(self.path).query))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = validation_token(query)
                if token is not None:
                    endpoint.handshakes += 1
                    self._answer(200, token.encode(), "text/plain")
                    return
                try:
                    batch = parse_notifications(body)
                except NotificationError:
                    self._answer(400)
                    return
                accepted, rejected = validate(batch.notifications, endpoint.records.get)
                endpoint.accepted += [n for n in accepted if isinstance(n, ChangeNotification)]
                endpoint.rejected += len(rejected)
                endpoint.event.set()
                self._answer(202)

            def _answer(self, status: int, body: bytes = b"", ctype: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint()
    yield ep
    ep.close()


def test_handshake_and_validation_with_our_helpers(
    sim: SimHandle, settings: GraphSettings, tenant_id: str, endpoint: Endpoint
) -> None:
    async def go() -> None:
        async with GraphApp(settings) as app:
            manager = SubscriptionManager(
                app.tenant(tenant_id), f"{endpoint.url}/notify", f"{endpoint.url}/lifecycle"
            )
            sub = await manager.create(ADELE)
            endpoint.records[sub.id] = SubscriptionRecord(tenant_id, sub.client_state)

    run(go())
    assert endpoint.handshakes >= 1
    delivered = sim.deliver(ADELE, mail("Through our endpoint"))
    assert endpoint.event.wait(10)
    sim.drain()
    assert endpoint.rejected == 0
    assert [n.message_id for n in endpoint.accepted] == [delivered["immutableId"]]
    assert json.dumps(endpoint.accepted[0].resource_data)
