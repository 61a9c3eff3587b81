"""A file downloaded at click time weighs as the same file attached to a mail: a scan limit
reached (nesting depth, file count) is not clean at click when the mail pipeline holds it."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tap_core.attachments import AttachmentEngine
from tap_core.model.decision import Action
from tap_core.model.message import Attachment, Message
from tap_core.pipeline import Pipeline
from tests.click.conftest import BROWSER, Redirector
from tests.click.servers import serve

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


def _seven_deep() -> bytes:
    data = _zip([("eicar.com", EICAR)])
    for level in range(6):
        data = _zip([(f"level{level}.zip", data)])
    return data


def _eicar_301st() -> bytes:
    return _zip([*((f"note{i}.txt", f"note {i}\n".encode()) for i in range(300)), ("eicar.com", EICAR)])


FILES = {"/deep.zip": _seven_deep(), "/many.zip": _eicar_301st()}


@pytest.fixture(scope="module")
def files_site() -> Iterator[str]:
    async def serve_file(request: Request) -> Response:
        return Response(FILES[request.url.path], media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{request.url.path[1:]}"'})

    with serve(Starlette(routes=[Route("/{p:path}", serve_file)])) as port:
        yield f"http://localhost:{port}"


@pytest.mark.parametrize("path", ["/deep.zip", "/many.zip"])
def test_a_scan_limit_reached_at_click_is_not_clean(redirector: Redirector, files_site: str, path: str) -> None:
    # The mail pipeline holds the same file for the limit it reaches.
    mail = Pipeline(attachment_engine=AttachmentEngine()).run(
        Message(source="m", attachments=[Attachment(path[1:], "application/zip", FILES[path])]))
    assert mail.action is Action.HOLD and any("scan limit reached" in r for r in mail.reasons)

    resp = redirector.get(redirector.link(files_site + path), headers=BROWSER)
    assert resp.status_code in (200, 403) and "location" not in resp.headers
    clicks = redirector.stores.clicks.list_clicks("contoso", datetime.now(UTC) - timedelta(hours=1), 100)
    record = next(c for c in clicks if c.url.endswith(path))
    assert record.verdict in ("suspicious", "malicious") and record.decision in ("warn", "block")
    assert "download_analysis" in record.reasons
