"""infra/'s Bicep files, parsed once per process (pycep-parser, a Bicep grammar). The infra tests parametrize on
what the files declare, so they parse at collection, in every pytest-xdist worker: with a new parser (a Lark
grammar built anew, 0.12 s) per parse and no cache, two modules parsed the 13 files 39 times, 4.9 s of each
worker's collection."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest

pycep = pytest.importorskip("pycep")

INFRA = Path(__file__).resolve().parents[3] / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


@functools.cache
def _parser() -> Any:
    return pycep.BicepParser()


@functools.cache
def _tree(path: Path) -> dict[str, Any]:
    return _parser().parse(file_path=path)


def parse(path: Path) -> dict[str, Any]:
    """The file as pycep's JSON; a copy, so a test cannot change what the next one reads."""
    return copy.deepcopy(_tree(path))
