"""The words every slice shares about a run: its status and the stage it is in."""

from __future__ import annotations

from typing import Literal, get_args

RunStatus = Literal[
    "running", "rejected", "kept", "registered", "promoted", "rolled_back", "failed", "aborted"
]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
# A run in one of these has ended ("registered" has not: its rollout is still to come or running).
FINAL_STATUSES: frozenset[str] = frozenset(
    {"rejected", "kept", "promoted", "rolled_back", "failed", "aborted"}
)

Stage = Literal[
    "start",
    "ingest",
    "train",
    "evaluate",
    "register",
    "deploy",
    "smoke",
    "mirror",
    "ramp",
    "approval",
    "rollback",
    "promote",
    "done",
]
