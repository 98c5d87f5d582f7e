"""Timer schedules follow six-field NCRONTAB with the schedule monitor; keys follow Azure's auth levels."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devhost.discovery import AppLoadError, FunctionSpec, LoadedApp
from devhost.keys import HostKeys
from devhost.timers import Schedule, TimerTriggers


def test_six_field_ncrontab_has_a_seconds_field_first() -> None:
    schedule = Schedule.parse("*/10 * * * * *", "f")
    assert schedule.next_after(datetime(2024, 1, 1, 0, 0, 3, tzinfo=UTC)) == datetime(
        2024, 1, 1, 0, 0, 10, tzinfo=UTC
    )
    hourly = Schedule.parse("0 0 * * * *", "f")
    assert hourly.next_after(datetime(2024, 1, 1, 0, 0, 3, tzinfo=UTC)) == datetime(
        2024, 1, 1, 1, 0, 0, tzinfo=UTC
    )


def test_a_five_field_cron_is_refused_with_the_ncrontab_shape() -> None:
    with pytest.raises(AppLoadError, match=r"'nightly'.*six-field NCRONTAB"):
        Schedule.parse("0 2 * * *", "nightly")


def test_the_schedule_monitor_is_on_by_default_only_for_schedules_a_minute_apart_or_more(
    tmp_path: Path,
) -> None:
    def spec(schedule: str, **extra: object) -> FunctionSpec:
        return FunctionSpec(
            schedule, "timerTrigger", {"name": "t", "schedule": schedule, **extra}, [], lambda t: None
        )

    specs = [spec("0 */5 * * * *"), spec("*/10 * * * * *"), spec("*/10 * * * * *", useMonitor=True)]
    timers = TimerTriggers(LoadedApp(tmp_path, None, specs, {}), _RecordingInvoker(), tmp_path)  # type: ignore[arg-type]
    assert [timers._monitored(s) for s in specs] == [True, False, True]


def test_a_timespan_and_an_app_setting_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Schedule.parse("00:05:00", "f").next_after(datetime(2024, 1, 1, tzinfo=UTC)).minute == 5
    monkeypatch.setenv("MY_SCHEDULE", "0 */5 * * * *")
    assert Schedule.parse("%MY_SCHEDULE%", "f").cron == "0 */5 * * * *"


class _RecordingInvoker:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def invoke(self, spec: FunctionSpec, value: Any, reason: str) -> None:
        self.calls.append(value)


def test_an_occurrence_missed_while_the_host_was_down_runs_at_start_up_as_past_due(tmp_path: Path) -> None:
    spec = FunctionSpec(
        "nightly", "timerTrigger", {"name": "t", "schedule": "0 0 2 * * *"}, [], lambda t: None
    )
    app = LoadedApp(tmp_path, None, [spec], {})
    (tmp_path / "timers.json").write_text(json.dumps({"nightly": {"Next": "2020-01-01T02:00:00Z"}}))
    invoker = _RecordingInvoker()
    timers = TimerTriggers(app, invoker, tmp_path)  # type: ignore[arg-type]

    async def scenario() -> None:
        await timers.start()
        await asyncio.sleep(0.05)
        await timers.stop()

    asyncio.run(scenario())
    assert [call.past_due for call in invoker.calls] == [True]
    assert invoker.calls[0].schedule_status["Next"] > "2024"  # the next occurrence, not the missed one


def test_auth_levels_follow_azure(tmp_path: Path) -> None:
    keys = HostKeys.load(tmp_path, "master")
    assert keys.allows("anonymous", None)
    assert keys.allows("function", keys.function_default) and keys.allows("function", "master")
    assert not keys.allows("function", None) and not keys.allows("function", "guess")
    assert keys.allows("admin", "master") and not keys.allows("admin", keys.function_default)
    assert keys.allows_system(keys.eventgrid_extension) and not keys.allows_system(keys.function_default)


def test_keys_survive_a_restart_and_the_environment_can_set_the_master_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FUNCTIONS_MASTER_KEY", raising=False)
    first = HostKeys.load(tmp_path, None)
    again = HostKeys.load(tmp_path, None)
    assert first.master_generated and not again.master_generated
    assert (again.master, again.function_default, again.durabletask_extension) == (
        first.master,
        first.function_default,
        first.durabletask_extension,
    )
    monkeypatch.setenv("FUNCTIONS_MASTER_KEY", "from-env")
    assert HostKeys.load(tmp_path, None).master == "from-env"


def test_the_banner_masks_every_key_and_keys_json_is_private(tmp_path: Path) -> None:
    from devhost.host import mask

    keys = HostKeys.load(tmp_path, None)
    for key in (keys.master, keys.function_default, keys.eventgrid_extension, keys.durabletask_extension):
        assert key not in mask(key) and mask(key).startswith(key[:4])
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0
