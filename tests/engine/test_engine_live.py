"""`rae run` end to end, as root: live syscalls and the audit webhook in one process, metrics, hot
reload (watched file and SIGHUP), syscall-drop alerts, and a SIGTERM that flushes the last alerts.

One engine serves the whole module (starting one costs about a second); the tests run in file order
and the last one stops it.
"""

from __future__ import annotations

import signal
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from enginehelpers import (
    RaeRun,
    audit_event_list,
    free_port,
    live_marks,
    post_audit,
    replace_file,
    write_config,
)

pytestmark = live_marks(120)

RULE_A = "Engine test marker A"
RULE_B = "Engine test marker B"
K8S_RULE = "Engine test secret read"


def _syscall_rule(name: str, path: Path, priority: str = "WARNING") -> str:
    return f"""
- rule: {name}
  desc: an open of the test's marker file
  condition: evt.type in (open, openat, openat2) and evt.dir=< and fd.name={path}
  output: >-
    marker opened (proc.name=%proc.name proc.cmdline=%proc.cmdline proc.pname=%proc.pname
    fd.name=%fd.name user.name=%user.name)
  priority: {priority}
  tags: [engine_test, filesystem]
"""


K8S_RULE_TEXT = f"""
- rule: {K8S_RULE}
  desc: a secret read by the test's user
  condition: ka.verb=get and ka.target.resource=secrets and ka.user.name startswith engine-test
  output: secret read (user=%ka.user.name secret=%ka.target.name ns=%ka.target.namespace)
  priority: NOTICE
  source: k8s_audit
  tags: [engine_test, k8s]
"""


MKDIR_RULE = "Engine test mkdir"
MKDIR_RULE_TEXT = f"""
- rule: {MKDIR_RULE}
  desc: a directory named like the test's
  condition: evt.type in (mkdir, mkdirat) and evt.dir=< and evt.arg.path contains engine-test-newdir
  output: directory made (proc.name=%proc.name path=%evt.arg.path)
  priority: NOTICE
"""


class Env:
    def __init__(self, tmp: Path, run: RaeRun, rules: Path, ca: trustme.CA, hook_url: str) -> None:
        self.tmp = tmp
        self.run = run
        self.rules = rules
        self.hook_url = hook_url
        self.client_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ca.configure_trust(self.client_ctx)
        self.marker_a = tmp / "marker-a.txt"
        self.marker_b = tmp / "marker-b.txt"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("engine")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    pem = tmp / "falco.pem"
    pem.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems) + leaf.private_key_pem.bytes())
    web, hook = free_port(), free_port()
    hook_url = f"https://127.0.0.1:{hook}/k8s-audit"
    cfg = write_config(tmp / "rae.yaml", web, {
        "plugins": [{"name": "k8saudit", "library_path": "libk8saudit.so",
                     "init_config": {"sslCertificate": str(pem)}, "open_params": hook_url},
                    {"name": "json", "library_path": "libjson.so", "init_config": ""}],
        "load_plugins": ["k8saudit", "json"],
        # one simulated drop per second: the internal alert's path, rate-limited to one per 30 s
        "syscall_event_drops": {"actions": ["log", "alert"], "simulate_drops": True, "rate": 0.03333,
                                "max_burst": 1},
    })
    for name in ("marker-a.txt", "marker-b.txt"):  # before the engine starts: writing them would match
        (tmp / name).write_text("x\n")
    rules = tmp / "rules.yaml"
    rules.write_text(_syscall_rule(RULE_A, tmp / "marker-a.txt") + K8S_RULE_TEXT)
    run = RaeRun(["-c", str(cfg), "-r", str(rules)], web)
    try:
        run.wait_healthy()
        yield Env(tmp, run, rules, ca, hook_url)
    finally:
        run.stop()


def _cat(path: Path) -> None:
    subprocess.run(["cat", str(path)], check=True, stdout=subprocess.DEVNULL)


def _is_rule(name: str) -> Any:
    return lambda a: a["rule"] == name


