"""Unchanged `DurableOrchestrationClient` code works against the engine's rpc and public HTTP API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import azure.durable_functions as df
import azure.functions as func
import pytest
from aiohttp import web
from azure.durable_functions.models.utils import http_utils

from devhost.durable.api import register_routes
from devhost.durable.engine import DurableEngine
from devhost.procs import free_port
from tests.unit.durable.sample_app import FUNCTIONS, calls, knobs

SYSTEM_KEY = "Sk3y-0f-the-durable-extension=="


async def _serve(tmp_path: Path, scenario: Any, *, keyed: bool = True) -> Any:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    engine = DurableEngine(db_path=tmp_path / "hub.db", functions=FUNCTIONS, system_key=SYSTEM_KEY)
    web_app = web.Application()
    register_routes(engine, web_app)
    runner = web.AppRunner(web_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await engine.start(base)
    try:
        client = df.DurableOrchestrationClient(engine.client_binding())
        headers = {"x-functions-key": SYSTEM_KEY} if keyed else None
        async with aiohttp.ClientSession(headers=headers) as http:
            return await scenario(client, http, base)
    finally:
        # The SDK keeps one session per module: close it with the loop that opened it.
        await http_utils._close_session()
        await engine.stop()
        await runner.cleanup()


async def _until_done(client: df.DurableOrchestrationClient, instance_id: str) -> Any:
    for _ in range(500):
        status = await client.get_status(instance_id)
        if status.runtime_status in (
            df.OrchestrationRuntimeStatus.Completed,
            df.OrchestrationRuntimeStatus.Failed,
            df.OrchestrationRuntimeStatus.Terminated,
        ):
            return status
        await asyncio.sleep(0.02)
    raise TimeoutError(instance_id)


@pytest.fixture(autouse=True)
def _reset() -> None:
    knobs.clear()
    calls.clear()


def test_the_sdk_client_starts_queries_signals_terminates_and_purges(tmp_path: Path) -> None:
    async def scenario(client: df.DurableOrchestrationClient, http: aiohttp.ClientSession, base: str) -> None:
        iid = await client.start_new("fan_out", None, 4)
        done = await _until_done(client, iid)
        assert done.runtime_status == df.OrchestrationRuntimeStatus.Completed
        assert done.output == 12
        assert done.name == "fan_out" and done.created_time is not None

        assert await client.start_new("waits_forever", "single") == "single"
        with pytest.raises(Exception, match="already exists"):
            await client.start_new("waits_forever", "single")

        approval = await client.start_new("approval", None, 30)
        await asyncio.sleep(0.1)
        await client.raise_event(approval, "Approval", {"by": "bob"})
        assert (await _until_done(client, approval)).output == {"approved": {"by": "bob"}}

        await client.terminate("single", "enough")
        terminated = await _until_done(client, "single")
        assert terminated.runtime_status == df.OrchestrationRuntimeStatus.Terminated
        assert terminated.output == "enough"

        with_history = await client.get_status(iid, show_history=True)
        assert any(ev["EventType"] == "TaskCompleted" for ev in with_history.history)

        completed = await client.get_status_by(runtime_status=[df.OrchestrationRuntimeStatus.Completed])
        assert {s.instance_id for s in completed} == {iid, approval}
        assert len(await client.get_status_all()) == 3

        assert (await client.purge_instance_history(iid)).instances_deleted == 1
        assert not await client.get_status(iid)  # a missing instance is falsy, as on Azure

        with pytest.raises(Exception, match="unknown_orch"):
            await client.start_new("unknown_orch")

    asyncio.run(_serve(tmp_path, scenario))


def test_check_status_urls_work_against_the_public_api(tmp_path: Path) -> None:
    async def scenario(client: df.DurableOrchestrationClient, http: aiohttp.ClientSession, base: str) -> None:
        iid = await client.start_new("approval", None, 30)
        request = func.HttpRequest("POST", f"{base}/api/start", body=b"")
        response = client.create_check_status_response(request, iid)
        assert response.status_code == 202
        links = __import__("json").loads(response.get_body())
        assert links["id"] == iid

        async with http.get(links["statusQueryGetUri"]) as r:
            assert r.status == 202
            assert (await r.json())["runtimeStatus"] in ("Pending", "Running")
        event_url = links["sendEventPostUri"].replace("{eventName}", "Approval")
        async with http.post(event_url, json={"by": "curl"}) as r:
            assert r.status == 202
        await _until_done(client, iid)
        async with http.get(links["statusQueryGetUri"]) as r:
            assert r.status == 200
            assert (await r.json())["output"] == {"approved": {"by": "curl"}}

        # Starting over the public API takes the raw JSON body as input.
        async with http.post(f"{base}/runtime/webhooks/durabletask/orchestrators/fan_out/pub-1", json=3) as r:
            assert r.status == 202
            assert (await r.json())["id"] == "pub-1"
        async with http.post(f"{base}/runtime/webhooks/durabletask/orchestrators/waits_forever/pub-2") as r:
            assert r.status == 202
        async with http.post(f"{base}/runtime/webhooks/durabletask/orchestrators/waits_forever/pub-2") as r:
            assert r.status == 409
        assert (await _until_done(client, "pub-1")).output == 6

        # Paging with x-ms-continuation-token.
        seen, token = [], None
        while True:
            headers = {"x-ms-continuation-token": token} if token else {}
            async with http.get(f"{base}/runtime/webhooks/durabletask/instances?top=2", headers=headers) as r:
                seen += [s["instanceId"] for s in await r.json()]
                token = r.headers.get("x-ms-continuation-token")
            if not token:
                break
        assert sorted(seen) == sorted([iid, "pub-1", "pub-2"])

        terminate_url = links["terminatePostUri"].replace(iid, "pub-2").replace("{text}", "bye")
        async with http.post(terminate_url) as r:
            assert r.status == 202
        async with http.post(terminate_url) as r:
            assert r.status == 410
        async with http.get(f"{base}/runtime/webhooks/durabletask/instances/nope") as r:
            assert r.status == 404

    asyncio.run(_serve(tmp_path, scenario))


def test_the_durable_api_answers_a_caller_without_the_system_key_401_and_never_hands_out_a_key(
    tmp_path: Path,
) -> None:
    async def scenario(client: df.DurableOrchestrationClient, http: aiohttp.ClientSession, base: str) -> None:
        iid = await client.start_new("approval", None, 30)  # the in-process client still works
        public = f"{base}/runtime/webhooks/durabletask"
        attempts = [
            ("POST", f"{public}/orchestrators/fan_out/evil", {}),
            ("POST", f"{public}/instances/{iid}/raiseEvent/Approval", {}),
            ("POST", f"{public}/instances/{iid}/terminate", {}),
            ("GET", f"{public}/instances/{iid}", {}),
            ("GET", f"{public}/instances/{iid}?code=wrong", {}),
            ("DELETE", f"{public}/instances", {}),
            # a non-ASCII or non-UTF-8 key is a wrong key, not a server error
            ("GET", f"{public}/instances/{iid}?code=%C3%A9t%C3%A9", {}),
            ("GET", f"{public}/instances/{iid}?code=%FF%FE", {}),
            ("GET", f"{public}/instances/{iid}", {"x-functions-key": "\u00e9t\u00e9"}),
        ]
        for method, url, headers in attempts:
            async with http.request(method, url, headers=headers, data=b"1") as r:
                body = await r.text()
                assert r.status == 401, (method, url, r.status, body)
                assert SYSTEM_KEY not in body and "taskHub=" not in body
        # the SDK's rpc routes are not on the bare /durabletask path any more
        for url in (f"{base}/durabletask/orchestrators/fan_out", f"{base}/durabletask/instances/{iid}"):
            async with http.post(url, data=b"1") as r:
                assert r.status in (404, 405), r.status
                assert SYSTEM_KEY not in await r.text()
        status = await client.get_status(iid)
        assert status.runtime_status == df.OrchestrationRuntimeStatus.Running

    asyncio.run(_serve(tmp_path, scenario, keyed=False))
