"""The trigger side routes with policies read at most once a second: an edit reaches routing
within that second, and a burst of events reads the policy files once."""

import pytest

from core.kernel.policy import PolicyError, RecentPolicies, StaticPolicies
from tests.triggers.conftest import make_policy


class CountingStore(StaticPolicies):
    def __init__(self, policies):
        super().__init__(policies)
        self.reads = 0

    def all(self):
        self.reads += 1
        return super().all()


def test_a_burst_of_lookups_within_the_window_reads_the_store_once():
    store = CountingStore({"churn": make_policy("churn", "churn/")})
    now = [100.0]
    recent = RecentPolicies(store, seconds=1.0, clock=lambda: now[0])
    for _ in range(50):
        assert set(recent.all()) == {"churn"}
        now[0] += 0.01
    assert store.reads == 1


def test_an_edit_reaches_routing_once_the_window_has_passed():
    policies = {"churn": make_policy("churn", "churn/")}
    now = [100.0]
    recent = RecentPolicies(StaticPolicies(policies), seconds=1.0, clock=lambda: now[0])
    assert set(recent.all()) == {"churn"}
    policies["fraud"] = make_policy("fraud", "fraud/")
    now[0] += 0.5
    assert set(recent.all()) == {"churn"}  # within the window: the last read
    now[0] += 0.5
    assert set(recent.all()) == {"churn", "fraud"}


def test_get_finds_a_policy_added_since_the_last_read_and_names_the_known_ones_otherwise():
    policies = {"churn": make_policy("churn", "churn/")}
    recent = RecentPolicies(StaticPolicies(policies), seconds=60.0, clock=lambda: 0.0)
    recent.all()
    policies["fraud"] = make_policy("fraud", "fraud/")
    assert recent.get("fraud").model == "fraud"
    with pytest.raises(PolicyError, match="known"):
        recent.get("nope")
