"""A lifecycle follows the policy as it was when it started: an edit of the policy file while the
run trains changes the next run, not this one (the lineage records the rules that decided).
Run for real on devhost's durable engine with fakes behind every port."""

from __future__ import annotations

import asyncio
import functools
import shutil
from pathlib import Path
from typing import Any

import wiring
from core.intake.payloads import LifecycleInput
from core.kernel.payload import BlobRef
from core.kernel.policy import PolicyDirectory
from core.kernel.settings import Settings
from devhost.durable.clock import TimeSkippingClock
from devhost.durable.engine import DurableEngine
from samples.churn.data import generate, to_csv_bytes
from tests.fakes import FakeAdapters, FakeJob, evaluation_metrics

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _functions() -> list[Any]:
    from tests.conftest import app_functions

    return app_functions()


def _run_lifecycles(tmp_path: Path, triggers: list[tuple[str, LifecycleInput]]) -> list[dict]:
    async def main() -> list[dict]:
        engine = DurableEngine(
            db_path=tmp_path / "hub.db",
            functions=_functions(),
            activity_concurrency=4,
            clock=TimeSkippingClock(),  # the training polls' timers are skipped while the test waits
        )
        await engine.start("http://127.0.0.1:7071")
        try:
            results = []
            for instance_id, trigger in triggers:  # one after the other, as the coordinator runs them
                await engine.start_new("lifecycle", instance_id=instance_id, input=trigger.dump())
                results.append(await engine.wait_for(instance_id, 60))
            return results
        finally:
            await engine.stop()

    return asyncio.run(main())


def test_a_policy_edited_while_a_run_trains_changes_the_next_run_not_this_one(tmp_path):
    folder = tmp_path / "policies" / "churn"
    shutil.copytree(ROOT / "samples" / "churn", folder)
    policy_file = folder / "policy.yaml"
    text = policy_file.read_text().replace("poll_seconds: 15", "poll_seconds: 1")
    policy_file.write_text(
        text.replace("enabled: true", "enabled: false", 1)
    )  # this test ends at registration
    policies = PolicyDirectory(folder.parent)
    started_with = policies.get("churn")

    fakes = FakeAdapters()
    fakes.training_jobs.polls_to_finish = 2
    champion = fakes.registry.register("churn", "file:///champion/model", {"lifecycle_id": "earlier"})
    fakes.registry.set_champion("churn", champion.version)

    def on_submit(job: FakeJob) -> None:
        if job.tags.get("stage") == "train" and job.tags["lifecycle_id"] == "run-1":
            text = policy_file.read_text()  # an operator tightens the rule while run-1 trains
            policy_file.write_text(text.replace("min_abs_gain: 0.02", "min_abs_gain: 0.05"))
        if job.tags.get("stage") == "evaluate":
            job.files["metrics"] = evaluation_metrics(0.83, 0.80)  # a gain of 0.03

    fakes.training_jobs.on_submit = on_submit
    data = fakes.data_lake
    data.put("raw", "churn/2025/a.csv", to_csv_bytes(generate(400, 1)))
    trigger = LifecycleInput(model="churn", blobs=[BlobRef(container="raw", path="churn/2025/a.csv")])

    settings = Settings(local_state_dir=tmp_path / "state", policy_dir=folder.parent)
    with wiring.override(settings=settings, policies=policies, code_version="c1", **fakes.as_overrides()):
        first, second = _run_lifecycles(tmp_path, [("run-1", trigger), ("run-2", trigger)])

    assert first["runtimeStatus"] == second["runtimeStatus"] == "Completed", (first, second)
    assert first["output"]["status"] == "registered"  # judged by the rule it started with
    assert first["output"]["decision"]["min_abs_gain"] == 0.02
    assert (
        fakes.registry.get("churn", first["output"]["challenger_version"]).tags["policy_hash"]
        == started_with.hash
    )
    assert second["output"]["status"] == "kept"  # the next run follows the edited file
    assert second["output"]["decision"]["min_abs_gain"] == 0.05
    run1 = fakes.ledger.get_run("run-1")
    assert run1 is not None and run1.lineage["rules"]["policy"]["evaluation"]["min_abs_gain"] == 0.02
