"""What a failure may say to the outside: its reason, never a stack trace.

An activity's failure reaches an orchestrator as `Activity function 'x' failed: Error: message`
followed by the worker's formatted traceback (Durable Functions' TaskFailed Details). Reasons are
kept for people and for the ledger; the trace, with file paths and source lines of the host, is for
the host's log only, so every API answer and recorded reason is cut where a trace begins."""

from __future__ import annotations

from typing import Any

TRACE_MARKER = "Traceback (most recent call last)"


def without_traceback(text: str) -> str:
    """`text` up to the first Python traceback in it (stripped), or `text` itself."""
    at = text.find(TRACE_MARKER)
    if at < 0:
        return text
    kept = text[:at].rstrip()
    return kept or "failed (the stack trace is in the host's log)"


def scrub_tracebacks(value: Any) -> Any:
    """`value` (JSON-like) with every string cut where a traceback begins."""
    if isinstance(value, str):
        return without_traceback(value) if TRACE_MARKER in value else value
    if isinstance(value, dict):
        return {k: scrub_tracebacks(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_tracebacks(v) for v in value]
    return value
