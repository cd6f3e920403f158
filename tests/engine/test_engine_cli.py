"""`rae run` without the kernel: --dry-run, one-line errors, and the audit source alone (nodriver)
with a SIGHUP reload — none of these need root."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from enginehelpers import REPO, RaeRun, audit_event_list, free_port, post_audit, replace_file, write_config

from rae import cli

pytestmark = pytest.mark.timeout(60)

K8S_RULE = """
- rule: {name}
  desc: a secret read by the test's user
  condition: ka.verb=get and ka.target.resource=secrets and ka.user.name startswith engine-test
  output: secret read (user=%ka.user.name secret=%ka.target.name)
  priority: WARNING
  source: k8s_audit
"""

SYSCALL_RULE = """
- rule: cli test open
  desc: x
  condition: evt.type = openat and fd.name = /nonexistent/engine-cli-test
  output: "opened %fd.name"
  priority: WARNING
"""


def rae_run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rae.cli", "run", *args], capture_output=True, text=True,
                          cwd=str(cwd), timeout=60)


@pytest.fixture
def rae_dry(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """`rae run ARGS --dry-run` in this process (no interpreter start-up: these tests stay quick)."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        code = cli.main(["run", *args, "--dry-run"])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["rae", "run", *args], code, out, err)

    try:
        yield call
    finally:  # setup_logging replaced the root handler: put pytest's back
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    pem = tmp_path_factory.mktemp("tls") / "falco.pem"
    pem.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems) + leaf.private_key_pem.bytes())
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(ctx)
    return pem, ctx


def _k8saudit(pem: Path, port: int) -> dict[str, object]:
    return {"plugins": [{"name": "k8saudit", "library_path": "libk8saudit.so",
                         "init_config": {"sslCertificate": str(pem)},
                         "open_params": f"https://127.0.0.1:{port}/k8s-audit"}],
            "load_plugins": ["k8saudit"]}


def test_dry_run_default_config() -> None:
    res = rae_run("--dry-run")
    assert res.returncode == 0, res.stderr
    lines = dict(line.split(": ", 1) for line in res.stdout.splitlines() if ": " in line)
    assert lines["config"].endswith("config/rae.yaml")
    assert lines["sources"].startswith("syscall")
    assert "syscalls selected" in lines["syscall"]
    assert int(lines["rules"].split()[0]) >= 1  # the built-in rules (k8s audit rules at least)
    assert "k8s_audit_rules.yaml" in lines["rules files"]


