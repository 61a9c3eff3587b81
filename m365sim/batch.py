"""JSON batching: ``POST /v1.0/$batch`` runs each sub-request through the normal pipeline."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import ids, odata
from .errors import GraphError, bad_request
from .router import GraphRequest, GraphResponse
from .tokens import TokenClaims

Execute = Callable[[GraphRequest, TokenClaims | None], Awaitable[GraphResponse]]


def _sub_request(outer: GraphRequest, item: dict[str, Any]) -> GraphRequest:
    url = item["url"]
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.scheme:  # absolute URLs are accepted when they point at this service
        path = path.split("/v1.0", 1)[-1]
    if not path.startswith("/"):
        path = "/" + path
    if path.lower().startswith("/v1.0/"):
        path = path[5:]
    headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    body = item.get("body")
    raw: bytes = b""
    if body is not None:
        if "content-type" not in headers:
            raise bad_request(
                f"Request {item['id']}: a Content-Type header is required when a body is provided.",
                "BadRequest",
            )
        if isinstance(body, dict | list):
            raw = json.dumps(body).encode("utf-8")
        elif isinstance(body, str) and "json" not in headers["content-type"]:
            raw = base64.b64decode(body)
        else:
            raw = str(body).encode("utf-8")
    sub_id = ids.guid()
    return GraphRequest(
        method=str(item["method"]).upper(),
        path=path,
        query=odata.normalize_query(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=raw,
        base_url=outer.base_url,
        request_id=sub_id,
        client_request_id=headers.get("client-request-id", sub_id),
        in_batch=True,
    )


def _render(item_id: str, response: GraphResponse) -> dict[str, Any]:
    headers = dict(response.headers)
    result: dict[str, Any] = {"id": item_id, "status": response.status, "headers": headers}
    if response.body is None:
        return result
    if isinstance(response.body, dict | list):
        headers.setdefault("Content-Type", "application/json; odata.metadata=minimal; charset=utf-8")
        result["body"] = response.body
    else:
        data = response.body if isinstance(response.body, bytes) else str(response.body).encode()
        headers.setdefault("Content-Type", response.content_type or "application/octet-stream")
        # Non-JSON bodies travel base64-encoded inside the JSON batch response.
        result["body"] = base64.b64encode(data).decode("ascii")
    return result


async def run_batch(
    outer: GraphRequest, claims: TokenClaims, max_requests: int, execute: Execute
) -> GraphResponse:
    data = outer.json_object()
    items = data.get("requests")
    if not isinstance(items, list) or not items:
        raise bad_request("Invalid batch payload format.")
    if len(items) > max_requests:
        raise bad_request(f"The batch request contains {len(items)} requests; the limit is {max_requests}.")
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            raise bad_request("Invalid batch payload format.")
        for field in ("id", "method", "url"):
            if not item.get(field):
                raise bad_request(f"Invalid batch payload format: '{field}' is required.")
        item_id = str(item["id"])
        if item_id.lower() in seen:
            raise bad_request(f"Batch request contains duplicate request id '{item_id}'.")
        seen.add(item_id.lower())
    for item in items:
        depends = item.get("dependsOn") or []
        if not isinstance(depends, list) or any(str(d).lower() not in seen for d in depends):
            raise bad_request(f"Request {item['id']}: dependsOn refers to an unknown request id.")
    results: dict[str, GraphResponse] = {}
    remaining = list(items)
    while remaining:
        progressed = False
        for item in list(remaining):
            depends = [str(d) for d in item.get("dependsOn") or []]
            if any(d not in results for d in depends):
                continue
            remaining.remove(item)
            progressed = True
            item_id = str(item["id"])
            if any(results[d].status >= 400 for d in depends):
                results[item_id] = GraphResponse(
                    424,
                    {"error": {"code": "FailedDependency", "message": "A dependent request failed."}},
                )
                continue
            try:
                sub = _sub_request(outer, item)
            except GraphError as exc:
                results[item_id] = GraphResponse(
                    exc.status, exc.body(outer.request_id, outer.client_request_id), headers=exc.headers
                )
                continue
            results[item_id] = await execute(sub, claims)
        if not progressed:
            raise bad_request("Batch request has circular dependsOn references.")
    body = {"responses": [_render(str(item["id"]), results[str(item["id"])]) for item in items]}
    return GraphResponse(200, body)
