"""One drift check of one model, over ports: gather the evidence, judge it (core/monitoring/drift.py),
record the fact in the ledger and publish the figures Azure Monitor alerts on.

* Reference: the champion's training split (`training/{model}/{data_version}/train/`, written by the
  ingest step; `data_version` is a lineage tag of the registered version), through the policy's
  transform into the columns the endpoint receives. When the champion changes the reference
  changes with it, so a promoted challenger trained on the drifted data stops the alerts.
* Live: the rows the champion's deployments scored (not mirrored copies), as the prediction log
  records them (`PredictionRecord.inputs`), in the window `drift.window_start` picks, judged only
  up to where the log is complete, each entity once (`latest_per_entity`).
* The score (`monitoring.score`, on by default): the champion's training data holds no scores, so the
  first check window holding `min_rows` of the champion's own rows becomes its score reference (a
  ScoreReferenceSet fact, once per champion version; that window is not judged on the score), and
  later windows' scores are judged against it like any input column, as SCORE_COLUMN.
* Every check is a DriftEvaluated fact under the model's monitor ledger id (`ledger_id`), keyed by
  its check id, so a doubled tick checks once, and the last alert there starts the cooldown.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
import pandas as pd

from core.kernel.contract import load_contract
from core.kernel.datafiles import Containers
from core.kernel.policy import Policy
from core.kernel.ports import (
    DataLake,
    Endpoints,
    LedgerEntry,
    ModelRegistry,
    ModelVersion,
    PredictionLog,
    RunLedger,
)
from core.kernel.records import PredictionRecord
from core.monitoring.drift import (
    ColumnReference,
    DriftConfig,
    judge_drift,
    measure_window,
    reference_for,
    references_for,
    window_start,
)
from core.monitoring.facts import DriftEvaluated, ScoreReferenceSet
from core.monitoring.figures import DriftFigure

LEDGER_KIND = DriftEvaluated.ledger_kind
SCORE_COLUMN = "(score)"  # the champion's score, judged beside the input columns (never a feature name)


def ledger_id(model: str) -> str:
    """The ledger id a model's drift checks are recorded under (not a lifecycle run)."""
    return f"drift:{model}"


def check_entries(ledger: RunLedger, model: str) -> list[LedgerEntry]:
    """The model's recorded checks (`drift_evaluated`), without the score references beside them."""
    return [
        e for e in ledger.entries(ledger_id(model), LEDGER_KIND) if e.data.get("kind") == "drift_evaluated"
    ]


class DriftFigures(Protocol):
    """Where drift figures go so that Azure Monitor can alert on them: a Log Analytics custom table
    through the Logs Ingestion API on Azure, a SQLite table locally (core/monitoring/figures.py)."""

    def publish(self, figures: Sequence[DriftFigure]) -> None: ...


@dataclass(frozen=True)
class MonitorReference:
    version: str  # the champion's registry version
    data_version: str
    columns: dict[str, ColumnReference]


Transform = Callable[[pd.DataFrame], pd.DataFrame]


def load_transform(spec: str | None) -> Transform | None:
    """The policy's `monitoring.transform` ('package.module:function'), imported from the app."""
    if spec is None:
        return None
    module, _, name = spec.partition(":")
    found = getattr(importlib.import_module(module), name, None)
    if not callable(found):
        raise ValueError(f"monitoring.transform {spec!r}: {module} has no function {name!r}")
    return found


def _epoch(value: str) -> float:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.timestamp()


