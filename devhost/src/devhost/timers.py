"""Timer triggers: six-field NCRONTAB ({second} {minute} {hour} {day} {month} {day-of-week}) or a TimeSpan
("hh:mm:ss"), run_on_startup, and the schedule monitor that makes a missed occurrence run at start-up with
past_due=True, as the Functions host does with its timer status blobs (kept here in the state dir)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.discovery import TIMER_TRIGGER, AppLoadError, FunctionSpec, LoadedApp
from devhost.invoke import InvocationFailed, Invoker

log = logging.getLogger("devhost")

PAST_DUE_AFTER = timedelta(seconds=1)
_TIMESPAN = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})$")


@dataclass
class Schedule:
    expression: str
    cron: str | None = None
    interval: timedelta | None = None

    @classmethod
    def parse(cls, expression: str, function: str) -> Schedule:
        resolved = expression.strip()
        setting = re.fullmatch(r"%([^%]+)%", resolved)
        if setting:  # "%NAME%" reads an app setting, as on Azure
            value = os.environ.get(setting.group(1))
            if not value:
                raise AppLoadError(
                    f"Timer function '{function}' reads its schedule from app setting {setting.group(1)}, which is not set."
                )
            resolved = value.strip()
        span = _TIMESPAN.match(resolved)
        if span:
            hours, minutes, seconds = (int(g) for g in span.groups())
            interval = timedelta(hours=hours, minutes=minutes, seconds=seconds)
            if interval <= timedelta(0):
                raise AppLoadError(f"Timer function '{function}' has a zero TimeSpan schedule {resolved!r}.")
            return cls(resolved, interval=interval)
        fields = resolved.split()
        if len(fields) != 6:
            raise AppLoadError(
                f"Timer function '{function}' has schedule {resolved!r} with {len(fields)} fields; Azure Functions "
                "uses six-field NCRONTAB: '{second} {minute} {hour} {day} {month} {day-of-week}', "
                "e.g. '0 */5 * * * *' for every five minutes."
            )
        if not croniter.is_valid(resolved, second_at_beginning=True):
            raise AppLoadError(f"Timer function '{function}' has an invalid NCRONTAB schedule {resolved!r}.")
        return cls(resolved, cron=resolved)

    def next_after(self, moment: datetime) -> datetime:
        if self.interval is not None:
            return moment + self.interval
        return croniter(self.cron, moment, second_at_beginning=True).get_next(datetime)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", task.get_name(), task.exception(), exc_info=task.exception())


class TimerTriggers:
    def __init__(self, app: LoadedApp, invoker: Invoker, state_dir: Path) -> None:
        self.invoker = invoker
        self.state_path = state_dir / "timers.json"
        self.functions = app.by_trigger(TIMER_TRIGGER)
        self.schedules = {
            f.name: Schedule.parse(str(f.trigger.get("schedule") or ""), f.name) for f in self.functions
        }
        self.tasks: list[asyncio.Task[None]] = []
        self._state: dict[str, dict[str, str | None]] = self._load_state()

    def _load_state(self) -> dict[str, dict[str, str | None]]:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _save_state(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, indent=2), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def describe(self) -> list[str]:
        return [f"{f.name}: timerTrigger ({self.schedules[f.name].expression})" for f in self.functions]

    async def start(self) -> None:
        for spec in self.functions:
            task = asyncio.create_task(self._run(spec), name=f"timer:{spec.name}")
            task.add_done_callback(_report_crash)
            self.tasks.append(task)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()

    async def _fire(self, spec: FunctionSpec, scheduled: datetime, past_due: bool, reason: str) -> None:
        schedule = self.schedules[spec.name]
        status = self._state.get(spec.name, {})
        now = datetime.now(UTC)
        next_due = schedule.next_after(max(now, scheduled))
        request = TimerRequest(
            past_due=past_due,
            schedule_status={"Last": status.get("Last"), "Next": _iso(next_due), "LastUpdated": _iso(now)},
            schedule={"AdjustForDST": True},
        )
        # Record before invoking: a crash mid-run must not replay the same occurrence as past due.
        self._state[spec.name] = {"Last": _iso(scheduled), "Next": _iso(next_due), "LastUpdated": _iso(now)}
        self._save_state()
        with contextlib.suppress(InvocationFailed):  # logged by the invoker; the schedule carries on
            await self.invoker.invoke(spec, request, reason)

    def _monitored(self, spec: FunctionSpec) -> bool:
        """Azure's default: the schedule monitor is on when occurrences are at least a minute apart."""
        explicit = spec.trigger.get("useMonitor")
        if explicit is not None:
            return bool(explicit)
        schedule = self.schedules[spec.name]
        first = schedule.next_after(datetime.now(UTC))
        return schedule.next_after(first) - first >= timedelta(minutes=1)

    async def _run(self, spec: FunctionSpec) -> None:
        schedule = self.schedules[spec.name]
        now = datetime.now(UTC)
        stored_next = _parse(self._state.get(spec.name, {}).get("Next"))
        if spec.trigger.get("runOnStartup"):
            await self._fire(spec, now, False, "Timer fired at start-up (run_on_startup)")
        elif self._monitored(spec) and stored_next and stored_next < now:
            await self._fire(
                spec, stored_next, True, f"Timer occurrence due at {_iso(stored_next)} was missed"
            )
        last_due = datetime.now(UTC)
        while True:
            # never before the previous occurrence: a sleep that wakes a hair early must not fire it twice
            due = schedule.next_after(max(datetime.now(UTC), last_due))
            last_due = due
            self._state.setdefault(spec.name, {})["Next"] = _iso(due)
            self._save_state()
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            late = datetime.now(UTC) - due
            await self._fire(spec, due, late > PAST_DUE_AFTER, f"Timer fired at {_iso(datetime.now(UTC))}")
