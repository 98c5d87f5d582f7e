"""What the gates decide, as plain data: each gate kind's configuration and verdict, with every
number that led to it.

Apart from the statistics (traffic_gate, shadow_gate, accuracy_gate import scipy and numpy) so
the facts, payloads and orchestrators that carry a verdict load without them: the trigger side
of the app indexes without scipy (issue 19, cold start).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from core.kernel.policy import RolloutPolicy

Verdict = Literal["pass", "fail", "need_more_data"]
# What a gate's evidence says: a verdict, or "unavailable" when the telemetry could not be read
Reading = Literal["pass", "fail", "need_more_data", "unavailable"]


# --------------------------------------------------------------------------- traffic (error rate, latency, SLO)


@dataclass(frozen=True)
class GateConfig:
    """One gate's rules. `alpha` is THIS gate's false-rollback budget (see for_rollout)."""

    alpha: float = 0.05
    beta: float = 0.05  # missed-regression rate at the margin: level of the sequential pass test
    power: float = 0.8  # planning power of min_sample_size (the fixed-sample reference); no pass rule
    error_rate_margin: float = 0.01  # absolute increase of green's error rate that matters
    p95_rel_margin: float | None = 0.2  # relative p95 increase that matters; None: no latency test
    p99_rel_margin: float | None = 0.3  # relative p99 increase that matters: the tail-share test
    slo_p99_ms: float | None = None  # absolute SLO: at most 1% of green's requests above it
    # a latency share proven worse fails only when green's quantile is this many ms above blue's
    latency_floor_ms: float = 0.0
    min_samples: int = 200  # policy floor on green requests before any pass
    # prior guesses, used only while blue has too few requests to estimate them
    prior_error_rate: float = 0.01
    prior_latency_sigma: float = 0.5  # log-scale spread of latency (lognormal); 0.5 is typical

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or not 0 < self.beta < 1 or not 0 < self.power < 1:
            raise ValueError(f"alpha={self.alpha}, beta={self.beta}, power={self.power} must be in (0, 1)")
        if not 0 < self.error_rate_margin < 1:
            raise ValueError(f"error_rate_margin={self.error_rate_margin} must be in (0, 1), e.g. 0.01")

    @property
    def metrics(self) -> int:
        """Tests sharing this gate's alpha: error rate, and each latency test the policy turns on."""
        return (
            1
            + (self.p95_rel_margin is not None)
            + (self.p99_rel_margin is not None)
            + (self.slo_p99_ms is not None)
        )

    @classmethod
    def for_rollout(cls, rollout: RolloutPolicy, gated_steps: int) -> GateConfig:
        """Build from the policy's `rollout` section; alpha is split evenly over the gated steps
        (mirror phase included) and over the gate kinds the policy turns on (this one, shadow,
        online accuracy) so the rollout as a whole keeps the policy's alpha. beta and power are the
        test's design, not policy: they keep their defaults."""
        gates = rollout.gates
        return cls(
            alpha=gates.alpha / max(1, gated_steps) / gates.gate_kinds,
            error_rate_margin=gates.error_rate.max_abs_increase,
            p95_rel_margin=gates.latency.p95_max_rel_increase,
            p99_rel_margin=gates.latency.p99_max_rel_increase,
            latency_floor_ms=gates.latency.min_increase_ms,
            slo_p99_ms=gates.slo.p99_ms,
            min_samples=rollout.min_samples,
        )


@dataclass(frozen=True)
class MetricTest:
    """One sequential comparison of green vs blue proportions, with every number that led to it."""

    metric: str  # error_rate | slow_share | tail_share | slo_p99_share
    green_n: int
    green_events: int
    blue_n: int
    blue_events: int
    green_rate: float
    blue_rate: float
    difference: float
    margin: float
    alpha: float
    beta: float
    fail_e_value: float  # mSPRT statistic for "green is worse"; fail when >= fail_threshold
    fail_threshold: float
    pass_e_value: float  # SPRT statistic for "green is worse by less than the margin"
    pass_threshold: float
    min_samples: (
        int  # green requests the pass test expects to need for an equal green (policy floor included)
    )
    outcome: Verdict


@dataclass(frozen=True)
class GateVerdict:
    verdict: Reading
    reasons: list[str]
    endpoint: str
    green: str
    blue: str | None
    window_start: str
    window_end: str
    ingested_until: str | None
    green_requests: int
    blue_requests: int
    min_samples: int
    tests: list[MetricTest] = field(default_factory=list)
    slo: dict[str, Any] = field(default_factory=dict)
    alpha: float = 0.0
    query: str = ""

    def to_record(self) -> dict[str, Any]:
        """Everything the ledger keeps about the evaluation (window, counts, statistics, query)."""
        return asdict(self)


# --------------------------------------------------------------------------- online accuracy


Metric = Literal["auc", "accuracy"]