class DriftMonitor:
    def __init__(
        self,
        registry: ModelRegistry,
        lake: DataLake,
        predictions: PredictionLog,
        endpoints: Endpoints,
        ledger: RunLedger,
        figures: DriftFigures,
        containers: Containers = Containers(),
    ) -> None:
        self.registry, self.lake, self.predictions = registry, lake, predictions
        self.endpoints, self.ledger, self.figures = endpoints, ledger, figures
        self.containers = containers
        self._references: dict[tuple[str, str], MonitorReference] = {}
        self._scores: dict[tuple[str, str], ColumnReference] = {}  # (model, champion version)
        self._checked: set[str] = set()  # check ids this process made or found in the ledger

    # ------------------------------------------------------------------ evidence

    def reference(self, policy: Policy, champion: ModelVersion) -> MonitorReference:
        key = (policy.model, champion.version)
        if key not in self._references:
            self._references[key] = self._load_reference(policy, champion)
        return self._references[key]

    def _load_reference(self, policy: Policy, champion: ModelVersion) -> MonitorReference:
        monitoring = policy.monitoring
        assert monitoring is not None
        data_version = champion.tags.get("data_version", "")
        if not data_version:
            raise ValueError(
                f"champion {policy.model} v{champion.version} has no data_version tag: its training data, "
                "the drift reference, is unknown (register models through the lifecycle)"
            )
        prefix = f"{policy.model}/{data_version}/train/"
        parts = [b for b in self.lake.list(self.containers.training, prefix) if b.path.endswith(".parquet")]
        if not parts:
            raise ValueError(
                f"no training data under {self.containers.training}/{prefix} for the drift reference"
            )
        frame = pd.concat(
            [pd.read_parquet(io.BytesIO(self.lake.read(b.container, b.path))) for b in parts],
            ignore_index=True,
        )
        contract_drop = [c for c in frame.columns if c in self._not_features(policy)]
        rows = frame.drop(columns=contract_drop)
        transform = load_transform(monitoring.transform)
        if transform is not None:
            rows = transform(rows)
        wanted = monitoring.features or [str(c) for c in rows.columns]
        missing = [c for c in wanted if c not in rows.columns]
        if missing:
            raise ValueError(
                f"monitoring.features {missing} are not columns of the reference {list(rows.columns)}; "
                "name columns the endpoint receives (after monitoring.transform)"
            )
        columns = references_for({c: rows[c].to_numpy() for c in wanted}, monitoring.bins)
        return MonitorReference(champion.version, data_version, columns)

    def _not_features(self, policy: Policy) -> set[str]:
        """Label, id and entity columns never are features (read from the contract's file)."""
        contract = load_contract(policy.path(policy.data.contract))
        drop = {contract.label, contract.id_column, policy.rollout.gates.entity_id_column}
        return {c for c in drop if c}

    def live_rows(
        self, policy: Policy, champion: ModelVersion, end: datetime
    ) -> tuple[list[PredictionRecord], datetime]:
        """The champion's answered rows up to `end` (or up to where the log is complete), reaching
        back as far as the longest window; and the end actually used."""
        monitoring, endpoint = policy.monitoring, policy.rollout.endpoint
        assert monitoring is not None and endpoint is not None
        info = self.endpoints.get(endpoint)
        serving = [d for d, dep in info.deployments.items() if dep.model_version == champion.version]
        deployments = serving or [d for d, pct in info.traffic.items() if pct > 0]
        start = end - timedelta(seconds=monitoring.max_window_seconds)
        window = self.predictions.window(endpoint, deployments, start, end)
        if window.ingested_until is not None and window.ingested_until < end:
            end = window.ingested_until
        records = [
            r
            for r in window.records
            if not r.mirrored and r.inputs is not None and _epoch(r.time) < end.timestamp()
        ]
        return records, end

    def score_reference(
        self,
        policy: Policy,
        champion: ModelVersion,
        scores: Sequence[float],
        check_id: str,
        start: datetime,
        end: datetime,
    ) -> ColumnReference | None:
        """The champion's score reference: from this process, else the ledger, else set from this
        window when it holds min_rows of the champion's scores (then None: a window is not judged
        against itself; also None while the champion has scored too few rows)."""
        monitoring = policy.monitoring
        assert monitoring is not None
        key = (policy.model, champion.version)
        if key in self._scores:
            return self._scores[key]
        for entry in self.ledger.entries(ledger_id(policy.model), LEDGER_KIND):
            if (
                entry.data.get("kind") == "score_reference_set"
                and entry.data.get("version") == champion.version
            ):
                found = ScoreReferenceSet.model_validate(entry.data)
                self._scores[key] = ColumnReference(
                    SCORE_COLUMN, "numeric", tuple(found.counts), edges=tuple(found.edges)
                )
                return self._scores[key]
        if len(scores) < monitoring.min_rows:
            return None
        made = reference_for(SCORE_COLUMN, list(scores), monitoring.bins)
        fact = ScoreReferenceSet(
            model=policy.model,
            version=champion.version,
            check_id=check_id,
            window_start=start,
            window_end=end,
            rows=made.rows,
            counts=list(made.counts),
            edges=list(made.edges),
        )
        self.ledger.append(ledger_id(policy.model), LEDGER_KIND, fact.dump())
        self._scores[key] = made
        return None

    # ------------------------------------------------------------------ one check

    def last_alert(self, model: str) -> datetime | None:
        alerts = [e.data.get("window_end") for e in check_entries(self.ledger, model) if e.data.get("alert")]
        return datetime.fromisoformat(str(alerts[-1])) if alerts else None

    def checked(self, model: str, check_id: str) -> bool:
        """Made already (by this process, or by another before a restart: the ledger is asked once)."""
        if check_id not in self._checked and any(
            e.data.get("check_id") == check_id for e in check_entries(self.ledger, model)
        ):
            self._checked.add(check_id)
        return check_id in self._checked

    def check(self, policy: Policy, end: datetime, check_id: str) -> DriftEvaluated | None:
        """Check `policy.model` for the window ending at `end`; None when there is nothing to watch
        (no monitoring section, no endpoint, no champion) or this check was already made."""
        monitoring = policy.monitoring
        if monitoring is None or not policy.rollout.endpoint or self.checked(policy.model, check_id):
            return None
        champion = self.registry.champion(policy.model)
        if champion is None:
            return None
        reference = self.reference(policy, champion)
        records, end = self.live_rows(policy, champion, end)
        times = np.array([_epoch(r.time) for r in records])
        start_s = window_start(
            times,
            end.timestamp(),
            monitoring.window_seconds,
            monitoring.max_window_seconds,
            monitoring.min_rows,
        )
        latest = latest_per_entity([r for r, t in zip(records, times, strict=True) if t >= start_s])
        window: dict[str, list[object]] = {
            c: [(r.inputs or {}).get(c) for r in latest] for c in reference.columns
        }
        columns = dict(reference.columns)
        start = datetime.fromtimestamp(start_s, tz=end.tzinfo)
        if monitoring.score:
            scored = [r.score for r in latest if r.model_version == champion.version]
            score = self.score_reference(policy, champion, scored, check_id, start, end)
            if score is not None:
                columns[SCORE_COLUMN] = score
                window[SCORE_COLUMN] = list(scored)
        config = DriftConfig.from_policy(monitoring, len(columns))
        verdict = judge_drift(
            measure_window(columns, window),
            config,
            now=end,
            last_alert_at=self.last_alert(policy.model),
        )
        fact = verdict.fact(
            model=policy.model,
            check_id=check_id,
            window_start=start,
            window_end=end,
            reference_version=reference.version,
            reference_data=reference.data_version,
        )
        self.ledger.append(ledger_id(policy.model), LEDGER_KIND, fact.dump())
        self._checked.add(check_id)
        self.figures.publish(figures_of(fact, end))
        return fact


def latest_per_entity(records: Sequence[PredictionRecord]) -> list[PredictionRecord]:
    """The window's rows, each entity counted once (its latest row): the tests take rows as
    independent draws, and an entity scored again and again (a client polling, a retry) would count
    as evidence many times over. Rows without an entity id all count."""
    latest: dict[str, PredictionRecord] = {}
    anonymous: list[PredictionRecord] = []
    for record in records:
        if record.entity_id is None:
            anonymous.append(record)
        else:
            latest[record.entity_id] = record
    return [*latest.values(), *anonymous]


def figures_of(fact: DriftEvaluated, at: datetime) -> list[DriftFigure]:
    return [
        DriftFigure(
            TimeGenerated=at,
            Model=fact.model,
            CheckId=fact.check_id,
            FeatureName=c.column,
            Rows=c.rows,
            Psi=c.psi,
            PValue=c.p_value,
            Level=c.level,
            MinPsi=c.min_psi,
            Drifted=c.drifted,
            Verdict=fact.verdict,
            Alert=fact.alert,
            WindowStart=fact.window_start,
            WindowEnd=fact.window_end,
            ReferenceVersion=fact.reference_version,
        )
        for c in fact.columns
    ]