def test_dry_run_describes_the_sources_and_the_selection(tmp_path: Path, tls: tuple[Path, ssl.SSLContext],
                                                         rae_dry: Callable[..., Any]) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(SYSCALL_RULE + K8S_RULE.format(name="cli k8s"))
    cfg = write_config(tmp_path / "c.yaml", 8765, _k8saudit(tls[0], 9765))
    rae_run = rae_dry
    res = rae_run("-c", str(cfg), "-r", str(rules))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "sources: syscall, k8s_audit\n" in out
    assert "rules: 2 enabled of 2 loaded (k8s_audit: 1, syscall: 1)\n" in out
    assert f"k8s_audit: webhook https://127.0.0.1:9765/k8s-audit (TLS: {tls[0]})\n" in out
    n_sel = int(out.split(" syscalls selected")[0].rsplit(", ", 1)[1])
    # base_syscalls.repair: the rules' types plus the minimal state set, fewer than the default set
    res2 = rae_run("-c", str(cfg), "-r", str(rules), "-o", "base_syscalls.repair=true")
    n_repair = int(res2.stdout.split(" syscalls selected")[0].rsplit(", ", 1)[1])
    assert 0 < n_repair < n_sel
    res3 = rae_run("-c", str(cfg), "-r", str(rules), "-o", "base_syscalls.all=true")
    assert int(res3.stdout.split(" syscalls selected")[0].rsplit(", ", 1)[1]) > n_sel
    # either source can be disabled
    only_k8s = rae_run("-c", str(cfg), "-r", str(rules), "-o", "engine.kind=nodriver")
    assert "sources: k8s_audit\n" in only_k8s.stdout and "syscalls selected" not in only_k8s.stdout
    only_sys = rae_run("-c", str(cfg), "-r", str(rules), "-o", "load_plugins=[]")
    assert "sources: syscall\n" in only_sys.stdout and "k8s_audit: webhook" not in only_sys.stdout
    # -D/-T/-t select rules as in Falco
    res4 = rae_run("-c", str(cfg), "-r", str(rules), "-D", "cli k8s")
    assert "rules: 1 enabled of 2 loaded (syscall: 1)\n" in res4.stdout


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["-c", "{tmp}/bad.yaml"], "invalid YAML"),
        (["-r", "{tmp}/bad_rules.yaml"], "bad_rules.yaml"),
        (["-r", "{tmp}/missing.yaml"], "missing.yaml"),
        (["-o", "engine.kind=nodriver", "-o", "load_plugins=[]"], "no event source enabled"),
        (["-o", "engine.kind=gvisor"], "engine.kind: gvisor is not supported"),
        (["-D", "x", "-t", "y"], "can not specify both"),
        (["-o", "plugins[0].open_params=/var/log/audit.json"], "rae run serves the audit webhook only"),
        (["-o", "plugins[0].init_config={{sslCertificate: /nonexistent/falco.pem}}"],
         "sslCertificate: /nonexistent/falco.pem: no such file"),
    ],
)
def test_one_line_errors(tmp_path: Path, args: list[str], expect: str, rae_dry: Callable[..., Any]) -> None:
    (tmp_path / "bad.yaml").write_text("webserver: {listen_port: [\n")
    (tmp_path / "bad_rules.yaml").write_text("- rule: r\n  desc: d\n  condition: evt.type = open and (\n"
                                            "  output: o\n  priority: WARNING\n")
    res = rae_dry(*[a.format(tmp=tmp_path) for a in args])
    assert res.returncode == 1
    err_lines = res.stderr.strip().splitlines()
    errors = [ln for ln in err_lines if ln.startswith("rae run: error: ")]
    assert len(errors) == 1, res.stderr
    assert expect in errors[0]
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_not_root_is_a_one_line_error() -> None:
    # the default config (readable by anyone), no webserver: the probe is what fails
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                          sys.executable, "-m", "rae.cli", "run", "-o", "webserver.enabled=false",
                          "-r", str(REPO / "rules")],
                         capture_output=True, text=True, cwd=str(REPO), timeout=60,
                         env=dict(os.environ, HOME="/nonexistent"))
    assert res.returncode == 1, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("rae run: error: ")]
    assert errors == ["rae run: error: live capture needs root (or CAP_BPF and CAP_PERFMON)"
                      " (-o engine.kind=nodriver runs without the syscall source)"], res.stderr


@pytest.fixture
def k8s_only(tmp_path: Path, tls: tuple[Path, ssl.SSLContext]) -> Iterator[tuple[RaeRun, Path, str]]:
    web, hook = free_port(), free_port()
    extra = _k8saudit(tls[0], hook)
    extra.update({"engine": {"kind": "nodriver"}, "watch_config_files": False})
    cfg = write_config(tmp_path / "c.yaml", web, extra)
    rules = tmp_path / "rules.yaml"
    rules.write_text(K8S_RULE.format(name="first rule"))
    run = RaeRun(["-c", str(cfg), "-r", str(rules)], web)
    try:
        run.wait_healthy()
        yield run, rules, f"https://127.0.0.1:{hook}/k8s-audit"
    finally:
        run.stop()


def test_audit_source_alone_and_sighup(k8s_only: tuple[RaeRun, Path, str],
                                       tls: tuple[Path, ssl.SSLContext]) -> None:
    run, rules, url = k8s_only
    assert any("Enabled event sources: k8s_audit" in ln for ln in run.err.lines)
    assert post_audit(url, audit_event_list("engine-test-1", "s1"), tls[1])[0] == 200
    run.wait_alert(lambda a: a["rule"] == "first rule")
    # watch_config_files is off: a changed file waits for SIGHUP
    replace_file(rules, K8S_RULE.format(name="second rule"))
    start = len(run.out)
    assert post_audit(url, audit_event_list("engine-test-2", "s2"), tls[1])[0] == 200
    _, alert = run.wait_alert(lambda a: a["output_fields"]["ka.target.name"] == "s2", start)
    assert alert["rule"] == "first rule"
    err_start = len(run.err)
    run.signal(signal.SIGHUP)
    run.err.wait_for(lambda ln: "Rules reloaded" in ln, err_start)
    start = len(run.out)
    assert post_audit(url, audit_event_list("engine-test-3", "s3"), tls[1])[0] == 200
    _, alert = run.wait_alert(lambda a: a["output_fields"]["ka.target.name"] == "s3", start)
    assert alert["rule"] == "second rule"
    assert run.metric("falcosecurity_scap_n_evts_total") == 0  # no syscall source
    assert run.metric("falcosecurity_falco_num_evts_total") == 3
    assert run.stop() == 0


