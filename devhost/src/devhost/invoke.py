"""Call a user function the way the Python worker does, and log the invocation like the Functions host.

Async functions run on the host's one event loop (the durable client keeps one aiohttp session per module,
so every client call must happen on the same loop); sync functions run in a thread pool so a slow one
does not stall the server."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func

from devhost.discovery import FunctionSpec

log = logging.getLogger("devhost")


@functools.lru_cache(maxsize=1024)
def _takes_context(function: Any) -> bool:
    """Whether the function declares a `context` parameter (read once per function: inspecting
    the signature at every invocation was a measurable share of an event storm)."""
    return "context" in inspect.signature(function).parameters


class InvocationFailed(Exception):
    """The user function raised; the original exception is the cause."""

    def __init__(self, function: str, invocation_id: str, error: BaseException) -> None:
        super().__init__(f"{function} ({invocation_id}) failed: {type(error).__name__}: {error}")
        self.function = function
        self.invocation_id = invocation_id
        self.error = error


class _Context(func.Context):
    """The `context` argument the worker passes to a function that asks for one."""

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return None

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class Invoker:
    def __init__(
        self,
        *,
        app_dir: str,
        client_binding: Callable[[], str | None],
        max_workers: int = 32,
    ) -> None:
        self.app_dir = app_dir
        self.client_binding = client_binding
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="devhost-fn")

    def _kwargs(self, spec: FunctionSpec, trigger_value: Any, invocation_id: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {spec.trigger_param: trigger_value}
        for name in spec.client_params:
            binding = self.client_binding()
            if binding is None:
                raise RuntimeError(
                    f"Function '{spec.name}' has a durable client binding but the durable engine is not loaded "
                    "(devhost/durable/engine.py is missing)."
                )
            kwargs[name] = binding
        if _takes_context(spec.user_function) and "context" not in kwargs:
            kwargs["context"] = _Context(invocation_id, spec.name, self.app_dir)
        return kwargs

    async def invoke(self, spec: FunctionSpec, trigger_value: Any, reason: str) -> Any:
        invocation_id = str(uuid.uuid4())
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", spec.name, reason, invocation_id)
        started = time.perf_counter()
        try:
            kwargs = self._kwargs(spec, trigger_value, invocation_id)
            if spec.is_async:
                result = await spec.user_function(**kwargs)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self.pool, functools.partial(spec.user_function, **kwargs)
                )
                if inspect.isawaitable(result):
                    result = await result
        except Exception as exc:
            ms = (time.perf_counter() - started) * 1000
            log.error(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms)\n%s",
                spec.name,
                invocation_id,
                ms,
                "".join(traceback.format_exception(exc)).rstrip(),
            )
            raise InvocationFailed(spec.name, invocation_id, exc) from exc
        ms = (time.perf_counter() - started) * 1000
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)", spec.name, invocation_id, ms)
        return result

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
