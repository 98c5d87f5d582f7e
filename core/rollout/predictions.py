"""Predictions as the gates see them: one record per answered request, and the two joins the
ML-aware gates need.

* Shadow gates compare blue's and green's answers to the SAME input: a mirrored request and its
  original share a correlation id (locally the endpoint server's request id; on Azure the
  correlation id model data collection writes), so `pair_by_request` pairs them.
* The online accuracy gate compares each deployment's answers with ground truth that lands later:
  `join_labels` joins predictions to labels on the entity id named in the policy.

Pure functions of data: the prediction log and the label files are read by adapters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.kernel.records import LabelRecord, PredictionRecord


@dataclass(frozen=True)
class ScorePair:
    request_id: str
    blue: float
    green: float


@dataclass(frozen=True)
class LabelledScore:
    entity_id: str
    score: float
    label: int


def pair_by_request(records: Iterable[PredictionRecord], blue: str, green: str) -> list[ScorePair]:
    """Blue's and green's answers to the same request, in the order green answered (a stable order:
    the sequential tests read the pairs as a stream). Unpaired answers are left out."""
    by_blue: dict[str, PredictionRecord] = {}
    by_green: dict[str, PredictionRecord] = {}
    for record in records:
        if record.deployment == blue:
            by_blue.setdefault(record.request_id, record)
        elif record.deployment == green:
            by_green.setdefault(record.request_id, record)
    greens = sorted(by_green.values(), key=lambda r: (r.time, r.request_id))
    return [
        ScorePair(g.request_id, by_blue[g.request_id].score, g.score)
        for g in greens
        if g.request_id in by_blue
    ]


def _instant(text: str) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (naive means UTC); None when absent or unreadable."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def join_labels(
    records: Iterable[PredictionRecord], labels: Iterable[LabelRecord], deployment: str
) -> list[LabelledScore]:
    """The deployment's live (not mirrored) predictions that have a label, one per entity (its first
    answer: later ones may have seen the outcome), in the order answered. Each prediction takes the
    first label known at or after it: a label whose time is before the prediction describes an earlier
    outcome of the same entity (a customer scored again) and is not joined. A label without a readable
    time is taken as it comes."""
    by_entity: dict[str, list[LabelRecord]] = {}
    for label in labels:
        by_entity.setdefault(label.entity_id, []).append(label)
    first: dict[str, PredictionRecord] = {}
    for record in sorted(records, key=lambda r: (r.time, r.request_id)):
        if record.deployment != deployment or record.mirrored or record.entity_id is None:
            continue
        first.setdefault(record.entity_id, record)
    joined: list[LabelledScore] = []
    for entity, record in first.items():
        predicted = _instant(record.time)
        for label in by_entity.get(entity, []):
            known = _instant(label.time)
            if predicted is None or known is None or known >= predicted:
                joined.append(LabelledScore(entity, record.score, int(label.label)))
                break
    return joined
