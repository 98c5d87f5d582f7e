"""This app's local stack: the launcher (`make run`), the load generator and the demo (`make demo`)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
