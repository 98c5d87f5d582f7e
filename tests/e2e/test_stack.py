"""`make run`'s local stack: Azurite, the endpoint server and devhost on this repo's app, wired together
through settings, and every process stopped by its PID when the stack exits."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from devhost import procs
from devstack.stack import EVENTS_TOPIC, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_the_local_stack_wires_the_app_to_its_stand_ins_and_stops_them_all(tmp_path: Path) -> None:
    ports = {
        "devhost_port": procs.free_port(),
        "azurite_port": procs.free_port(),
        "endpoint_port": procs.free_port(),
    }
    with running_stack(tmp_path / "local", master_key="stack-key", **ports) as stack:
        status = requests.get(f"{stack.devhost_url}/admin/host/status", timeout=10).json()
        assert status["state"] == "Running"
        assert {p.name for p in stack.processes} == {"azurite", "endpoints", "devhost", "log-alerts"}

        # the app's EventPublisher posts to EVENTS_TOPIC_ENDPOINT with EVENTS_TOPIC_KEY: devhost records it
        published = requests.post(
            stack.env["EVENTS_TOPIC_ENDPOINT"],
            params={"api-version": "2018-01-01"},
            json=[{"specversion": "1.0", "id": "1", "source": "/t", "type": "Lifecycle.Test", "data": {}}],
            headers={
                "aeg-sas-key": stack.env["EVENTS_TOPIC_KEY"],
                "Content-Type": "application/cloudevents-batch+json",
            },
            timeout=10,
        )
        assert published.status_code == 200
        events = requests.get(
            f"{stack.devhost_url}/runtime/topics/{EVENTS_TOPIC}/events",
            params={"code": "stack-key"},
            timeout=10,
        ).json()
        assert [e["type"] for e in events] == ["Lifecycle.Test"]
        children = list(stack.processes)
    assert all(p.popen.poll() is not None for p in children)
    for port in ports.values():
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open after the stack stopped"
