"""Real kernel drops: `rae run` with the smallest ring buffer (1 MiB) under a read() flood counts the
drops, exports them, raises Falco's internal drop alert, and keeps running."""

from __future__ import annotations

import subprocess
from pathlib import Path

from enginehelpers import RaeRun, free_port, live_marks, write_config

pytestmark = live_marks(90)

RULES = """
- rule: Engine overload canary
  desc: selects read() so that the flood below reaches the ring buffer
  condition: evt.type = read and evt.dir = < and fd.name = /nonexistent/engine-overload
  output: never (%fd.name)
  priority: WARNING
"""


def test_undersized_ring_drops_are_counted_and_alerted(tmp_path: Path) -> None:
    web = free_port()
    cfg = write_config(tmp_path / "c.yaml", web, {
        "engine": {"kind": "modern_ebpf", "modern_ebpf": {"buf_size_preset": 1}},
        "syscall_event_drops": {"threshold": 0.1, "actions": ["log", "alert"], "rate": 0.03333,
                                "max_burst": 1},
        "watch_config_files": False,
    })
    rules = tmp_path / "r.yaml"
    rules.write_text(RULES)
    run = RaeRun(["-c", str(cfg), "-r", str(rules)], web)
    try:
        run.wait_healthy()
        # ~1.5 M read() calls within a second or two: far more than a 1 MiB ring and the consumer absorb
        subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1500000"], check=True,
                       capture_output=True, timeout=60)
        _, alert = run.wait_alert(lambda a: a["rule"] == "Falco internal: syscall event drop", timeout=20)
        f = alert["output_fields"]
        assert alert["source"] == "internal"
        assert int(f["n_drops"]) > 0 and int(f["n_drops_buffer_total"]) > 0
        assert int(f["n_drops"]) / int(f["n_evts"]) > 0.1
        assert (run.metric("falcosecurity_scap_n_drops_total") or 0) >= int(f["n_drops"])
        assert (run.metric("falcosecurity_scap_n_evts_total") or 0) > 0
        run.wait_healthy(timeout=10)  # still serving
    finally:
        code = run.stop()
    assert code == 0
    summary = "\n".join(run.err.lines)
    assert "Syscall event drop monitoring:" in summary
    assert "   - num times actions taken: 1" in summary
