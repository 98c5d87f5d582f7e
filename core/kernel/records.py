"""What the prediction log port returns: one record per answered request, and a label."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PredictionRecord:
    request_id: str  # pairs a mirrored request with its original
    deployment: str
    model_version: str
    entity_id: str | None  # the policy's entity id column, read from the request's input
    score: float  # the positive class's probability (binary classifier)
    time: str  # ISO 8601, when the deployment answered
    mirrored: bool = False
    # the row the model scored (its feature columns), as model data collection's `model_inputs`
    # records it; the drift monitor reads these. None: not recorded.
    inputs: dict[str, Any] | None = None


@dataclass(frozen=True)
class LabelRecord:
    entity_id: str
    label: int
    time: str  # ISO 8601, when the ground truth became known