@dataclass(frozen=True)
class OnlineAccuracyConfig:
    metric: Metric = "auc"
    margin: float = 0.02  # green may be worse than blue by less than this (absolute)
    alpha: float = 0.05  # this gate's false-rollback budget
    beta: float = 0.05
    min_labels: int = 200  # labelled predictions per deployment before any pass
    min_per_class: int = 20  # AUC: positives and negatives per deployment
    decision_threshold: float = 0.5  # accuracy: score >= this predicts the positive class

    @classmethod
    def for_rollout(cls, rollout: Any) -> OnlineAccuracyConfig:
        """From the policy's `rollout` section (gates.online_accuracy must be set). The gate is judged
        once per rollout (before the last step), so its alpha is split over gate kinds only."""
        gates = rollout.gates
        online = gates.online_accuracy
        if online is None:
            raise ValueError(
                "rollout.gates.online_accuracy is not set: the policy has no online accuracy gate"
            )
        return cls(
            metric=online.metric,
            margin=online.margin,
            alpha=gates.alpha / gates.gate_kinds,
            min_labels=online.min_labels,
        )

    def __post_init__(self) -> None:
        if not 0 < self.margin < 1:
            raise ValueError(f"margin={self.margin} must be in (0, 1), e.g. 0.02")
        if not 0 < self.alpha < 1 or not 0 < self.beta < 1:
            raise ValueError(f"alpha={self.alpha} and beta={self.beta} must be in (0, 1)")


@dataclass(frozen=True)
class OnlineAccuracyVerdict:
    verdict: Reading
    reasons: list[str]
    metric: str
    green: str
    blue: str
    green_labelled: int
    blue_labelled: int
    green_value: float | None
    blue_value: float | None
    difference: float | None  # blue - green: > 0 means green is worse
    variance: float | None
    margin: float
    alpha: float
    beta: float
    fail_e_value: float | None
    fail_threshold: float
    pass_e_value: float | None
    pass_threshold: float
    min_labels: int
    labels_until: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- shadow


@dataclass(frozen=True)
class ShadowConfig:
    """One shadow gate's rules; `alpha` is THIS gate's false-rollback budget."""

    alpha: float = 0.05
    beta: float = 0.05
    max_disagreement: float | None = 0.05  # share of pairs whose predicted class differs
    decision_threshold: float = 0.5  # score >= this is the positive class
    max_mean_shift: float | None = 0.05  # |mean(green score - blue score)|
    max_psi: float | None = 0.2
    psi_bins: int = 10
    min_pairs: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or not 0 < self.beta < 1:
            raise ValueError(f"alpha={self.alpha} and beta={self.beta} must be in (0, 1)")
        if self.max_disagreement is not None and not 0 < self.max_disagreement < 1:
            raise ValueError(f"max_disagreement={self.max_disagreement} must be in (0, 1), e.g. 0.05")
        if self.max_mean_shift is not None and not 0 < self.max_mean_shift < 1:
            raise ValueError(f"max_mean_shift={self.max_mean_shift} must be in (0, 1), e.g. 0.05")
        if self.psi_bins < 2:
            raise ValueError(f"psi_bins={self.psi_bins} must be at least 2")

    @classmethod
    def for_rollout(cls, rollout: Any, gated_steps: int) -> ShadowConfig:
        """From the policy's `rollout` section (gates.shadow must be set): this gate kind's share
        of the policy's alpha, split over the gated steps as GateConfig.for_rollout does."""
        gates = rollout.gates
        shadow = gates.shadow
        if shadow is None:
            raise ValueError("rollout.gates.shadow is not set: the policy has no shadow gate")
        return cls(
            alpha=gates.alpha / max(1, gated_steps) / gates.gate_kinds,
            max_disagreement=shadow.max_disagreement,
            decision_threshold=shadow.decision_threshold,
            max_mean_shift=shadow.max_mean_shift,
            max_psi=shadow.max_psi,
            psi_bins=shadow.psi_bins,
            min_pairs=shadow.min_pairs,
        )

    @property
    def sequential_metrics(self) -> int:
        return (self.max_disagreement is not None) + (self.max_mean_shift is not None)


@dataclass(frozen=True)
class ShadowTest:
    """One metric's evaluation, with every number that led to it."""

    metric: str  # disagreement_rate | score_shift | psi
    n: int
    statistic: float
    threshold: float
    alpha: float  # this metric's share of the gate's alpha (0 for a guardrail)
    beta: float
    fail_e_value: float | None  # betting wealth for "worse than the threshold"; None for PSI
    fail_threshold: float | None
    pass_e_value: float | None  # betting wealth for "within the threshold"
    pass_threshold: float | None
    outcome: Verdict


@dataclass(frozen=True)
class ShadowVerdict:
    verdict: Reading
    reasons: list[str]
    green: str
    blue: str
    pairs: int
    min_pairs: int
    alpha: float
    beta: float
    tests: list[ShadowTest] = field(default_factory=list)
    window_start: str | None = None
    window_end: str | None = None

    def to_record(self) -> dict[str, Any]:
        """Everything the ledger keeps about the evaluation (JSON-able)."""
        return asdict(self)
