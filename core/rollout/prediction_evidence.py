"""The ML-aware rollout gates over one window: read the prediction log (and the labels), judge,
record the evaluation in the ledger. Use cases taking ports, like core/rollout/traffic_evidence.py.

* `judge_shadow`: green's answers vs blue's on the same requests (a mirrored copy carries the id of
  the request it copies), over [start, min(end, ingested)]: the log is judged only where complete.
* `judge_online_accuracy`: each deployment's live predictions since green first served live,
  joined on the entity id to the label files under the policy's labels prefix; the verdict is
  recorded (evidence only: the label deadline is core.rollout.ramp.next_move's).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

import pandas as pd

from core.kernel.ports import DataLake, EvidenceUnavailable, PredictionLog, RunLedger
from core.kernel.records import LabelRecord, PredictionRecord
from core.rollout.accuracy_gate import evaluate_online_accuracy, unavailable_accuracy
from core.rollout.evidence_payloads import (
    OnlineAccuracyInput,
    OnlineAccuracyResult,
    ShadowGateInput,
    ShadowGateResult,
)
from core.rollout.facts import OnlineAccuracyEvaluated, ShadowGateEvaluated
from core.rollout.predictions import join_labels, pair_by_request
from core.rollout.shadow_gate import evaluate_shadow
from core.rollout.traffic_log import iso_ms
from core.rollout.verdicts import OnlineAccuracyVerdict, ShadowVerdict

log = logging.getLogger("core.rollout.prediction_evidence")

TIME_COLUMNS = ("label_time", "time")


BINARY_LABELS = frozenset({0, 1})  # the online gate's metric (AUC) is over a binary outcome
MAX_LABEL_PROBLEMS = 10  # reasons kept in the evidence; the counts cover every skipped row and file


@dataclass(frozen=True)
class Labels:
    records: list[LabelRecord]
    files: int
    rows: int
    files_skipped: int = 0
    rows_skipped: int = 0
    problems: tuple[str, ...] = ()


def label_domain(allowed: Iterable[object] | None) -> frozenset[int]:
    """The labels a label file may give: the contract's `allowed` values of the label column when they
    are integers, else the binary outcome the gate's metric is defined on."""
    values = {v for v in allowed or () if isinstance(v, int) and not isinstance(v, bool)}
    return frozenset(values) if values else BINARY_LABELS


def label_value(value: object, domain: frozenset[int]) -> int | None:
    """The label a cell holds when it is one of `domain` (`1`, `1.0`, `" 1 "`), else None: text such
    as `yes` or `=1+1`, fractions and out-of-domain integers (5, -1, 2) are not labels of this model."""
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else float(value)
    except ValueError:
        return None
    if not number.is_integer() or int(number) not in domain:
        return None
    return int(number)


def _complete(records: Iterable[PredictionRecord], until: str) -> list[PredictionRecord]:
    return [r for r in records if r.time <= until]


def judge_shadow(predictions: PredictionLog, ledger: RunLedger, req: ShadowGateInput) -> ShadowGateResult:
    try:
        window = predictions.window(req.endpoint, [req.green, req.blue], req.start, req.end)
    except EvidenceUnavailable as exc:
        return _shadow_unavailable(ledger, req, str(exc))
    end = min(req.end, window.ingested_until) if window.ingested_until else req.end
    records = _complete(window.records, iso_ms(end)) if end > req.start else []
    pairs = pair_by_request(records, req.blue, req.green)
    verdict = evaluate_shadow(
        pairs, req.green, req.blue, req.shadow, window_start=iso_ms(req.start), window_end=iso_ms(end)
    )
    until = iso_ms(window.ingested_until) if window.ingested_until else None
    fact = ShadowGateEvaluated.of(req.phase, req.percent, req.endpoint, verdict, until, req.blocking)
    ledger.append(req.run_id, fact.ledger_kind, fact.dump())
    observed = [t.statistic for t in verdict.tests if t.metric == "disagreement_rate"]
    return ShadowGateResult(
        verdict=verdict.verdict,
        reasons=verdict.reasons[:5],
        pairs=verdict.pairs,
        min_pairs=verdict.min_pairs,
        disagreement=observed[0] if observed else None,
    )


def _shadow_unavailable(ledger: RunLedger, req: ShadowGateInput, why: str) -> ShadowGateResult:
    """The prediction log could not be read: recorded as unavailable evidence (it holds the step)."""
    reasons = [f"prediction log unavailable: {why}"]
    verdict = ShadowVerdict(
        "unavailable",
        reasons,
        req.green,
        req.blue,
        0,
        0,
        req.shadow.alpha,
        req.shadow.beta,
        window_start=iso_ms(req.start),
        window_end=iso_ms(req.end),
    )
    fact = ShadowGateEvaluated.of(req.phase, req.percent, req.endpoint, verdict, None, req.blocking)
    ledger.append(req.run_id, fact.ledger_kind, fact.dump())
    return ShadowGateResult(verdict="unavailable", reasons=reasons, pairs=0, min_pairs=0)


