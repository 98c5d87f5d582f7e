"""When an instance runs: its episodes one at a time as messages arrive, and its durable timers.

An instance with messages in its inbox gets one driver task that runs episodes until the inbox is
empty; a timer is a task that sleeps on the engine's clock and then delivers its TimerFired message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from devhost.durable.hub import Hub
from devhost.durable.instances import Event, Instance


class Scheduler:
    def __init__(
        self,
        hub: Hub,
        *,
        run_episode: Callable[[Instance], Awaitable[None]],
        terminate: Callable[[Instance, str], None],
        fail: Callable[[Instance, str], None],
    ) -> None:
        self.hub = hub
        self._run_episode = run_episode
        self._terminate = terminate
        self._fail = fail

    def kick(self, inst: Instance) -> None:
        """Start the instance's driver if it has something to do and none is running."""
        if inst.busy or self.hub.stopping or (not inst.pending and inst.terminate_reason is None):
            return
        if inst.status not in ("Pending", "Running") and inst.terminate_reason is None:
            return
        inst.busy = True
        self.hub.spawn(self._drive(inst), f"devhost-episode-{inst.instance_id}")

    def deliver(self, instance_id: str, execution_id: str | None, msg_id: int, event: Event) -> None:
        """A message already written to the inbox reaches its live instance."""
        inst = self.hub.live.get(instance_id)
        if inst is None or (execution_id is not None and inst.execution_id != execution_id):
            return
        inst.pending.append((msg_id, event))
        self.kick(inst)

    def arm_timer(self, inst: Instance, msg_id: int, event: Event, fire_at: datetime) -> None:
        if self.hub.stopping:
            return

        async def fire() -> None:
            await self.hub.clock.sleep_until(fire_at)
            inst.timers.pop(msg_id, None)
            if self.hub.live.get(inst.instance_id) is inst and not self.hub.stopping:
                inst.pending.append((msg_id, event))
                self.kick(inst)

        inst.timers[msg_id] = self.hub.spawn(fire(), f"devhost-timer-{inst.instance_id}")

    async def _drive(self, inst: Instance) -> None:
        hub = self.hub
        try:
            while not hub.stopping and hub.live.get(inst.instance_id) is inst:
                if inst.terminate_reason is not None:
                    self._terminate(inst, inst.terminate_reason)
                    break
                if inst.status not in ("Pending", "Running") or not inst.pending:
                    break
                try:
                    await self._run_episode(inst)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if hub.stopping or not hub.started:
                        break
                    hub.log.exception("devhost durable engine error in instance %s", inst.instance_id)
                    with contextlib.suppress(Exception):
                        hub.store.rollback()
                    self._fail(inst, f"devhost durable engine error: {type(exc).__name__}: {exc}")
                    break
        finally:
            inst.busy = False
