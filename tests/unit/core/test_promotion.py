"""The promotion decision: a verdict with its numbers and reasons, from data alone."""

from __future__ import annotations

import math

import pytest

from core.training.verdict import EvaluationOutputError, judge_challenger, parse_evaluation_metrics


def test_the_first_model_promotes_when_there_is_no_champion():
    d = judge_challenger(metric="auc", direction="max", challenger=0.81, champion=None)
    assert d.verdict == "promote"
    assert "no champion" in d.reasons[0]


def test_a_challenger_that_beats_the_champion_by_the_minimum_gains_promotes():
    d = judge_challenger(
        metric="auc", direction="max", challenger=0.86, champion=0.80, min_abs_gain=0.01, min_rel_gain=0.05
    )
    assert d.verdict == "promote"
    assert d.abs_gain == pytest.approx(0.06)
    assert d.rel_gain == pytest.approx(0.075)
    assert d.challenger == 0.86 and d.champion == 0.80


def test_a_gain_below_the_absolute_minimum_keeps_the_champion_and_says_why():
    d = judge_challenger(metric="auc", direction="max", challenger=0.803, champion=0.80, min_abs_gain=0.005)
    assert d.verdict == "keep"
    assert any("below the policy's min_abs_gain 0.005" in r for r in d.reasons)


def test_a_gain_below_the_relative_minimum_keeps_the_champion():
    d = judge_challenger(
        metric="auc", direction="max", challenger=0.81, champion=0.80, min_abs_gain=0.0, min_rel_gain=0.02
    )
    assert d.verdict == "keep"
    assert any("min_rel_gain" in r for r in d.reasons)


def test_a_tie_keeps_the_champion_even_with_zero_minimums():
    d = judge_challenger(metric="auc", direction="max", challenger=0.8, champion=0.8)
    assert d.verdict == "keep"
    assert "does not beat" in " ".join(d.reasons)


def test_for_a_metric_to_minimise_lower_is_better():
    better = judge_challenger(
        metric="logloss", direction="min", challenger=0.30, champion=0.40, min_abs_gain=0.05
    )
    worse = judge_challenger(metric="logloss", direction="min", challenger=0.45, champion=0.40)
    assert better.verdict == "promote" and better.abs_gain == pytest.approx(0.10)
    assert worse.verdict == "keep" and worse.abs_gain == pytest.approx(-0.05)


@pytest.mark.parametrize("bad", [None, math.nan, math.inf])
def test_a_challenger_without_a_finite_score_never_promotes(bad):
    assert judge_challenger(metric="auc", direction="max", challenger=bad, champion=None).verdict == "keep"


def test_the_evaluation_output_is_read_for_both_models():
    doc = {"challenger": {"auc": 0.9, "n": 100}, "champion": {"auc": 0.8, "n": 100}, "eval_rows": 100}
    challenger, champion, rows = parse_evaluation_metrics(doc, "auc", expect_champion=True)
    assert challenger["auc"] == 0.9 and champion["auc"] == 0.8 and rows == 100


def test_a_champion_missing_from_the_evaluation_is_an_error_not_a_promotion():
    doc = {"challenger": {"auc": 0.9}, "champion": None, "eval_rows": 10}
    with pytest.raises(EvaluationOutputError, match="champion"):
        parse_evaluation_metrics(doc, "auc", expect_champion=True)


def test_an_evaluation_without_the_policy_metric_names_what_it_had():
    with pytest.raises(EvaluationOutputError, match=r"did not report 'f1'.*\['auc'\]"):
        parse_evaluation_metrics({"challenger": {"auc": 0.9}}, "f1", expect_champion=False)
