"""Helpers shared by the k8s_audit tests (a uniquely named module: several test folders have a
conftest.py, so tests must not import from "conftest")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


def load_events(path: Path) -> list[dict[str, Any]]:
    """The audit events of a corpus trace (one JSON object per line)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
