"""Activities are registered under the references the orchestrators call (core.kernel.activity): each
name is declared once, in core, and the registered function checks what comes in and goes out."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import azure.durable_functions as df
import pytest
from pydantic import ValidationError

import core
import wiring
from activities.blueprint import implements, serve
from core.kernel.activity import Activity
from core.kernel.payload import Payload
from core.kernel.settings import Settings
from core.training.payloads import REGISTER
from tests.activities.worker import call_activity
from tests.conftest import app_functions
from tests.fakes import FakeAdapters


def _references() -> list[tuple[str, Activity]]:
    """Every activity reference the core declares, with where (a name imported elsewhere counts once)."""
    found: dict[int, tuple[str, Activity]] = {}
    for info in pkgutil.walk_packages(core.__path__, "core."):
        module = importlib.import_module(info.name)
        for attr, value in vars(module).items():
            if isinstance(value, Activity):
                found.setdefault(id(value), (f"{info.name}.{attr}", value))
    return sorted(found.values(), key=lambda item: item[0])


def test_every_activity_reference_in_the_core_is_registered_by_the_app_under_its_name():
    declared = {ref.name for _, ref in _references()}
    registered = {f.get_function_name() for f in app_functions() if f.get_trigger().type == "activityTrigger"}
    assert declared == registered


def test_no_two_references_share_an_activity_name():
    names = [ref.name for _, ref in _references()]
    assert sorted(names) == sorted(set(names)), [n for n in set(names) if names.count(n) > 1]


def test_an_activity_refuses_a_payload_its_input_type_does_not_accept():
    with pytest.raises(ValidationError, match="source_uri"):
        call_activity(REGISTER, {"run_id": "r1", "model": "churn"})


class EchoInput(Payload):
    text: str


class EchoResult(Payload):
    echoed: str


ECHO = Activity("test_echo", EchoInput, EchoResult)
SLOPPY = Activity("test_sloppy", EchoInput, EchoResult)


class EchoActivities:
    def __init__(self, ports: wiring.Ports) -> None:
        self.ports = ports

    @implements(ECHO)
    def echo(self, req: EchoInput) -> EchoResult:
        return EchoResult(echoed=f"{req.text} ({self.ports.code_version})")

    @implements(SLOPPY)
    def sloppy(self, req: EchoInput) -> EchoResult:
        return {"echoed": req.text}  # type: ignore[return-value]  # what mypy would refuse


@pytest.fixture
def served(tmp_path: Path):
    blueprint = df.Blueprint()
    functions = serve(EchoActivities, on=blueprint)
    ports = FakeAdapters().ports(Settings(local_state_dir=tmp_path), {}, code_version="c0ffee")
    with wiring.override(ports=ports):
        yield blueprint, functions


def _user(functions: dict, ref: Activity):
    return functions[ref.name]._function.get_user_function()


def test_serve_registers_each_marked_method_under_its_references_name_with_the_built_ports(served):
    blueprint, functions = served
    app = df.DFApp()
    app.register_functions(blueprint)
    registered = {f.get_function_name(): f.get_trigger().type for f in app.get_functions()}
    assert registered == {"test_echo": "activityTrigger", "test_sloppy": "activityTrigger"}
    assert _user(functions, ECHO)(payload={"text": "hi"}) == {"echoed": "hi (c0ffee)"}


def test_an_activity_that_returns_another_type_than_its_reference_declares_fails_with_its_name(served):
    _, functions = served
    with pytest.raises(TypeError, match="activity test_sloppy must return EchoResult, not dict"):
        _user(functions, SLOPPY)(payload={"text": "hi"})


def test_a_class_without_an_activity_to_serve_is_refused():
    with pytest.raises(TypeError, match="no @implements method"):
        serve(FakeAdapters, on=df.Blueprint())
