"""Label files are written by anyone with access to the labels prefix: a hostile or broken file is
skipped and reported in the rollout's evidence, never fatal to the online accuracy gate, and only
labels in the model's label domain join (issue 20, items 4 and 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.kernel.records import PredictionRecord
from core.rollout.accuracy_gate import OnlineAccuracyConfig
from core.rollout.evidence_payloads import OnlineAccuracyInput
from core.rollout.prediction_evidence import judge_online_accuracy, label_domain, label_value, read_labels
from tests.fakes import FakeDataLake, FakePredictionLog, FakeRunLedger

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GOOD = "customer_id,churned,label_time\n" + "".join(f"c{i},{i % 2},2026-12-01T13:00:00Z\n" for i in range(10))


def _lake(*files: tuple[str, str]) -> FakeDataLake:
    lake = FakeDataLake()
    for name, text in files:
        lake.put("labels", f"churn/{name}", text.encode())
    return lake


def _read(lake: FakeDataLake):
    return read_labels(lake, "labels", "churn/", "customer_id", "churned", frozenset({0, 1}))


def test_a_formula_or_a_word_in_the_label_column_skips_that_row_and_names_it():
    lake = _lake(("a-good.csv", GOOD), ("b-hostile.csv", "customer_id,churned\nx1,=1+1\nx2,yes\nx3,1\n"))
    labels = _read(lake)
    assert sorted(r.entity_id for r in labels.records) == [*sorted(f"c{i}" for i in range(10)), "x3"]
    assert labels.rows_skipped == 2
    assert labels.problems == (
        "churn/b-hostile.csv: 2 row(s) with a label outside [0, 1] skipped (lines 2, 3)",
    )


def test_labels_outside_the_domain_are_not_joined_and_cannot_win_as_the_first_label():
    lake = _lake(("a.csv", "customer_id,churned\nc1,5\nc1,-1\nc1,2\nc1,1\nc2,0.5\nc2,0\n"))
    labels = _read(lake)
    assert [(r.entity_id, r.label) for r in labels.records] == [("c1", 1), ("c2", 0)]
    assert labels.rows_skipped == 4


def test_an_unreadable_file_or_one_without_the_columns_is_skipped_and_counted():
    lake = _lake(("a.csv", GOOD), ("b.csv", "\x00\xff garbage"), ("c.csv", "who,what\n1,2\n"))
    labels = _read(lake)
    assert labels.files == 1 and labels.files_skipped == 2 and len(labels.records) == 10
    assert any("c.csv: needs columns customer_id and churned" in p for p in labels.problems)


def test_the_label_domain_is_the_contracts_allowed_integers_or_else_binary():
    assert label_domain([0, 1, 2]) == frozenset({0, 1, 2})
    assert label_domain(None) == frozenset({0, 1}) == label_domain(["yes", "no"])
    assert [label_value(v, frozenset({0, 1})) for v in ("1", " 0 ", "1.0", 1, "2", "=1+1", True)] == [
        1, 0, 1, 1, None, None, None,
    ]  # fmt: skip


def test_a_hostile_label_file_does_not_stop_the_gate_and_is_in_the_rollouts_evidence():
    predictions = FakePredictionLog()
    for i in range(10):
        for deployment in ("green", "blue"):
            predictions.add(
                PredictionRecord(
                    f"{deployment}-{i}", deployment, "1", f"c{i}", 0.9 if i % 2 else 0.1,
                    (T0 + timedelta(minutes=1)).isoformat(),
                )
            )  # fmt: skip
    lake = _lake(("a-good.csv", GOOD), ("b-hostile.csv", "customer_id,churned\nc1,=1+1\nc3,yes\n"))
    ledger = FakeRunLedger()
    req = OnlineAccuracyInput(
        run_id="churn-20261201120000-abcdef", endpoint="churn-endpoint", green="green", blue="blue",
        phase=1, percent=10, since=T0, end=T0 + timedelta(hours=2), config=OnlineAccuracyConfig(min_labels=5),
        entity_id_column="customer_id", labels_container="labels", labels_prefix="churn/",
    )  # fmt: skip
    result = judge_online_accuracy(predictions, lake, ledger, req, "churned", frozenset({0, 1}))
    assert result.green_labelled == result.blue_labelled == 10
    (fact,) = [
        e.data for e in ledger.entries(req.run_id) if e.data.get("kind") == "online_accuracy_evaluated"
    ]
    assert fact["label_rows_skipped"] == 2 and fact["label_files"] == 2
    assert fact["label_problems"] == [
        "churn/b-hostile.csv: 2 row(s) with a label outside [0, 1] skipped (lines 2, 3)"
    ]
