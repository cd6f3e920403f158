"""`rae run` with Falco's own rules file (falco_rules 1.0.1 from the corpus) raises its rules on real
actions."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from enginehelpers import RaeRun, free_port, live_marks, write_config

pytestmark = live_marks(90)


def test_read_sensitive_file_and_write_below_etc(tmp_path: Path, corpus_dir: Path) -> None:
    rules = corpus_dir / "upstream-rules" / "falco_rules-1.0.1.yaml"
    web = free_port()
    cfg = write_config(tmp_path / "c.yaml", web, {"watch_config_files": False})
    target = Path(f"/etc/rae-engine-test-{os.getpid()}")
    run = RaeRun(["-c", str(cfg), "-r", str(rules)], web)
    try:
        run.wait_healthy()
        start = len(run.out)
        subprocess.run(["cat", "/etc/shadow"], check=True, stdout=subprocess.DEVNULL)
        _, alert = run.wait_alert(lambda a: a["rule"] == "Read sensitive file untrusted", start)
        f = alert["output_fields"]
        assert alert["priority"] == "Warning"
        assert (f["proc.name"], f["proc.cmdline"], f["fd.name"], f["user.name"]) == (
            "cat", "cat /etc/shadow", "/etc/shadow", "root")
        assert f["container.id"] == "host"
        subprocess.run(["touch", str(target)], check=True)
        _, alert = run.wait_alert(lambda a: a["rule"] == "Write below etc", start)
        f = alert["output_fields"]
        assert alert["priority"] == "Error"
        assert (f["proc.name"], f["fd.name"]) == ("touch", str(target))
    finally:
        target.unlink(missing_ok=True)
        assert run.stop() == 0
