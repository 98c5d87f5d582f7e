"""A sample v2-model Durable Functions app with one function per pattern, used to drive devhost end to end.

It is written as a user would write it for Azure, unchanged: devhost must host it as is. Activities record
each execution in files under PATTERNS_DATA_DIR so tests can count how often each one really ran."""

import asyncio
import json
import logging
import os
import time
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


def _data_dir() -> Path:
    path = Path(os.environ.get("PATTERNS_DATA_DIR") or Path(__file__).parent / ".devhost" / "patterns-data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _append(file_name: str, line: str) -> None:
    with open(_data_dir() / file_name, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _lines(file_name: str) -> list[str]:
    path = _data_dir() / file_name
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


# ---- HTTP: starter, plain functions ---------------------------------------------------------------------


@app.route(route="orchestrators/{functionName}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = req.route_params.get("instanceId")
    try:
        instance_id = await client.start_new(req.route_params["functionName"], instance_id, payload)
    except Exception as exc:  # the durable extension refused (e.g. that instance id is already running)
        return func.HttpResponse(str(exc), status_code=409)
    logging.info("Started orchestration with ID = '%s'.", instance_id)
    return client.create_check_status_response(req, instance_id)


@app.route(route="hello/{name:alpha}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"Hello, {req.route_params['name']}!")


@app.route(route="items/{id:int}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"id": int(req.route_params["id"]), "q": req.params.get("q")}), mimetype="application/json"
    )


@app.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> str:
    return "admin ok"


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("this function always fails")


@app.route(route="ticks", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def ticks(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps([json.loads(line) for line in _lines("ticks.jsonl")]), mimetype="application/json"
    )


@app.route(route="events-seen", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def events_seen(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps([json.loads(line) for line in _lines("events.jsonl")]), mimetype="application/json"
    )


# ---- Event Grid and timer triggers ----------------------------------------------------------------------


@app.event_grid_trigger(arg_name="event")
@app.durable_client_input(client_name="client")
async def on_event(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    """Records every event and, for 'Patterns.Chain' events, starts a chaining orchestration."""
    data = event.get_json()
    kind = type(event).__name__
    event_type = event.event_type if kind == "EventGridEvent" else event.type
    _append("events.jsonl", json.dumps({"id": event.id, "kind": kind, "type": event_type, "data": data}))
    if event_type == "Patterns.Chain":
        await client.start_new("chaining", data["instance_id"], data["cities"])
    if event_type == "Patterns.Fail":
        raise ValueError("this event always fails")
    if event_type == "Patterns.Slow":  # a handler still running when the host is killed
        await asyncio.sleep(float(data.get("seconds", 5)))
        _append("slow-done.jsonl", json.dumps({"id": event.id}))


@app.timer_trigger(schedule="*/2 * * * * *", arg_name="timer", run_on_startup=True)
def tick(timer: func.TimerRequest) -> None:
    _append("ticks.jsonl", json.dumps({"past_due": timer.past_due, "at": time.time()}))


# ---- Orchestrators --------------------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def chaining(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for city in cities:
        results.append((yield context.call_activity("say_hello", city)))
    return results


@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    spec = context.get_input() or {}
    count, delay = int(spec.get("count", 5)), float(spec.get("delay", 0))
    tasks = [context.call_activity("work", {"index": i, "delay": delay}) for i in range(count)]
    results = yield context.task_all(tasks)
    return {"count": len(results), "sum": sum(results)}


@app.orchestration_trigger(context_name="context")
def retries(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=100, max_number_of_attempts=spec["max_attempts"]
    )
    attempts = yield context.call_activity_with_retry("flaky", options, spec)
    return {"succeeded_on_attempt": attempts}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    spec = context.get_input() or {}
    deadline = context.current_utc_datetime + timedelta(seconds=float(spec.get("timeout_s", 2)))
    timeout = context.create_timer(deadline)
    approved = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approved, timeout])
    if winner == approved:
        timeout.cancel()
        return {"outcome": "approved", "by": approved.result}
    return {"outcome": "timed out"}


@app.orchestration_trigger(context_name="context")
def monitor(context: df.DurableOrchestrationContext):
    spec = context.get_input() or {}
    ready_after = int(spec.get("ready_after", 3))
    for attempt in range(1, int(spec.get("max_checks", 10)) + 1):
        state = yield context.call_activity("check_job", {"attempt": attempt, "ready_after": ready_after})
        context.set_custom_status({"checks": attempt, "state": state})
        if state == "ready":
            return {"ready": True, "checks": attempt}
        yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=300))
    return {"ready": False}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    groups = context.get_input() or [["A", "B"], ["C"]]
    calls = [context.call_sub_orchestrator("chaining", group) for group in groups]
    return (yield context.task_all(calls))


@app.orchestration_trigger(context_name="context")
def eternal(context: df.DurableOrchestrationContext):
    state = context.get_input() or {"n": 0, "limit": 3}
    state = {"n": state["n"] + 1, "limit": state["limit"]}
    yield context.call_activity("record_generation", state["n"])
    if state["n"] >= state["limit"]:
        return state
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=100))
    context.continue_as_new(state)
    return None


# ---- Activities -----------------------------------------------------------------------------------------


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.activity_trigger(input_name="spec")
def work(spec: dict) -> int:
    time.sleep(float(spec["delay"]))
    _append("work.log", str(spec["index"]))  # one line per completed execution
    return int(spec["index"])


@app.activity_trigger(input_name="spec")
def flaky(spec: dict) -> int:
    _append(f"flaky-{spec['key']}.log", "attempt")
    attempts = len(_lines(f"flaky-{spec['key']}.log"))
    if attempts <= int(spec["fail_times"]):
        raise RuntimeError(f"flaky failure {attempts} of {spec['fail_times']}")
    return attempts


@app.activity_trigger(input_name="spec")
def check_job(spec: dict) -> str:
    return "ready" if spec["attempt"] >= spec["ready_after"] else "running"


@app.activity_trigger(input_name="generation")
def record_generation(generation: int) -> int:
    _append("generations.log", str(generation))
    return generation
