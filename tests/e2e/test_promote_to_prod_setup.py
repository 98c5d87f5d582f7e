"""What `make demo`'s promote-to-prod scenario builds on, checked in milliseconds: one policy directory
holding both environments, the settings that make one devhost both dev and prod, and a scenario order
in which dev has promoted a second champion before the scenario watches prod ramp it."""

from __future__ import annotations

from pathlib import Path

from core.environments.release import event_source
from core.kernel.policy import load_policy_set
from devhost.topics import parse_subscriptions
from devstack import demo
from devstack.stack import EVENTS_TOPIC, promotion_env


def test_the_demo_policy_dir_holds_dev_sharing_into_the_registry_and_prod_deploying_from_it():
    found = load_policy_set(demo.POLICY_DIR)
    dev, prod = found.lifecycle[demo.MODEL], found.deploy_only[demo.PROD_MODEL]
    assert set(found.lifecycle) == {demo.MODEL} and set(found.deploy_only) == {demo.PROD_MODEL}
    assert dev.promotion is not None and dev.promotion.registry == prod.source.registry == demo.REGISTRY
    assert (dev.rollout.endpoint, prod.rollout.endpoint) == (demo.ENDPOINT, demo.PROD_ENDPOINT)
    assert event_source(demo.MODEL, "dev") in prod.accepted_sources
    assert prod.rollout.approval is not None  # the scenario's operator approves prod's ramp


def test_promotion_env_names_the_environment_and_subscribes_prod_to_the_lifecycle_topic(tmp_path: Path):
    env = promotion_env(tmp_path, registry=demo.REGISTRY, environment="dev")
    assert env["LIFECYCLE_ENVIRONMENT"] == "dev" and env["SHARED_REGISTRY_NAME"] == demo.REGISTRY
    assert env["SHARED_REGISTRY_TRACKING_URI"] == f"sqlite:///{tmp_path.resolve() / 'shared-registry.db'}"
    [sub] = parse_subscriptions(env["DEVHOST_TOPIC_SUBSCRIPTIONS"])
    assert (sub.topic, sub.function, sub.event_types) == (
        EVENTS_TOPIC,
        "on_model_promoted",
        ("mllifecycle.promoted",),
    )
    assert sub.matches(EVENTS_TOPIC, {"type": "mllifecycle.promoted"})
    assert not sub.matches(EVENTS_TOPIC, {"type": "mllifecycle.started"})


def test_promote_to_prod_runs_after_dev_has_a_champion_to_replace():
    names = [name for name, *_ in demo.SCENARIOS]
    assert names.index("first-model") < names.index("drift-retrain-promote") < names.index("promote-to-prod")