def read_labels(
    lake: DataLake,
    container: str,
    prefix: str,
    entity_column: str,
    label_column: str,
    domain: frozenset[int] = BINARY_LABELS,
) -> Labels:
    """Every label file (CSV: entity id, label, optional label_time) under container/prefix.

    Anyone who may write under the prefix can put anything there, so nothing in a file is fatal to
    the gate: an unreadable file, one without the two columns, and a row whose label is not in the
    model's label domain are skipped and counted, with the first reasons kept for the evidence."""
    records: list[LabelRecord] = []
    files = rows = files_skipped = rows_skipped = 0
    problems: list[str] = []

    def problem(text: str) -> None:
        log.warning("labels %s/%s", container, text)
        if len(problems) < MAX_LABEL_PROBLEMS:
            problems.append(text)

    for blob in sorted(lake.list(container, prefix), key=lambda b: b.path):
        if not blob.path.lower().endswith(".csv") or blob.size == 0:
            continue
        try:
            frame = pd.read_csv(io.BytesIO(lake.read(container, blob.path)), dtype=str)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            files_skipped += 1
            problem(f"{blob.path}: unreadable as CSV ({str(exc)[:200]})")
            continue
        label = label_column if label_column in frame.columns else "label"
        if entity_column not in frame.columns or label not in frame.columns:
            files_skipped += 1
            problem(
                f"{blob.path}: needs columns {entity_column} and {label_column}, has {list(frame.columns)[:20]}"
            )
            continue
        when = next((c for c in TIME_COLUMNS if c in frame.columns), None)
        times = frame[when].astype(str).tolist() if when else [""] * len(frame)
        files += 1
        rows += len(frame)
        bad: list[int] = []
        for line, (entity, value, at) in enumerate(
            zip(frame[entity_column].tolist(), frame[label].tolist(), times, strict=True), start=2
        ):
            if pd.isna(entity) or pd.isna(value):
                continue  # no label yet
            known = label_value(value, domain)
            if known is None:
                bad.append(line)
                continue
            records.append(LabelRecord(str(entity), known, str(at)))
        if bad:
            rows_skipped += len(bad)
            problem(
                f"{blob.path}: {len(bad)} row(s) with a label outside {sorted(domain)} skipped "
                f"(lines {', '.join(map(str, bad[:5]))}{', ...' if len(bad) > 5 else ''})"
            )
    return Labels(records, files, rows, files_skipped, rows_skipped, tuple(problems))


def judge_online_accuracy(
    predictions: PredictionLog,
    lake: DataLake,
    ledger: RunLedger,
    req: OnlineAccuracyInput,
    label_column: str,
    domain: frozenset[int] = BINARY_LABELS,
) -> OnlineAccuracyResult:
    """`label_column`: the label's name in the run's data contract (label files may call it `label`);
    `domain`: the labels it may hold (label_domain)."""
    try:
        window = predictions.window(req.endpoint, [req.green, req.blue], req.since, req.end)
    except EvidenceUnavailable as exc:
        reasons = [f"prediction log unavailable: {exc}"]
        fact = OnlineAccuracyEvaluated.of(
            req.phase,
            req.percent,
            unavailable_accuracy(req.green, req.blue, req.config, reasons),
            endpoint=req.endpoint,
            window_start=iso_ms(req.since),
            window_end=iso_ms(req.end),
            labels=f"{req.labels_container}/{req.labels_prefix}",
            label_files=0,
            label_rows=0,
        )
        ledger.append(req.run_id, fact.ledger_kind, fact.dump())
        return OnlineAccuracyResult(
            verdict="unavailable",
            reasons=reasons,
            green_labelled=0,
            blue_labelled=0,
            min_labels=0,
        )
    end = min(req.end, window.ingested_until) if window.ingested_until else req.end
    records = _complete(window.records, iso_ms(end))
    labels = read_labels(
        lake, req.labels_container, req.labels_prefix, req.entity_id_column, label_column, domain
    )
    latest = max((r.time for r in labels.records if r.time), default=None)
    verdict: OnlineAccuracyVerdict = evaluate_online_accuracy(
        join_labels(records, labels.records, req.green),
        join_labels(records, labels.records, req.blue),
        req.green,
        req.blue,
        req.config,
    )
    if latest:
        verdict = replace(verdict, labels_until=latest)
    fact = OnlineAccuracyEvaluated.of(
        req.phase,
        req.percent,
        verdict,
        endpoint=req.endpoint,
        window_start=iso_ms(req.since),
        window_end=iso_ms(end),
        labels=f"{req.labels_container}/{req.labels_prefix}",
        label_files=labels.files,
        label_rows=labels.rows,
        label_files_skipped=labels.files_skipped,
        label_rows_skipped=labels.rows_skipped,
        label_problems=list(labels.problems),
    )
    ledger.append(req.run_id, fact.ledger_kind, fact.dump())
    return OnlineAccuracyResult(
        verdict=verdict.verdict,
        reasons=verdict.reasons[:5],
        green_labelled=verdict.green_labelled,
        blue_labelled=verdict.blue_labelled,
        min_labels=verdict.min_labels,
        blue_value=verdict.blue_value,
        positive_rate=_positive_rate(verdict.details.get("classes", {}).get(req.blue)),
    )


def _positive_rate(classes: list[int] | tuple[int, int] | None) -> float | None:
    if not classes or sum(classes) == 0 or min(classes) == 0:
        return None
    return classes[0] / sum(classes)
