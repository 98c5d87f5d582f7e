"""Pure decisions of batch scoring: which deployment becomes the batch endpoint's default, which
deployments to prune, how an A/B run splits its rows, and where a run's predictions go.

Like core/training/verdict.py these return their verdict with the reasons, so the ledger can say why a
batch default did (or did not) move without re-running anything.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from core.kernel.ports import BatchDeploymentInfo, BatchEndpointInfo

_DEPLOYMENT_CHARS = re.compile(r"[^a-z0-9-]+")


def batch_deployment_name(model: str, version: str) -> str:
    """A deployment per model version, e.g. `churn-v12` (AML: 3-32 chars, letters, digits, '-')."""
    base = _DEPLOYMENT_CHARS.sub("-", f"{model}-v{version}".lower()).strip("-")
    if len(base) <= 32:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    return f"{base[:25].rstrip('-')}-{digest}"


# --------------------------------------------------------------------------- smoke and default


@dataclass(frozen=True)
class SmokeVerdict:
    passed: bool
    expected_rows: int
    scored_rows: int
    reasons: list[str] = field(default_factory=list)


def judge_smoke(
    expected_rows: int, predictions: Sequence[Any], *, job_state: str = "completed", message: str = ""
) -> SmokeVerdict:
    """A smoke run passes when the job completed and returned one finite prediction per row."""
    scored = len(predictions)
    if job_state != "completed":
        reason = f"the smoke job ended {job_state}" + (f": {message}" if message else "")
        return SmokeVerdict(False, expected_rows, scored, [reason])
    reasons: list[str] = []
    if scored != expected_rows:
        reasons.append(f"{scored} predictions for {expected_rows} rows")
    bad = sum(1 for p in predictions if not _finite(p))
    if bad:
        reasons.append(f"{bad} of {scored} predictions are missing or not finite")
    if reasons:
        return SmokeVerdict(False, expected_rows, scored, reasons)
    return SmokeVerdict(True, expected_rows, scored, [f"{scored}/{expected_rows} rows scored"])


def _finite(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return math.isfinite(value)
    if isinstance(value, str):
        return value != ""
    if isinstance(value, Sequence):
        return len(value) > 0 and all(_finite(v) for v in value)
    return value is not None


@dataclass(frozen=True)
class DefaultDecision:
    verdict: Literal["switch", "keep"]
    default: str | None  # the endpoint's default after the decision
    previous_default: str | None  # what to restore on a rollback of the online champion
    candidate: str
    reasons: list[str] = field(default_factory=list)


def choose_default(current_default: str | None, candidate: str, smoke: SmokeVerdict) -> DefaultDecision:
    """The candidate becomes the default only after a passed smoke; a failed smoke keeps the
    current default (even when there is none: an endpoint without a default scores nothing,
    which is better than scoring with a model that failed its smoke test)."""
    if not smoke.passed:
        return DefaultDecision(
            "keep",
            current_default,
            current_default,
            candidate,
            [f"smoke of {candidate} failed: {'; '.join(smoke.reasons)}", f"default stays {current_default}"],
        )
    if current_default == candidate:
        return DefaultDecision("keep", candidate, None, candidate, [f"{candidate} is already the default"])
    return DefaultDecision(
        "switch",
        candidate,
        current_default,
        candidate,
        [*smoke.reasons, f"default {current_default} -> {candidate}"],
    )


def restore_default(info: BatchEndpointInfo, previous_default: str | None) -> str | None:
    """The deployment to make default again when the online champion is rolled back: the
    previous default if it still exists and works, else None (leave the endpoint alone)."""
    if previous_default is None or previous_default == info.default_deployment:
        return None
    dep = info.deployments.get(previous_default)
    return previous_default if dep is not None and dep.state == "succeeded" else None


# --------------------------------------------------------------------------- pruning

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def deployments_to_prune(
    deployments: Sequence[BatchDeploymentInfo],
    *,
    default: str | None,
    previous_default: str | None,
    keep_last: int,
) -> list[str]:
    """Deployments to delete: all but the `keep_last` newest, never the default, never the
    previous default (a rollback restores it), never one still being created or deleted."""
    if keep_last < 1:
        raise ValueError(f"keep_last must be at least 1, got {keep_last}")
    newest_first = sorted(deployments, key=lambda d: (d.created_at or _EPOCH, d.name), reverse=True)
    kept = {d.name for d in newest_first[:keep_last]}
    protected = {default, previous_default}
    return sorted(
        d.name
        for d in newest_first
        if d.name not in kept and d.name not in protected and d.state in ("succeeded", "failed")
    )


# --------------------------------------------------------------------------- A/B


@dataclass(frozen=True)
class AbArms:
    a: str  # the default deployment: scores the rest
    b: str | None  # the challenger arm; None when the endpoint has no second usable deployment
    reasons: list[str] = field(default_factory=list)


def ab_arms(info: BatchEndpointInfo) -> AbArms:
    """A: the default. B: the newest succeeded deployment that is not the default."""
    if info.default_deployment is None:
        raise ValueError(f"batch endpoint {info.name} has no default deployment: nothing can score")
    others = [
        d for d in info.deployments.values() if d.name != info.default_deployment and d.state == "succeeded"
    ]
    if not others:
        return AbArms(
            info.default_deployment, None, ["no second succeeded deployment: all rows go to the default"]
        )
    b = max(others, key=lambda d: (d.created_at or _EPOCH, d.name))
    return AbArms(
        info.default_deployment, b.name, [f"A={info.default_deployment}, B={b.name} (newest other)"]
    )


def ab_bucket(key: Any, salt: str) -> float:
    """A stable position in [0, 100) for a row key: the same key always lands in the same place."""
    digest = hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def split_rows(keys: Sequence[Any], percent: float, salt: str) -> tuple[list[int], list[int]]:
    """Row indices for arm A and arm B: a row goes to B when its key's bucket is below `percent`.

    Deterministic by key (not by position), so re-running an input, or scoring the same customer
    next week, gives the same arm."""
    if not 0 < percent < 100:
        raise ValueError(f"percent must be between 0 and 100 exclusive, got {percent}")
    a: list[int] = []
    b: list[int] = []
    for i, key in enumerate(keys):
        (b if ab_bucket(key, salt) < percent else a).append(i)
    return a, b


# --------------------------------------------------------------------------- outputs


def predictions_location(output_prefix: str, model: str, run_id: str) -> tuple[str, str]:
    """(container, prefix) of one scoring run's predictions, e.g.
    ('predictions', 'churn/score-20260101-abc/') from 'predictions/{model}/'."""
    container, _, prefix = output_prefix.format(model=model).partition("/")
    if not container:
        raise ValueError(f"output prefix {output_prefix!r} has no container")
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    return container, f"{prefix}{run_id}/"
