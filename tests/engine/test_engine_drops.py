"""Falco's `syscall_event_drops` logic (DropMonitor): threshold, actions, token bucket, the alert's shape,
and the kernel counters it reads; plus the source plan and the selection helpers."""

from __future__ import annotations

import logging

import pytest

from rae.alerts import Alert
from rae.config import SyscallEventDrops, load_config
from rae.engine import DROP_RULE, DropMonitor, KernelCounts, plan_sources
from rae.errors import RaeError
from rae.priority import Priority


def _counts(evts: int, drops: int) -> KernelCounts:
    return KernelCounts(n_evts=evts, n_drops=drops, n_drops_buffer=drops)


def _monitor(**kw: object) -> tuple[DropMonitor, list[Alert]]:
    alerts: list[Alert] = []
    settings = SyscallEventDrops(**{"threshold": 0.1, "actions": ("log", "alert"), "rate": 1000.0,
                                    "max_burst": 1000, **kw})  # type: ignore[arg-type]
    return DropMonitor(settings, alerts.append, "node-1", start=_counts(0, 0)), alerts


def test_below_or_at_threshold_does_nothing() -> None:
    mon, alerts = _monitor()
    assert mon.check(_counts(1000, 0))
    assert mon.check(_counts(2000, 100))  # 100 of 1000 = 0.1: not above the threshold
    assert alerts == [] and mon.occurrences == 0


def test_above_threshold_alerts_with_falco_fields(caplog: pytest.LogCaptureFixture) -> None:
    mon, alerts = _monitor()
    mon.check(_counts(1000, 0))
    with caplog.at_level(logging.WARNING, logger="rae.engine"):
        assert mon.check(_counts(2000, 300), now_ns=1_700_000_000_123_456_789)
    assert mon.occurrences == 1 and mon.actions_taken == 1
    (a,) = alerts
    assert (a.rule, a.priority, a.source, a.tags, a.hostname) == (
        DROP_RULE, Priority.DEBUG, "internal", (), "node-1")
    assert a.time_ns == 1_700_000_000_123_456_789
    assert a.output == f"{DROP_RULE}. 300 system calls dropped in last second."
    f = a.output_fields
    assert f["n_evts"] == "1000" and f["n_drops"] == "300" and f["n_drops_buffer_total"] == "300"
    assert f["ebpf_enabled"] == "1"
    assert {k for k in f if k.startswith("n_drops_buffer_") and k.endswith("_exit")} == {
        f"n_drops_buffer_{c}_exit"
        for c in ("clone_fork", "execve", "connect", "open", "dir_file", "other_interest", "close", "proc")
    }
    assert [r.getMessage() for r in caplog.records] == [a.output]


def test_drop_alert_and_metrics_break_drops_down_by_category() -> None:
    from rae.metrics import DROP_BUFFER_CATEGORIES
    from rae.syscall.ebpf import STAT_NAMES

    def probe_stats(events: int, opens: int, closes: int) -> dict[str, int]:
        st = dict.fromkeys(STAT_NAMES, 0)
        st.update(events=events, drops_full=opens + closes, drops_full_open_exit=opens,
                  drops_full_close_exit=closes)
        return st

    first = KernelCounts.from_probe(probe_stats(1000, 10, 5))
    assert first.n_evts == 1015 and first.n_drops == first.n_drops_buffer == 15
    assert first.by_category()[("open", "exit")] == 10 and first.by_category()[("close", "exit")] == 5
    assert set(first.by_category()) == set(DROP_BUFFER_CATEGORIES)
    mon, alerts = _monitor()
    mon.last = first
    assert mon.check(KernelCounts.from_probe(probe_stats(1300, 210, 105)))  # 300 of 600: above 0.1
    (a,) = alerts
    f = a.output_fields
    assert f["n_drops"] == f["n_drops_buffer_total"] == "300"
    assert (f["n_drops_buffer_open_exit"], f["n_drops_buffer_close_exit"]) == ("200", "100")
    assert f["n_drops_buffer_execve_exit"] == f["n_drops_buffer_proc_exit"] == "0"


def test_token_bucket_limits_actions() -> None:
    mon, alerts = _monitor(rate=0.0001, max_burst=1)
    mon.check(_counts(100, 50))
    mon.check(_counts(200, 100))
    assert mon.occurrences == 2 and mon.actions_taken == 1 and len(alerts) == 1


def test_actions_ignore_and_exit() -> None:
    mon, alerts = _monitor(actions=("ignore",))
    assert mon.check(_counts(10, 10))
    assert alerts == [] and mon.occurrences == 1
    mon, alerts = _monitor(actions=("alert", "exit"))
    assert not mon.check(_counts(10, 10))  # exit: the engine stops (exit code 1)
    assert len(alerts) == 1


def test_simulated_drops_ignore_the_threshold() -> None:
    mon, alerts = _monitor(simulate_drops=True, threshold=1.0)
    assert mon.check(_counts(0, 0))  # no events at all: one simulated drop still counts
    assert len(alerts) == 1 and alerts[0].output_fields["n_drops"] == "1"


def test_first_check_without_a_start_only_records() -> None:
    settings = SyscallEventDrops()
    mon = DropMonitor(settings, lambda a: None, "h")
    assert mon.check(_counts(5, 5)) and mon.occurrences == 0


def test_probe_counters_map_to_scap_terms() -> None:
    k = KernelCounts.from_probe({"events": 90, "drops_full": 7, "drops_noaux": 3, "truncated": 4,
                                 "faults": 9})
    assert (k.n_evts, k.n_drops, k.n_drops_buffer, k.n_drops_scratch_map, k.n_drops_pf) == (100, 10, 7, 3, 0)


def test_summary_lines() -> None:
    mon, _ = _monitor()
    mon.check(_counts(10, 5))
    assert mon.summary() == ("Syscall event drop monitoring:\n   - event drop detected: 1 occurrences\n"
                             "   - num times actions taken: 1\n")


def test_plan_sources_ring_size_and_plugins() -> None:
    cfg = load_config(None, ["engine.modern_ebpf.buf_size_preset=6", "plugins=[]"], use_default_file=False)
    plan = plan_sources(cfg)
    assert plan.names == ["syscall"] and plan.ring_bytes == 32 << 20
    with pytest.raises(RaeError, match="buf_size_preset"):
        plan_sources(load_config(None, ["engine.modern_ebpf.buf_size_preset=11"], use_default_file=False))
    http = load_config(None, ["engine.kind=nodriver",
                              "plugins=[{name: k8saudit, open_params: 'http://127.0.0.1:9999/audit',"
                              " init_config: '{\"maxEventSize\": 1000}'}]"], use_default_file=False)
    plan = plan_sources(http)
    assert plan.names == ["k8s_audit"]
    assert plan.k8s_audit is not None
    assert (plan.k8s_audit.url, plan.k8s_audit.cert_file, plan.k8s_audit.max_event_size) == (
        "http://127.0.0.1:9999/audit", None, 1000)