def test_config_file_is_yaml_we_wrote(tmp_path: Path) -> None:
    """The helper's config is a falco.yaml the engine accepts as is (guards the fixtures above)."""
    cfg = write_config(tmp_path / "c.yaml", 1234)
    data = yaml.safe_load(cfg.read_text())
    assert data["webserver"]["listen_port"] == 1234
    res = rae_run("-c", str(cfg), "--dry-run", "-r", str(REPO / "rules"))
    assert res.returncode == 0, res.stderr
    assert "webserver: 127.0.0.1:1234 (/healthz, /versions, /metrics)\n" in res.stdout


def test_rules_directory_created_later_is_watched(tmp_path: Path, tls: tuple[Path, ssl.SSLContext]) -> None:
    """Like /etc/rae/rules.d: a rules_files directory that does not exist yet, then gets files."""
    web, hook = free_port(), free_port()
    base = tmp_path / "base.yaml"
    base.write_text(K8S_RULE.format(name="base rule").replace("startswith engine-test", "= engine-test-base"))
    rules_d = tmp_path / "rules.d"
    extra = _k8saudit(tls[0], hook)
    extra.update({"engine": {"kind": "nodriver"}, "rules_files": [str(base), str(rules_d)]})
    cfg = write_config(tmp_path / "c.yaml", web, extra)
    url = f"https://127.0.0.1:{hook}/k8s-audit"
    run = RaeRun(["-c", str(cfg)], web)
    try:
        run.wait_healthy()
        assert any(f"Skipping rules path {rules_d}: not found" in ln for ln in run.err.lines)
        err_start = len(run.err)
        rules_d.mkdir()
        replace_file(rules_d / "10-extra.yaml", K8S_RULE.format(name="extra rule"))
        run.err.wait_for(lambda ln: "Rules reloaded: 2 rules enabled" in ln, err_start)
        start = len(run.out)
        assert post_audit(url, audit_event_list("engine-test-x", "s1"), tls[1])[0] == 200
        _, alert = run.wait_alert(lambda a: a["output_fields"]["ka.target.name"] == "s1", start)
        assert alert["rule"] == "extra rule"
        # a second file in the directory, now watched directly
        err_start = len(run.err)
        replace_file(rules_d / "20-more.yaml", K8S_RULE.format(name="more rule"))
        run.err.wait_for(lambda ln: "Rules reloaded: 3 rules enabled" in ln, err_start)
        # a file of another kind in the directory is no reason to reload
        n_reloads = sum("Rules reloaded" in ln for ln in run.err.lines)
        (rules_d / "README.txt").write_text("not rules\n")
        time.sleep(0.5)  # apart from the next change, so a reload for README.txt would be counted
        replace_file(rules_d / "30-last.yaml", K8S_RULE.format(name="last rule"))
        run.err.wait_for(lambda ln: "Rules reloaded: 4 rules enabled" in ln, err_start)
        assert sum("Rules reloaded" in ln for ln in run.err.lines) == n_reloads + 1
    finally:
        assert run.stop() == 0


def test_malformed_audit_requests_leave_the_engine_serving(k8s_only: tuple[RaeRun, Path, str],
                                                           tls: tuple[Path, ssl.SSLContext]) -> None:
    run, _rules, url = k8s_only
    ctx = tls[1]
    assert post_audit(url, b'{"kind": "EventList", "items": [', ctx)[0] == 400  # truncated JSON
    assert post_audit(url, b'{"kind": "Pod", "apiVersion": "v1"}', ctx)[0] == 422  # not audit data
    other_path = url.replace("/k8s-audit", "/other")
    assert post_audit(other_path, audit_event_list("engine-test-z", "x"), ctx)[0] == 404
    req = urllib.request.Request(url, method="GET")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, context=ctx, timeout=10)
    assert err.value.code == 405
    with pytest.raises(urllib.error.HTTPError) as err:  # plain HTTP on the TLS port
        urllib.request.urlopen(url.replace("https://", "http://"), timeout=10)
    assert err.value.code == 400
    start = len(run.out)
    assert post_audit(url, audit_event_list("engine-test-ok", "after"), ctx)[0] == 200
    _, alert = run.wait_alert(lambda a: a["output_fields"]["ka.target.name"] == "after", start)
    assert alert["rule"] == "first rule"
    assert run.metric('rae_k8s_audit_webhook_rejected_total{reason="not_audit"}') == 1
    assert run.proc.poll() is None
