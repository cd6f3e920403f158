"""Shared fixtures: the public test corpus beside the project (../shared/corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"test corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO
