"""stdout, file, syslog and program outputs against real receivers, and the message formats."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from outhelpers import CONFS, ROOT, make_alert, stop_process, wait_for

from rae.alerts import Alert
from rae.config import Config
from rae.outputs import OutputManager
from rae.priority import Priority


def run(cfg: Config, alerts: list[Alert]) -> OutputManager:
    om = OutputManager(cfg)
    for a in alerts:
        assert om.submit(a)
    om.close(timeout=10)
    return om


# ------------------------------------------------------------------ formats (through the file output)


def test_text_format_is_falcos_line(tmp_path: Path, config_factory: Callable[..., Config]) -> None:
    out = tmp_path / "events.txt"
    cfg = config_factory("file_output.enabled=true", f"file_output.filename={out}", "time_format_iso_8601=true")
    om = run(cfg, [make_alert(0)])
    assert out.read_text() == (
        "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null n=0)\n"
    )
    assert om.counters.delivered == {"file": 1}


def test_json_format_and_include_options(tmp_path: Path, config_factory: Callable[..., Config]) -> None:
    out = tmp_path / "events.json"
    base = ["file_output.enabled=true", f"file_output.filename={out}", "json_output=true"]
    run(config_factory(*base, "time_format_iso_8601=true"), [make_alert(0)])
    line = out.read_text().splitlines()[0]
    # the regression suite's golden bytes (Falco <= 0.38 layout), with our extra field
    assert line == (
        '{"hostname":"test-falco-hostname","output":"2016-08-04T16:17:57.881781397+0000: Warning An open was'
        ' seen (command=cat /dev/null n=0)","priority":"Warning","rule":"open_from_cat","source":"syscall",'
        '"tags":["filesystem","process","testing"],"time":"2016-08-04T16:17:57.881781397Z", "output_fields":'
        ' {"evt.time.iso8601":1470327477881781397,"n":0,"proc.cmdline":"cat /dev/null"}}'
    )
    out.unlink()
    run(config_factory(*base, "json_include_output_property=false", "json_include_tags_property=false",
                       "json_include_message_property=true", "json_include_output_fields_property=false"),
        [make_alert(1)])
    obj = json.loads(out.read_text())
    assert set(obj) == {"hostname", "priority", "rule", "source", "time", "message"}
    out.unlink()
    run(config_factory(*base), [make_alert(2, source="internal")])
    assert "tags" not in json.loads(out.read_text())
    assert obj["message"] == "An open was seen (command=cat /dev/null n=1)"


# ------------------------------------------------------------------ file_output


def test_file_output_without_keep_alive_follows_rotation(tmp_path: Path,
                                                         config_factory: Callable[..., Config]) -> None:
    out = tmp_path / "events.txt"
    cfg = config_factory("file_output.enabled=true", f"file_output.filename={out}")
    om = OutputManager(cfg)
    om.submit(make_alert(1))
    wait_for(lambda: om.counters.processed == 1, "first alert")
    out.rename(tmp_path / "events.txt.1")  # logrotate
    om.submit(make_alert(2))
    om.close(10)
    assert "n=1" in (tmp_path / "events.txt.1").read_text()
    assert "n=2" in out.read_text() and "n=1" not in out.read_text()


def test_file_output_keep_alive_reopens_on_sigusr1(tmp_path: Path, config_factory: Callable[..., Config]) -> None:
    out = tmp_path / "events.txt"
    cfg = config_factory("file_output.enabled=true", f"file_output.filename={out}", "file_output.keep_alive=true")
    om = OutputManager(cfg)
    old = signal.getsignal(signal.SIGUSR1)
    try:
        om.install_sigusr1()
        om.submit(make_alert(1))
        wait_for(lambda: om.counters.processed == 1, "first alert")
        out.rename(tmp_path / "rotated.txt")
        om.submit(make_alert(2))  # kept open: still goes to the rotated file
        wait_for(lambda: om.counters.processed == 2, "second alert")
        os.kill(os.getpid(), signal.SIGUSR1)
        wait_for(lambda: om._reopen, "the SIGUSR1 handler")
        om.submit(make_alert(3))
        om.close(10)
    finally:
        signal.signal(signal.SIGUSR1, old)
    rotated = (tmp_path / "rotated.txt").read_text()
    assert "n=1" in rotated and "n=2" in rotated and "n=3" not in rotated
    assert out.read_text().count("\n") == 1 and "n=3" in out.read_text()


def test_corpus_file_output_conf_writes_its_file(tmp_path: Path) -> None:
    cfg_text = (CONFS / "file_output.yaml").read_text().replace(
        "/tmp/falco_outputs/file_output.txt", str(tmp_path / "file_output.txt"))
    conf = tmp_path / "file_output.yaml"
    conf.write_text(cfg_text)
    from rae.config import load_config

    cfg = load_config(conf, ["stdout_output.enabled=false"])
    run(cfg, [make_alert(i) for i in range(3)])
    lines = (tmp_path / "file_output.txt").read_text().splitlines()
    assert lines == [make_alert(i).text_line() for i in range(3)]


# ------------------------------------------------------------------ stdout_output (a real process)


def test_stdout_output_in_a_child_process(tmp_path: Path) -> None:
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from outhelpers import make_alert
from rae.config import load_config
from rae.outputs import OutputManager
cfg = load_config({str(CONFS / 'stdout_output.yaml')!r}, ["json_output=true"])
om = OutputManager(cfg)
for i in range(5):
    om.submit(make_alert(i))
om.close(10)
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [make_alert(i).to_json() for i in range(5)]


# ------------------------------------------------------------------ syslog_output


@pytest.fixture
def unix_syslog(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "log.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    try:
        yield path, s
    finally:
        s.close()


@pytest.fixture
def udp_syslog() -> Iterator[tuple[str, socket.socket]]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(10)
    try:
        yield f"udp://127.0.0.1:{s.getsockname()[1]}", s
    finally:
        s.close()


@pytest.mark.parametrize("receiver", ["unix_syslog", "udp_syslog"])
def test_syslog_output_facility_user_severity_from_priority(
    receiver: str, request: pytest.FixtureRequest, config_factory: Callable[..., Config]
) -> None:
    address, sock = request.getfixturevalue(receiver)
    cfg = config_factory("syslog_output.enabled=true", f"syslog_output.address={address}")
    prios = [Priority.EMERGENCY, Priority.WARNING, Priority.INFORMATIONAL, Priority.DEBUG]
    om = run(cfg, [make_alert(i, priority=p) for i, p in enumerate(prios)])
    assert om.counters.delivered == {"syslog": 4} and om.counters.errors == {"syslog": 0}
    got = [sock.recv(65536).decode() for _ in prios]
    for i, (p, msg) in enumerate(zip(prios, got, strict=True)):
        assert msg.startswith(f"<{8 + int(p)}>")  # LOG_USER = 1 → 8 + severity
        assert msg.endswith(f"rae[{os.getpid()}]: {make_alert(i, priority=p).text_line()}")
    assert [m.split(">", 1)[0] for m in got] == ["<8", "<12", "<14", "<15"]


def test_syslog_output_unreachable_is_counted_not_fatal(tmp_path: Path,
                                                        config_factory: Callable[..., Config]) -> None:
    cfg = config_factory("syslog_output.enabled=true", f"syslog_output.address={tmp_path}/none.sock",
                         "file_output.enabled=true", f"file_output.filename={tmp_path}/f.txt")
    om = run(cfg, [make_alert(i) for i in range(3)])
    assert om.counters.errors["syslog"] == 3
    assert om.counters.delivered["file"] == 3


# ------------------------------------------------------------------ program_output


@pytest.mark.parametrize("keep_alive", [False, True])
def test_program_output_corpus_shape(tmp_path: Path, keep_alive: bool) -> None:
    # confs/program_output.yaml: `program: cat >> /tmp/falco_outputs/program_output.txt`
    conf = yaml.safe_load((CONFS / "program_output.yaml").read_text())
    target = tmp_path / "program_output.txt"
    conf["program_output"]["program"] = conf["program_output"]["program"].replace(
        "/tmp/falco_outputs/program_output.txt", str(target))
    conf["program_output"]["keep_alive"] = keep_alive
    conf["stdout_output"]["enabled"] = False
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(conf))
    from rae.config import load_config

    om = run(load_config(path), [make_alert(i) for i in range(4)])
    assert om.counters.delivered == {"program": 4}
    assert target.read_text().splitlines() == [make_alert(i).text_line() for i in range(4)]


def test_program_output_failing_program_is_counted(tmp_path: Path, config_factory: Callable[..., Config]) -> None:
    cfg = config_factory("program_output.enabled=true", "program_output.program=exit 0",
                         "program_output.keep_alive=true", "file_output.enabled=true",
                         f"file_output.filename={tmp_path}/f.txt")
    om = OutputManager(cfg)
    for i in range(50):  # the program exits at once: writes fail (broken pipe) or restart it
        om.submit(make_alert(i))
    om.close(10)
    c = om.counters
    assert c.delivered["program"] + c.errors["program"] == 50
    assert c.delivered["file"] == 50


# ------------------------------------------------------------------ syslog_output into a real rsyslogd


@pytest.fixture
def rsyslogd(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An unprivileged rsyslogd reading a unix socket (what /dev/log is) and writing each message to a file."""
    import shutil

    exe = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
    if exe is None:
        pytest.skip("rsyslogd is not installed (tools/apt-packages.txt lists rsyslog)")
    work = tmp_path / "rsyslog"
    work.mkdir()
    sock, out = work / "log.sock", work / "messages.log"
    conf = work / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}")\n'
        'module(load="imuxsock" SysSock.Use="off")\n'
        f'input(type="imuxsock" Socket="{sock}")\n'
        'template(name="t" type="string" string="%syslogfacility%|%syslogseverity%|%programname%|%msg%\\n")\n'
        f'*.* action(type="omfile" file="{out}" template="t")\n'
    )
    proc = subprocess.Popen([exe, "-n", "-f", str(conf), "-i", str(work / "pid")],
                            stdout=subprocess.DEVNULL, stderr=open(work / "stderr", "wb"))  # noqa: SIM115
    try:
        wait_for(lambda: sock.exists() or proc.poll() is not None, "rsyslogd's socket")
        if proc.poll() is not None:
            raise AssertionError(f"rsyslogd exited: {(work / 'stderr').read_text()}")
        yield str(sock), out
    finally:
        stop_process(proc)


def test_syslog_output_into_rsyslogd(rsyslogd: tuple[str, Path], config_factory: Callable[..., Config]) -> None:
    sock, out = rsyslogd
    cfg = config_factory("syslog_output.enabled=true", f"syslog_output.address={sock}")
    prios = [Priority.CRITICAL, Priority.NOTICE]
    om = run(cfg, [make_alert(i, priority=p) for i, p in enumerate(prios)])
    assert om.counters.delivered == {"syslog": 2}
    wait_for(lambda: out.exists() and out.read_text().count("\n") >= 2, "rsyslogd's file")
    lines = out.read_text().splitlines()
    # rsyslog keeps the space after "rae[pid]:" in %msg%
    assert lines == [f"1|{int(p)}|rae| {make_alert(i, priority=p).text_line()}" for i, p in enumerate(prios)]