def test_syscall_alert_has_the_process_and_file(env: Env) -> None:
    start = len(env.run.out)
    _cat(env.marker_a)
    _, alert = env.run.wait_alert(_is_rule(RULE_A), start)
    f = alert["output_fields"]
    assert alert["priority"] == "Warning"
    assert alert["source"] == "syscall"
    assert alert["hostname"] == "engine-test"
    assert alert["tags"] == ["engine_test", "filesystem"]
    assert f["proc.name"] == "cat"
    assert f["proc.cmdline"] == f"cat {env.marker_a}"
    assert f["proc.pname"] == Path("/proc/self/comm").read_text().strip()  # this test process
    assert f["fd.name"] == str(env.marker_a)
    assert f["user.name"] == "root"
    assert alert["output"].endswith(f"fd.name={env.marker_a} user.name=root)")


def test_other_files_do_not_alert(env: Env) -> None:
    start = len(env.run.out)
    _cat(env.marker_b)  # not watched by rule A
    _cat(env.marker_a)  # the fence: when its alert is out, marker B's events were processed
    env.run.wait_alert(_is_rule(RULE_A), start)
    assert [a["output_fields"]["fd.name"] for a in env.run.alerts(start) if a["source"] == "syscall"] == [
        str(env.marker_a)
    ]


def test_metrics_show_events_and_matches(env: Env) -> None:
    text = env.run.metrics()
    match_line = next(
        (ln for ln in text.splitlines() if ln.startswith("falcosecurity_falco_rules_matches_total{")
         and f'rule_name="{RULE_A}"' in ln), None)
    assert match_line is not None, text
    for label in ('priority="4"', 'source="syscall"', 'tag_engine_test="true"'):
        assert label in match_line
    assert float(match_line.rsplit(" ", 1)[1]) >= 2
    assert (env.run.metric("falcosecurity_scap_n_evts_total") or 0) > 0
    assert (env.run.metric("falcosecurity_falco_num_evts_total") or 0) > 0
    assert env.run.metric("falcosecurity_scap_n_drops_total") is not None
    assert (env.run.metric("falcosecurity_falco_memory_rss_bytes") or 0) > 0
    assert env.run.metric("falcosecurity_falco_cpu_usage_ratio") is not None
    assert env.run.metric("rae_ruleset_checksum_info{sha256=") == 1
    assert env.run.metric('falcosecurity_falco_sha256_rules_files_info{file_name="rules.yaml"') == 1


def test_k8s_audit_webhook_alert(env: Env) -> None:
    start = len(env.run.out)
    status, body = post_audit(env.hook_url, audit_event_list("engine-test-eve", "db-pass"), env.client_ctx)
    assert (status, body.strip()) == (200, '{"accepted": 1}')
    _, alert = env.run.wait_alert(_is_rule(K8S_RULE), start)
    assert alert["source"] == "k8s_audit"
    assert alert["priority"] == "Notice"
    assert alert["output_fields"]["ka.user.name"] == "engine-test-eve"
    assert alert["output_fields"]["ka.target.name"] == "db-pass"
    assert "secret read (user=engine-test-eve secret=db-pass ns=default)" in alert["output"]
    assert env.run.metric("rae_k8s_audit_events_received_total") is not None


def test_drop_alert_is_the_internal_rule(env: Env) -> None:
    # simulate_drops adds one drop per second; the token bucket lets the first through
    _, alert = env.run.wait_alert(_is_rule("Falco internal: syscall event drop"), 0, timeout=10)
    assert alert["source"] == "internal"
    assert alert["priority"] == "Debug"
    assert "tags" not in alert
    f = alert["output_fields"]
    assert int(f["n_drops"]) >= 1
    for key in ("n_evts", "n_drops_buffer_total", "n_drops_scratch_map", "n_drops_page_faults", "n_drops_bug",
                "n_drops_buffer_open_exit", "ebpf_enabled"):
        assert key in f
    assert alert["output"].endswith(f"Falco internal: syscall event drop. {f['n_drops']} system calls dropped"
                                    " in last second.")
    env.run.err.wait_for(lambda ln: "Warning: Falco internal: syscall event drop." in ln)


def _rules_v2(env: Env) -> str:
    return _syscall_rule(RULE_B, env.marker_b, "ERROR") + MKDIR_RULE_TEXT + K8S_RULE_TEXT


