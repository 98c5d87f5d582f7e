"""Load a v2-model Python Function App the way the Python worker indexes it.

The worker imports `function_app.py`, finds the one `FunctionRegister` (FunctionApp, DFApp) at module level
and calls `get_functions()`. devhost does the same, and turns everything that would make the host fail later
(a missing file, a syntax error, a binding it cannot serve) into one `AppLoadError` with a message a user can
act on, because a stack trace from inside importlib says little about the app."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

HTTP_TRIGGER = "httpTrigger"
EVENTGRID_TRIGGER = "eventGridTrigger"
TIMER_TRIGGER = "timerTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
DURABLE_CLIENT = "durableClient"
HTTP_OUTPUT = "http"

SUPPORTED_TRIGGERS = {
    HTTP_TRIGGER,
    EVENTGRID_TRIGGER,
    TIMER_TRIGGER,
    ORCHESTRATION_TRIGGER,
    ACTIVITY_TRIGGER,
    ENTITY_TRIGGER,
}
SUPPORTED_BINDINGS = SUPPORTED_TRIGGERS | {DURABLE_CLIENT, HTTP_OUTPUT}
DURABLE_TRIGGERS = {ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER, ENTITY_TRIGGER}


class AppLoadError(Exception):
    """The app cannot be hosted; the message says what to fix."""


@dataclass
class FunctionSpec:
    """One indexed function: what the host needs to route to it and call it."""

    name: str
    trigger_type: str
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    user_function: Callable[..., Any]
    raw: Any = field(repr=False, default=None)  # the azure.functions Function object

    @property
    def trigger_param(self) -> str:
        return str(self.trigger["name"])

    @property
    def client_params(self) -> list[str]:
        return [b["name"] for b in self.bindings if b["type"] == DURABLE_CLIENT]

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)


@dataclass
class LoadedApp:
    app_dir: Path
    app: Any
    functions: list[FunctionSpec]
    host_json: dict[str, Any]

    def by_trigger(self, *types: str) -> list[FunctionSpec]:
        return [f for f in self.functions if f.trigger_type in types]

    def get(self, name: str) -> FunctionSpec | None:
        lowered = name.lower()  # function names are case-insensitive on Azure
        return next((f for f in self.functions if f.name.lower() == lowered), None)

    @property
    def raw_functions(self) -> list[Any]:
        return [f.raw for f in self.functions]

    @property
    def has_durable(self) -> bool:
        return bool(self.by_trigger(*DURABLE_TRIGGERS)) or any(f.client_params for f in self.functions)

    @property
    def route_prefix(self) -> str:
        http = (self.host_json.get("extensions") or {}).get("http") or {}
        prefix = http.get("routePrefix", "api")
        return str(prefix).strip("/")

    @property
    def task_hub(self) -> str:
        durable = (self.host_json.get("extensions") or {}).get("durableTask") or {}
        return str(durable.get("hubName") or "DevHostHub")


def load_settings(app_dir: Path) -> dict[str, str]:
    """Put local.settings.json "Values" into os.environ (as `func start` does), without overriding the
    environment, so a test or the stack launcher can still set a value explicitly."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("Values") or {}
    except (json.JSONDecodeError, AttributeError) as exc:
        raise AppLoadError(f"{path} is not valid JSON ({exc}). Fix the file or remove it.") from exc
    applied = {}
    for key, value in values.items():
        if key not in os.environ:
            os.environ[key] = str(value)
            applied[key] = str(value)
    return applied


def _plain(value: Any) -> Any:
    """Binding dicts hold enums (AuthLevel, HttpMethod, BindingDirection): reduce them to their values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, str | int | float | bool):
        return value.value
    return value


def _where(exc: BaseException, app_file: Path) -> str:
    """file:line of the deepest frame inside the app directory (or the syntax error's own location)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    app_root = str(app_file.parent)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(app_root)]
    frame = frames[-1] if frames else None
    return f"{frame.filename}:{frame.lineno}" if frame else str(app_file)


def _import_app_module(app_dir: Path) -> Any:
    app_file = app_dir / "function_app.py"
    if not app_dir.is_dir():
        raise AppLoadError(
            f"App directory {app_dir} does not exist. Pass the folder that holds function_app.py."
        )
    if not app_file.exists():
        raise AppLoadError(
            f"No function_app.py in {app_dir}. devhost hosts Python v2-model apps: create function_app.py "
            "with `app = func.FunctionApp()` (or `df.DFApp()`) and decorated functions, or pass the right folder."
        )
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location("function_app", app_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise AppLoadError(
            f"Cannot load the app: syntax error at {_where(exc, app_file)}: {exc.msg}. "
            "Fix the file and start devhost again."
        ) from exc
    except Exception as exc:
        raise AppLoadError(
            f"Cannot load the app: importing function_app.py raised {type(exc).__name__}: {exc} "
            f"(at {_where(exc, app_file)}). Fix the error (a missing package? run `make setup`) and start again."
        ) from exc
    return module


def _find_register(module: Any, app_file: Path) -> Any:
    registers = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if not registers:
        raise AppLoadError(
            f"{app_file} defines no FunctionApp: add `app = func.FunctionApp()` (or `df.DFApp()`) at module level "
            "and decorate functions with it."
        )
    if len({id(r) for r in registers}) > 1:
        raise AppLoadError(
            f"{app_file} defines more than one FunctionApp; the Functions runtime indexes exactly one. "
            "Keep one app and register the others' functions as Blueprints."
        )
    return registers[0]


def load_app(app_dir: Path) -> LoadedApp:
    app_dir = app_dir.resolve()
    module = _import_app_module(app_dir)
    app_file = app_dir / "function_app.py"
    register = _find_register(module, app_file)
    try:
        raw_functions = register.get_functions()
    except Exception as exc:  # duplicate names, bad decorator arguments
        raise AppLoadError(f"Cannot index the functions of {app_file}: {exc}") from exc

    functions: list[FunctionSpec] = []
    for raw in raw_functions:
        name = raw.get_function_name()
        trigger = raw.get_trigger()
        if trigger is None:
            raise AppLoadError(
                f"Function '{name}' has no trigger: every function needs exactly one trigger decorator."
            )
        bindings = [_plain(b.get_dict_repr()) for b in raw.get_bindings()]
        for binding in bindings:
            if binding["type"] not in SUPPORTED_BINDINGS:
                raise AppLoadError(
                    f"Function '{name}' uses a '{binding['type']}' binding, which devhost does not support "
                    f"(it serves: {', '.join(sorted(SUPPORTED_BINDINGS))}). Use an Event Grid trigger fed by "
                    "devhost's blob watcher instead of blob triggers, or remove the binding."
                )
        trigger_dict = next(b for b in bindings if b["type"] == trigger.type)
        functions.append(
            FunctionSpec(name, trigger.type, trigger_dict, bindings, raw.get_user_function(), raw)
        )

    host_json: dict[str, Any] = {}
    host_path = app_dir / "host.json"
    if host_path.exists():
        try:
            host_json = json.loads(host_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise AppLoadError(f"{host_path} is not valid JSON ({exc}).") from exc
    return LoadedApp(app_dir, register, functions, host_json)
