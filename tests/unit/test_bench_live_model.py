"""bench/live's loss model: a round costs the machine w / p + c CPU seconds, w = CPUs / baseline rate."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
live = importlib.import_module("bench.live.__main__")

NCPU = os.cpu_count() or 1


def test_the_model_predicts_the_ratio_of_a_machine_shared_with_the_engine() -> None:
    # baseline 1000 rounds/s on NCPU CPUs: w = NCPU/1000 s a round; the probe alone costs 20% of the
    # rate (p = 0.8: w/p a round); an engine taking one CPU at 500 rounds/s adds c = 2 ms a round
    engine = {"rounds_per_s": 500.0, "events_per_s": 20_000, "engine_cpu_share": 1.0}
    m = live.loss_model(1000.0, 0.8, engine, NCPU, native_us_per_event=1.0)
    w, c = NCPU / 1000, 1.0 / 500
    assert m["workload_cpu_us_per_round"] == pytest.approx(w * 1e6, abs=0.1)
    assert m["engine_cpu_us_per_round"] == pytest.approx(c * 1e6, abs=0.1)
    assert m["events_per_round"] == 40.0
    assert m["predicted_ratio_rae"] == pytest.approx(NCPU / (1000 * (w / 0.8 + c)), abs=1e-3)
    assert m["native_cpu_us_per_round"] == 40.0
    assert m["predicted_ratio_native"] == pytest.approx(NCPU / (1000 * (w / 0.8 + 40e-6)), abs=1e-3)


def test_more_workers_than_cpus_do_not_make_a_round_dearer() -> None:
    """The baseline's CPU per round is the machine's CPUs over its rate, however many processes share them."""
    engine = {"rounds_per_s": 500.0, "events_per_s": 20_000, "engine_cpu_share": 1.0}
    assert live.loss_model(1000.0, 0.8, engine, 2 * NCPU, None) == live.loss_model(1000.0, 0.8, engine, NCPU, None)
    if NCPU > 1:  # fewer workers than CPUs: the engine's CPU need not come out of the workload's
        assert live.loss_model(1000.0, 0.8, engine, NCPU - 1, None) == {}
