"""Run one activity as the Functions worker does: found by its reference's name among the app's
functions, called with its JSON payload under the binding's name, answering JSON."""

from __future__ import annotations

from typing import Any

from core.kernel.activity import Activity


def call_activity(ref: Activity[Any, Any], payload: dict[str, Any]) -> Any:
    from tests.conftest import app_functions

    [function] = [f for f in app_functions() if f.get_function_name() == ref.name]
    [binding] = [b for b in function.get_bindings() if b.type == "activityTrigger"]
    return function.get_user_function()(**{binding.name: payload})
