"""A small Functions app for the local host's tests. Each invocation appends one JSON line to
``$SAMPLE_OUT_DIR/<function>.jsonl`` so tests can see what ran, with what."""

import asyncio
import json
import os
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def record(name: str, **data: object) -> None:
    out = Path(os.environ["SAMPLE_OUT_DIR"]) / f"{name}.jsonl"
    with out.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(data) + "\n")


def _describe(req: func.HttpRequest) -> dict[str, object]:
    return {
        "method": req.method, "url": req.url, "params": dict(req.params),
        "route_params": dict(req.route_params), "body": req.get_body().decode("utf-8", "replace"),
        "forwarded_for": req.headers.get("x-forwarded-for"), "custom": req.headers.get("x-custom"),
    }


@app.route(route="echo/{id:int}/{*rest}", methods=["GET"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(_describe(req)), mimetype="application/json")


@app.route(route="items/{name?}", methods=["GET", "POST"])
async def items(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(_describe(req)), mimetype="application/json")


@app.route(route="items/special", methods=["GET"])
def special(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("special")


@app.route(route="secure", auth_level=func.AuthLevel.FUNCTION)
def secure(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("secret ok")


@app.route(route="manage", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin ok")


@app.route(route="cookies")
def cookies(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse("<p>hi</p>", status_code=201, mimetype="text/html", charset="utf-8")
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    return response


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("internal detail that must not leak")


@app.route(route="slow")
async def slow(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(10)  # longer than functionTimeout in host.json
    return func.HttpResponse("too late")


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE_PREFIX%-ok", connection="AzureWebJobsStorage")
def queue_ok(msg: func.QueueMessage) -> None:
    record("queue_ok", id=msg.id, body=msg.get_body().decode("utf-8", "replace"), dequeue_count=msg.dequeue_count,
           has_insertion_time=msg.insertion_time is not None)


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE_PREFIX%-flaky", connection="AzureWebJobsStorage")
async def queue_flaky(msg: func.QueueMessage) -> None:
    record("queue_flaky", body=msg.get_body().decode(), dequeue_count=msg.dequeue_count)
    if (msg.dequeue_count or 0) < 2:
        raise RuntimeError("fails the first time")


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE_PREFIX%-bad", connection="AzureWebJobsStorage")
def queue_bad(msg: func.QueueMessage) -> None:
    record("queue_bad", body=msg.get_body().decode(), dequeue_count=msg.dequeue_count)
    raise ValueError("always fails")


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    record("tick", past_due=timer.past_due)


@app.timer_trigger(schedule="00:00:01", arg_name="timer", run_on_startup=True)
def interval(timer: func.TimerRequest) -> None:
    record("interval", past_due=timer.past_due)


@app.route(route="admin/things")
def reserved(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("never served: Azure Functions refuses routes starting with 'admin'")
