"""Payloads of the ML-aware rollout gates (shadow agreement, online accuracy on delayed labels)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from core.kernel.activity import Activity
from core.kernel.payload import Payload
from core.rollout.verdicts import OnlineAccuracyConfig, ShadowConfig

__all__ = [
    "ONLINE_ACCURACY",
    "SHADOW_GATE",
    "OnlineAccuracyInput",
    "OnlineAccuracyResult",
    "ShadowGateInput",
    "ShadowGateResult",
]

Verdict = Literal["pass", "fail", "need_more_data", "unavailable"]


class ShadowGateInput(Payload):
    run_id: str
    endpoint: str
    green: str
    blue: str
    phase: int
    percent: int
    start: datetime
    end: datetime
    shadow: ShadowConfig
    blocking: bool = True


class ShadowGateResult(Payload):
    verdict: Verdict
    reasons: list[str]
    pairs: int
    min_pairs: int
    disagreement: float | None = None  # the observed share of pairs whose class differs (plans the pairs)


class OnlineAccuracyInput(Payload):
    run_id: str
    endpoint: str
    green: str
    blue: str
    phase: int
    percent: int
    since: datetime  # green's first live request: both deployments are judged over [since, end]
    end: datetime
    config: OnlineAccuracyConfig
    entity_id_column: str
    labels_container: str
    labels_prefix: str


class OnlineAccuracyResult(Payload):
    verdict: Verdict  # evidence only: what the rollout does with it is core.rollout.ramp.next_move
    reasons: list[str]
    green_labelled: int
    blue_labelled: int
    min_labels: int
    blue_value: float | None = None  # blue's live metric (plans the label budget)
    positive_rate: float | None = None  # share of positive labels among blue's (AUC's class balance)


# --------------------------------------------------------------------------- activities

SHADOW_GATE = Activity("rollout_shadow_gate", ShadowGateInput, ShadowGateResult)
ONLINE_ACCURACY = Activity("rollout_online_accuracy", OnlineAccuracyInput, OnlineAccuracyResult)
