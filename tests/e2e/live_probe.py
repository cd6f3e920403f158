"""The skip mark of the e2e tests that load the eBPF probe: the reason comes from tests/engine's
``why_not_live``, which the engine's live tests use, so both skip for the same cause."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from enginehelpers import why_not_live

live = pytest.mark.skipif(why_not_live() is not None, reason=why_not_live() or "")
