"""Ledger facts of training: the challenger's verdict and rejected data."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from core.kernel.fact import Fact, LedgerKind
from core.training.verdict import ChallengerVerdict

log = logging.getLogger("core.run.facts")


# --------------------------------------------------------------------------- decisions


class EvaluationDecided(Fact, ChallengerVerdict):
    """The promotion rule's verdict on the challenger, with its numbers."""

    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["evaluation_decided"] = "evaluation_decided"
    stage: Literal["evaluate"] = "evaluate"

    @classmethod
    def of(cls, decision: ChallengerVerdict) -> EvaluationDecided:
        return cls.model_validate(decision.model_dump())

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")  # champion None means "no champion": keep it


class DataRejected(Fact):
    ledger_kind: ClassVar[LedgerKind] = "decision"
    kind: Literal["data_rejected"] = "data_rejected"
    verdict: Literal["rejected"] = "rejected"
    report: str | None = None
    failures: list[str]
    rows_in: int
    rows_out: int
    train_rows: int
    eval_rows: int
