"""One local stack with both environments of the promote-to-prod demo, shared by the console's browser tests
(tests/browser/test_console.py) and promote-to-prod's (tests/e2e/test_promote_to_prod.py), as `make demo` plays
its scenarios on one stack: dev shares each champion into the registry, prod deploys what dev shares.

The lifecycles both modules need run once, whichever module asks first: dev's first champion (prod's first deploy,
straight to 100%), then a drifted upload whose challenger ramps 10 -> 50 and waits for an operator before 100%
(the console approves it in the browser; alone, promote-to-prod approves it through the operator API), and
prod's ramp of that second champion under load. The console's third lifecycle, a green rolled back, shares
nothing into the registry, so prod deploys exactly one version per dev promotion either way.

The demo's policies (samples/churn/demo/), with no batch endpoint and no labels fed (so no online accuracy
gate), prod without approval and ramping in two steps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from devhost import procs
from devstack.demo import (
    DEV_SOURCE,
    ENDPOINT,
    MODEL,
    PROD_ENDPOINT,
    PROD_MODEL,
    REGISTRY,
    ROWS,
    TERMINAL,
    Api,
    upload,
)
from devstack.loadgen import LoadGenerator
from devstack.stack import Stack, promoted_events, promotion_env, running_stack
from tests.demo_policies import DEMO, demo_policy, write_policies

# live traffic for each environment's gates, from its first champion on, while a rollout is under way (between
# rollouts, scoring no gate judges would only take CPU from the rest of the run)
DEV_RPS, PROD_RPS = 40, 30


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def policies(folder: Path) -> Path:
    """dev (churn: approval before 100%, shares into the registry) and prod (churn-prod, deploy-only, 50 -> 100)."""
    dev = demo_policy(batch=False, promotion=True)
    prod = yaml.safe_load((DEMO / "prod" / "policy.yaml").read_text())
    prod["rollout"].pop("approval", None)
    prod["rollout"]["steps"] = [50, 100]
    assert dev["rollout"]["approval"]["before_step"] == 100
    assert dev["promotion"]["registry"] == prod["source"]["registry"] == REGISTRY
    return write_policies(folder, dev, prod)


@contextmanager
def dev_prod_stack(base: Path) -> Iterator[DevProd]:
    """The stack, with the console server in front; every process stopped by PID on exit."""
    state = base / "state"
    env = {
        "LIFECYCLE_POLICY_DIR": str(policies(base / "policies")),
        "CODE_VERSION": "e2e-commit",
        **promotion_env(state, registry=REGISTRY, environment="dev"),
    }
    with running_stack(
        state,
        devhost_port=procs.free_port(),
        azurite_port=procs.free_port(),
        endpoint_port=procs.free_port(),
        console_port=procs.free_port(),
        extra_env=env,
        drift_alerts=None,  # no drift monitor in these policies
    ) as stack:
        shared = DevProd(stack)
        try:
            yield shared
        finally:
            shared.close()


class DevProd:
    """The stack, the operator API (master key), the live loads, and the lifecycles seen so far."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = Api(stack)
        self.loads: dict[str, LoadGenerator] = {}
        self._first: str | None = None
        self._second: str | None = None
        self._second_done: tuple[dict[str, Any], dict[str, Any]] | None = None

    def close(self) -> None:
        """Stop the loads and the stack (idempotent: the last test module that uses it closes it early)."""
        for load in self.loads.values():
            load.stop()
        self.stack.stop()

    # ---------------------------------------------------------------- reading the service

    def lifecycle_ids(self, model: str = MODEL) -> list[str]:
        return self.api.lifecycle_ids(model)

    def runs(self, model: str) -> list[dict[str, Any]]:
        return self.api.get("lifecycles", model=model, limit="100").get("lifecycles", [])

    def status(self, run_id: str) -> dict[str, Any]:
        return self.api.get(f"lifecycles/{run_id}")

    def rollout(self, run_id: str) -> dict[str, Any]:
        return (self.api.get(f"lifecycles/{run_id}-rollout").get("orchestration") or {}).get(
            "custom_status"
        ) or {}

    def new_lifecycle(self, known: set[str], model: str = MODEL, timeout: float = 90) -> str:
        [run_id] = wait_for(
            f"a new {model} lifecycle",
            lambda: [i for i in self.lifecycle_ids(model) if i not in known],
            timeout,
        )
        return run_id

    def until_status(self, run_id: str, statuses: set[str], timeout: float) -> dict[str, Any]:
        return wait_for(
            f"{run_id} to end {statuses}",
            lambda: (d := self.status(run_id)).get("status") in statuses and d,
            timeout,
        )

    def finished(
        self, run_id: str, timeout: float = 420, on_wait: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """The lifecycle once its orchestration ended; `on_wait` sees each view while it runs."""

        def ended() -> dict[str, Any] | None:
            detail = self.status(run_id)
            if (detail.get("orchestration") or {}).get("runtime_status") in TERMINAL:
                return detail
            if on_wait is not None:
                on_wait(detail)
            return None

        return wait_for(f"{run_id} to finish", ended, timeout)

    def promoted(self, source: str = DEV_SOURCE) -> list[dict[str, Any]]:
        """The `promoted` events of one environment's model (prod publishes its own on the same topic)."""
        return promoted_events(self.stack, source)

    def prod_deploy(self, dev_version: str, timeout: float = 420) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the `promoted` event announcing dev's `dev_version`, prod's deploy of it once finished)."""
        [event] = wait_for(
            f"dev v{dev_version}'s promoted event",
            lambda: [e for e in self.promoted() if e["data"]["version"] == dev_version],
            60,
        )
        shared = event["data"]["registry_version"]
        [run] = wait_for(
            f"prod's deploy of registry v{shared}",
            lambda: [r for r in self.runs(PROD_MODEL) if r.get("challenger_version") == shared],
            90,
        )
        return event, self.finished(run["id"], timeout)

    # ---------------------------------------------------------------- the lifecycles both modules need

    def start_first(self) -> str:
        """Dev's first upload (once); its lifecycle's id."""
        if self._first is None:
            from samples.churn.data import generate, to_csv_bytes

            known = set(self.lifecycle_ids())
            upload(self.stack, "churn/e2e/01-first.csv", to_csv_bytes(generate(ROWS, seed=11, drift=0.0)))
            self._first = self.new_lifecycle(known)
        return self._first

    def first(self) -> dict[str, Any]:
        """Dev's first lifecycle once it ended; from its champion on, live traffic on dev's endpoint."""
        detail = self.until_status(self.start_first(), {"promoted", "rolled_back", "failed"}, 420)
        if detail["status"] == "promoted":
            self._load(MODEL, ENDPOINT, DEV_RPS)
        return detail

    def start_second(self) -> str:
        """A drifted upload after dev's first champion (once); its lifecycle's id, once prod deployed dev's first
        champion (live traffic on prod's endpoint from then on). Its challenger ramps 10 -> 50 and waits for an
        operator."""
        if self._second is None:
            from samples.churn.data import generate, to_csv_bytes

            first = self.first()
            assert first["status"] == "promoted", first.get("reasons")
            known = set(self.lifecycle_ids())
            upload(self.stack, "churn/e2e/02-drifted.csv", to_csv_bytes(generate(ROWS, seed=12, drift=1.0)))
            self._second = self.new_lifecycle(known)
            _, prod = self.prod_deploy(first["challenger_version"])  # while dev trains the second
            assert prod["status"] == "promoted", prod.get("reasons")
            self._load(PROD_MODEL, PROD_ENDPOINT, PROD_RPS)
        return self._second

    def second(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(dev's second lifecycle, prod's deploy of its champion), once both ended; approved through the
        operator API if nobody approved it in the console."""
        if self._second_done is None:
            run_id = self.start_second()

            def approve(detail: dict[str, Any]) -> None:
                if detail.get("approval"):
                    self.api.post(
                        f"lifecycles/{run_id}/approve", {"reason": "e2e", "by": "tests/dev_prod.py"}
                    )

            dev = self.finished(run_id, on_wait=approve)
            assert dev["status"] == "promoted", dev.get("reasons")
            _, prod = self.prod_deploy(dev["challenger_version"])
            self._second_done = dev, prod
        return self._second_done

    def _load(self, model: str, endpoint: str, rps: float) -> None:
        if model not in self.loads:
            url = f"{self.stack.endpoint_url}/endpoints/{endpoint}/score"
            self.loads[model] = LoadGenerator(
                url, self.stack.endpoint_key, rps=rps, seconds=1800, rollouts_only=True
            ).start()