def test_hot_reload_on_rules_change(env: Env) -> None:
    err_start = len(env.run.err)
    replace_file(env.rules, _rules_v2(env))
    env.run.err.wait_for(lambda ln: "Rules reloaded: 3 rules enabled" in ln, err_start)
    start = len(env.run.out)
    _cat(env.marker_a)  # rule A is gone
    _cat(env.marker_b)
    _, alert = env.run.wait_alert(_is_rule(RULE_B), start)
    assert alert["priority"] == "Error"
    assert alert["output_fields"]["fd.name"] == str(env.marker_b)
    assert [a["rule"] for a in env.run.alerts(start) if a["source"] == "syscall"] == [RULE_B]


def test_reload_widens_the_syscall_selection(env: Env) -> None:
    # mkdir is not in the state set: only the new rule puts it in the probe's selection
    assert any("syscall selection updated" in ln for ln in env.run.err.lines)
    start = len(env.run.out)
    newdir = env.tmp / "engine-test-newdir"
    subprocess.run(["mkdir", str(newdir)], check=True)
    _, alert = env.run.wait_alert(_is_rule(MKDIR_RULE), start)
    assert alert["output_fields"]["evt.arg.path"] == str(newdir)
    assert alert["output_fields"]["proc.name"] == "mkdir"


def test_invalid_rules_keep_the_running_ones(env: Env) -> None:
    err_start = len(env.run.err)
    failures_before = env.run.metric("rae_rules_reload_failures_total")
    replace_file(env.rules, "- rule: broken\n  desc: x\n  condition: evt.type = open and (\n  output: x\n"
                            "  priority: WARNING\n")
    _, line = env.run.err.wait_for(lambda ln: "reload failed" in ln, err_start)
    assert str(env.rules) in line and "Error:" in line
    # one line: the next log line is a new timestamped line, not the error's continuation
    idx = env.run.err.lines.index(line)
    assert all(ln[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "\0EO")
               for ln in env.run.err.lines[idx: idx + 2])
    assert env.run.metric("rae_rules_reload_failures_total") == (failures_before or 0) + 1
    start = len(env.run.out)
    _cat(env.marker_b)
    env.run.wait_alert(_is_rule(RULE_B), start)


def test_sighup_reloads(env: Env) -> None:
    err_start = len(env.run.err)
    replace_file(env.rules, _rules_v2(env))
    env.run.err.wait_for(lambda ln: "Rules reloaded" in ln, err_start)
    before = env.run.metric("falcosecurity_falco_reload_timestamp_nanoseconds")
    err_start = len(env.run.err)
    env.run.signal(signal.SIGHUP)
    i_hup, _ = env.run.err.wait_for(lambda ln: "SIGHUP received" in ln, err_start)
    env.run.err.wait_for(lambda ln: "Rules reloaded" in ln, i_hup)  # a reload requested by the signal
    assert (env.run.metric("falcosecurity_falco_reload_timestamp_nanoseconds") or 0) > (before or 0)


def test_config_change_reloads_the_outputs(env: Env) -> None:
    err_start = len(env.run.err)
    cfg = env.tmp / "rae.yaml"
    replace_file(cfg, cfg.read_text() + "json_include_tags_property: false\n")
    env.run.err.wait_for(lambda ln: "outputs reconfigured: stdout" in ln, err_start)
    start = len(env.run.out)
    _cat(env.marker_b)
    _, alert = env.run.wait_alert(_is_rule(RULE_B), start)
    assert "tags" not in alert


def test_sigterm_flushes_and_exits_0(env: Env) -> None:
    start = len(env.run.out)
    _cat(env.marker_b)
    post_audit(env.hook_url, audit_event_list("engine-test-mallory", "last"), env.client_ctx)
    env.run.signal(signal.SIGTERM)  # at once: the alerts may still be in the ring, the queue, the outputs
    assert env.run.proc.wait(30) == 0
    env.run.out.join()
    env.run.err.join()
    rules = [a["rule"] for a in env.run.alerts(start)]
    assert RULE_B in rules
    assert K8S_RULE in rules
    assert any("Events detected:" in ln for ln in env.run.err.lines)
    assert any("Syscall event drop monitoring:" in ln for ln in env.run.err.lines)
