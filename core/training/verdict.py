"""Pure decisions: functions of data that return their verdict with the numbers and reasons.

The lifecycle records these verbatim in the ledger and in the orchestration's status, so an
operator can always answer "why was (or wasn't) this model promoted?" without re-running anything.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChallengerVerdict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Literal["promote", "keep"]
    metric: str
    direction: Literal["max", "min"]
    challenger: float | None
    champion: float | None
    abs_gain: float | None = None  # improvement in the metric's good direction (positive is better)
    rel_gain: float | None = None  # abs_gain / |champion|
    min_abs_gain: float = 0.0
    min_rel_gain: float = 0.0
    reasons: list[str] = Field(default_factory=list)


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def judge_challenger(
    *,
    metric: str,
    direction: Literal["max", "min"],
    challenger: float | None,
    champion: float | None,
    min_abs_gain: float = 0.0,
    min_rel_gain: float = 0.0,
) -> ChallengerVerdict:
    """Promote the challenger only if it beats the champion by BOTH minimum gains.

    Ties and gains below the thresholds keep the champion (a retrain that is merely as good is
    not worth a rollout). With no champion the first model promotes, provided it has a score.
    """
    base: dict[str, Any] = dict(
        metric=metric,
        direction=direction,
        challenger=challenger,
        champion=champion,
        min_abs_gain=min_abs_gain,
        min_rel_gain=min_rel_gain,
    )
    if not _finite(challenger):
        return ChallengerVerdict(
            verdict="keep",
            **base,
            reasons=[f"the challenger has no finite {metric} (got {challenger}); nothing to promote"],
        )
    assert challenger is not None
    if champion is None:
        return ChallengerVerdict(
            verdict="promote",
            **base,
            reasons=[f"no champion yet: the first model promotes ({metric}={challenger:.6g})"],
        )
    if not _finite(champion):
        return ChallengerVerdict(
            verdict="promote",
            **base,
            reasons=[
                f"the champion has no finite {metric} ({champion}); the challenger scores {challenger:.6g}"
            ],
        )
    sign = 1.0 if direction == "max" else -1.0
    abs_gain = sign * (challenger - champion)
    rel_gain = abs_gain / abs(champion) if champion != 0 else (math.inf if abs_gain > 0 else 0.0)
    reasons: list[str] = []
    better = "higher" if direction == "max" else "lower"
    reasons.append(
        f"{metric}: challenger {challenger:.6g} vs champion {champion:.6g} ({better} is better): "
        f"gain {abs_gain:+.6g} absolute, {rel_gain:+.3%} relative"
        if math.isfinite(rel_gain)
        else f"{metric}: challenger {challenger:.6g} vs champion {champion:.6g}: gain {abs_gain:+.6g}"
    )
    ok = abs_gain > 0
    if abs_gain <= 0:
        reasons.append("the challenger does not beat the champion")
    if abs_gain < min_abs_gain:
        ok = False
        reasons.append(f"absolute gain {abs_gain:+.6g} is below the policy's min_abs_gain {min_abs_gain:g}")
    if rel_gain < min_rel_gain:
        ok = False
        reasons.append(f"relative gain {rel_gain:+.3%} is below the policy's min_rel_gain {min_rel_gain:.3%}")
    if ok:
        reasons.append("the gain meets both policy minimums")
    return ChallengerVerdict(
        verdict="promote" if ok else "keep",
        **base,
        abs_gain=abs_gain,
        rel_gain=rel_gain if math.isfinite(rel_gain) else None,
        reasons=reasons,
    )


class EvaluationOutputError(ValueError):
    """The evaluation job's metrics cannot support a decision (missing model, metric or champion)."""


def parse_evaluation_metrics(
    doc: dict, metric: str, *, expect_champion: bool
) -> tuple[dict[str, float], dict[str, float] | None, int | None]:
    """Read the evaluation job's metrics.json: {"challenger": {...}, "champion": {...}|null, "eval_rows": n}.

    A run that has a champion must have the champion scored on the same split; deciding without
    it would promote by default, so that is an error, not a missing value."""
    if not isinstance(doc, dict) or not isinstance(doc.get("challenger"), dict):
        raise EvaluationOutputError(f"evaluation output has no 'challenger' metrics: {doc!r:.300}")

    def numbers(d: dict) -> dict[str, float]:
        return {k: float(v) for k, v in d.items() if isinstance(v, int | float) and not isinstance(v, bool)}

    challenger = numbers(doc["challenger"])
    champion = numbers(doc["champion"]) if isinstance(doc.get("champion"), dict) else None
    if metric not in challenger:
        raise EvaluationOutputError(
            f"the evaluation job did not report {metric!r} for the challenger (it reported {sorted(challenger)}); "
            "fix the policy's evaluation.metric or the evaluation code"
        )
    if expect_champion and (champion is None or metric not in champion):
        raise EvaluationOutputError(
            f"a champion exists but the evaluation job reported no {metric!r} for it; "
            "was the champion input passed to the evaluation job?"
        )
    rows = doc.get("eval_rows")
    return challenger, champion, int(rows) if isinstance(rows, int | float) else None
