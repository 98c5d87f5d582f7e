"""Azure ML's traffic rules, as the local endpoint server enforces them."""

from __future__ import annotations

import pytest

from core.kernel.ports import TrafficRuleError
from core.rollout.traffic_rules import validate_split

READY = {"blue": "succeeded", "green": "succeeded"}


def test_a_split_summing_to_100_is_accepted_and_lists_every_deployment() -> None:
    traffic, mirror = validate_split("churn", READY, {"blue": 100}, {})
    assert traffic == {"blue": 100, "green": 0}
    assert mirror == {}


def test_all_zero_is_a_valid_split() -> None:
    assert validate_split("churn", READY, {"blue": 0, "green": 0}, {})[0] == {"blue": 0, "green": 0}


@pytest.mark.parametrize("traffic", [{"blue": 90}, {"blue": 60, "green": 60}])
def test_a_split_that_does_not_sum_to_100_is_refused(traffic: dict[str, int]) -> None:
    with pytest.raises(TrafficRuleError, match="sum to 100"):
        validate_split("churn", READY, traffic, {})


def test_traffic_to_an_unknown_deployment_is_refused() -> None:
    with pytest.raises(TrafficRuleError, match="'red', which does not exist"):
        validate_split("churn", READY, {"blue": 50, "red": 50}, {})


@pytest.mark.parametrize("value", [-10, 110, 12.5, "50", True])
def test_percentages_are_integers_between_0_and_100(value: object) -> None:
    with pytest.raises(TrafficRuleError):
        validate_split("churn", READY, {"blue": value, "green": 0}, {})


def test_a_deployment_still_creating_cannot_take_live_traffic() -> None:
    with pytest.raises(TrafficRuleError, match="'creating'"):
        validate_split("churn", {"blue": "succeeded", "green": "creating"}, {"blue": 90, "green": 10}, {})


def test_mirror_of_at_most_half_to_a_deployment_without_live_traffic_is_accepted() -> None:
    assert validate_split("churn", READY, {"blue": 100}, {"green": 50})[1] == {"green": 50}


def test_mirror_above_50_percent_is_refused() -> None:
    with pytest.raises(TrafficRuleError, match="at most 50%"):
        validate_split("churn", READY, {"blue": 100}, {"green": 51})


def test_mirror_to_a_deployment_with_live_traffic_is_refused() -> None:
    with pytest.raises(TrafficRuleError, match="cannot also receive mirror traffic"):
        validate_split("churn", READY, {"blue": 90, "green": 10}, {"green": 10})


def test_mirror_targets_one_deployment_only() -> None:
    ready = {**READY, "red": "succeeded"}
    with pytest.raises(TrafficRuleError, match="one deployment only"):
        validate_split("churn", ready, {"blue": 100}, {"green": 10, "red": 10})


def test_a_zero_mirror_entry_means_no_mirror() -> None:
    assert validate_split("churn", READY, {"green": 100}, {"green": 0})[1] == {}
