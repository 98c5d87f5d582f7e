"""The demo's policies for tests that play only part of the demo: written to a folder of the test's, with the
relative paths made absolute and the parts a test does not feed taken out (e.g. the online accuracy gate, whose
labels only the demo's label feeder uploads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devstack import REPO_ROOT

DEMO = REPO_ROOT / "samples" / "churn" / "demo"


def demo_policy(
    *,
    online_accuracy: bool = False,
    batch: bool = True,
    promotion: bool = False,
    monitoring: bool = False,
    online_features: bool = False,
) -> dict[str, Any]:
    """The demo's dev policy as a document, paths absolute (the drift monitor only when asked: a test whose
    live traffic differs from the champion's training data would otherwise get drift alerts; the online
    feature store only when asked: it needs the Cosmos stand-in, which only the demo's own stack starts)."""
    doc = yaml.safe_load((DEMO / "policy.yaml").read_text())
    for section, key in (("data", "contract"), ("training", "job"), ("training", "evaluation_job")):
        doc[section][key] = str((DEMO / doc[section][key]).resolve())
    if not online_accuracy:
        doc["rollout"]["gates"].pop("online_accuracy", None)
    if not batch:
        doc.pop("batch", None)
    if not promotion:
        doc.pop("promotion", None)
    if not monitoring:
        doc.pop("monitoring", None)
    if not online_features:
        doc.pop("online_features", None)
    doc["triggers"]["blob_prefixes"] = [doc["data"]["prefix"]]  # every upload under the data prefix retrains
    return doc


def write_policies(folder: Path, dev: dict[str, Any], prod: dict[str, Any] | None = None) -> Path:
    """`folder` as a LIFECYCLE_POLICY_DIR: dev's policy.yaml and, given, prod/policy.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.yaml").write_text(yaml.safe_dump(dev))
    if prod is not None:
        (folder / "prod").mkdir(exist_ok=True)
        (folder / "prod" / "policy.yaml").write_text(yaml.safe_dump(prod))
    return folder
