"""Activity workers: run an activity function (sync ones on a bounded thread pool, async ones on the
loop) and turn its return value or exception into TaskCompleted / TaskFailed."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.functions._durable_functions import df_dumps, df_loads

from devhost.durable import replay as R
from devhost.durable.hub import Hub
from devhost.durable.instances import Event, event
from devhost.durable.registry import FunctionRegistry

# (work id, instance id, execution id, TaskCompleted/TaskFailed event)
OnResult = Callable[[int, str, str, Event], None]


class ActivityWorkers:
    def __init__(
        self,
        hub: Hub,
        registry: FunctionRegistry,
        *,
        concurrency: int,
        client_binding: Callable[[], str],
        on_result: OnResult,
    ) -> None:
        self.hub = hub
        self.registry = registry
        self.concurrency = concurrency
        self.client_binding = client_binding
        self.on_result = on_result
        self.in_flight = 0

    def start(self) -> None:
        self._sem = asyncio.Semaphore(self.concurrency)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="devhost-activity")

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def dispatch(
        self,
        work_id: int,
        instance_id: str,
        execution_id: str,
        task_id: int,
        name: str,
        input_json: str | None,
    ) -> None:
        if self.hub.stopping:
            return
        self.in_flight += 1
        self.hub.spawn(
            self._run(work_id, instance_id, execution_id, task_id, name, input_json),
            f"devhost-activity-{name}",
        )

    async def _run(
        self,
        work_id: int,
        instance_id: str,
        execution_id: str,
        task_id: int,
        name: str,
        input_json: str | None,
    ) -> None:
        try:
            async with self._sem:
                if self.hub.stopping:
                    return
                result = await self._call(task_id, name, input_json)
            if self.hub.stopping or not self.hub.started:
                return
            self.hub.stats["activities"] += 1
            self.on_result(work_id, instance_id, execution_id, result)
        finally:
            self.in_flight -= 1

    async def _call(self, task_id: int, name: str, input_json: str | None) -> Event:
        log = self.hub.log
        when = self.hub.clock.now
        activity = self.registry.activity(name)
        invocation = uuid.uuid4().hex
        started = time.perf_counter()
        log.debug("Executing 'Functions.%s' (Reason='(null)', Id=%s)", name, invocation)
        try:
            if activity is None:
                raise LookupError(
                    f"The function '{name}' doesn't exist, is disabled, or is not an activity function."
                )
            kwargs = {activity.param: decode_activity_input(input_json)}
            for param in activity.client_params:
                kwargs[param] = self.client_binding()
            if activity.is_async:
                result = await activity.fn(**kwargs)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._pool, functools.partial(activity.fn, **kwargs))
                if inspect.isawaitable(result):
                    result = await result
            log.debug(
                "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)",
                name,
                invocation,
                (time.perf_counter() - started) * 1000,
            )
            return event(R.TASK_COMPLETED, when(), TaskScheduledId=task_id, Result=df_dumps(result))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = f"Activity function '{name}' failed: {type(exc).__name__}: {exc}"
            details = "".join(traceback.format_exception(exc)).rstrip()
            log.warning(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms): %s",
                name,
                invocation,
                (time.perf_counter() - started) * 1000,
                reason,
            )
            return event(R.TASK_FAILED, when(), TaskScheduledId=task_id, Reason=reason, Details=details)


def decode_activity_input(input_json: str | None) -> Any:
    """What the Python worker's ActivityTriggerConverter hands the function."""
    if input_json is None:
        return None
    try:
        return df_loads(input_json)
    except json.JSONDecodeError:
        return input_json
