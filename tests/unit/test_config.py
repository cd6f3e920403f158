"""falco.yaml-compatible settings: the corpus configs, defaults, config_files, ${ENV}, -o, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rae.config import (
    DEFAULT_OUTPUTS_QUEUE_BOUND,
    DEFAULTS,
    Config,
    apply_override,
    builtin_rules_dir,
    expand_env,
    load_config,
    resolve_rules_paths,
)
from rae.errors import RaeError
from rae.priority import Priority

ROOT = Path(__file__).resolve().parents[2]
CONFS = ROOT / ".." / "shared" / "corpus" / "falco-regression" / "confs"


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# ------------------------------------------------------------------ the corpus configs


def test_corpus_file_output_conf() -> None:
    cfg = load_config(CONFS / "file_output.yaml")
    assert cfg.rules_files == ("/etc/falco_rules.yaml",)  # old `rules_file` key
    assert cfg.json_output is False
    assert cfg.log_stderr is False and cfg.log_syslog is False
    assert cfg.file_output.enabled and cfg.file_output.filename == "/tmp/falco_outputs/file_output.txt"
    assert cfg.file_output.keep_alive is False
    assert cfg.stdout_output.enabled and not cfg.syslog_output.enabled
    assert cfg.program_output.enabled is False
    assert cfg.program_output.program == 'mail -s "Falco Notification" someone@example.com'
    assert cfg.loaded_files == (str(CONFS / "file_output.yaml"),)


def test_corpus_program_output_conf() -> None:
    cfg = load_config(CONFS / "program_output.yaml")
    assert cfg.program_output.enabled
    assert cfg.program_output.program == "cat >> /tmp/falco_outputs/program_output.txt"
    assert cfg.file_output.filename == "./output.txt"


@pytest.mark.parametrize(
    ("name", "actions"),
    [
        ("drops_alert.yaml", ("alert",)),
        ("drops_exit.yaml", ("exit",)),
        ("drops_ignore.yaml", ("ignore",)),
        ("drops_log.yaml", ("log",)),
        ("drops_none.yaml", ("log",)),
    ],
)
def test_corpus_drop_confs(name: str, actions: tuple[str, ...]) -> None:
    cfg = load_config(CONFS / name)
    d = cfg.syscall_event_drops
    assert d.actions == actions
    assert d.rate == pytest.approx(0.03333) and d.max_burst == 10
    assert d.simulate_drops is (name != "drops_none.yaml")
    assert d.threshold == pytest.approx(0.1)  # default
    if name == "drops_log.yaml":
        assert cfg.log_level == "debug"


@pytest.mark.parametrize("name", ["drops_threshold_neg.yaml", "drops_threshold_oor.yaml"])
def test_corpus_drop_threshold_out_of_range(name: str) -> None:
    with pytest.raises(RaeError, match=r"drops_threshold_.*threshold must be a double in the range \[0, 1\]"):
        load_config(CONFS / name)


def test_corpus_ignore_then_log_is_contradictory() -> None:
    with pytest.raises(RaeError, match='action "log" does not make sense with the "ignore" action'):
        load_config(CONFS / "drops_ignore_log.yaml")


def test_corpus_k8s_audit_plugin_with_open_params_override() -> None:
    cfg = load_config(
        CONFS / "plugins" / "k8s_audit.yaml",
        ["plugins[0].open_params=trace_files/k8s_audit/create_nginx_pod_privileged.json"],
    )
    assert [p.name for p in cfg.active_plugins] == ["k8saudit", "json"]
    assert cfg.k8saudit_open_params == "trace_files/k8s_audit/create_nginx_pod_privileged.json"
    assert cfg.plugins[1].open_params == ""
    assert cfg.get("plugins[0].open_params").endswith("privileged.json")


@pytest.mark.parametrize(
    "name",
    ["cloudtrail_json_create_instances.yaml", "incompatible_plugin_api.yaml", "wrong_plugin_path.yaml"],
)
def test_corpus_unsupported_plugins_are_refused(name: str) -> None:
    with pytest.raises(RaeError, match=r"plugin '\w+' is not supported by rae"):
        load_config(CONFS / "plugins" / name)
    load_config(CONFS / "plugins" / name, check_plugins=False)  # the caller may choose to ignore them


def test_corpus_grpc_conf_unknown_keys_tolerated() -> None:
    cfg = load_config(CONFS / "grpc_unix_socket.yaml")
    assert cfg.stdout_output.enabled is False
    assert cfg.raw["grpc"]["threadiness"] == 8  # kept, unused


# ------------------------------------------------------------------ defaults


def test_defaults_are_falco_head_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "empty.yaml", ""))
    assert cfg.priority is Priority.DEBUG
    assert cfg.rule_matching == "first"
    assert cfg.json_output is False
    assert cfg.json_include_output_property and cfg.json_include_tags_property
    assert not cfg.json_include_message_property and cfg.json_include_output_fields_property
    assert cfg.time_format_iso_8601 is False and cfg.buffered_outputs is False
    assert cfg.outputs_queue_capacity == 0 and cfg.outputs_queue_bound == DEFAULT_OUTPUTS_QUEUE_BOUND
    assert (cfg.outputs.rate, cfg.outputs.max_burst) == (0.0, 1000)
    assert cfg.stdout_output.enabled and cfg.syslog_output.enabled and not cfg.file_output.enabled
    assert cfg.file_output.filename == "./events.txt"
    h = cfg.http_output
    assert (h.enabled, h.user_agent, h.ca_path, h.max_consecutive_timeouts) == (
        False, "falcosecurity/falco", "/etc/ssl/certs", 5)
    assert (h.client_cert, h.client_key) == ("/etc/ssl/certs/client.crt", "/etc/ssl/certs/client.key")
    w = cfg.webserver
    assert (w.enabled, w.listen_port, w.listen_address) == (True, 8765, "0.0.0.0")
    assert w.k8s_healthz_endpoint == "/healthz"
    assert (w.prometheus_metrics_enabled, w.ssl_enabled) == (False, False)
    assert w.ssl_certificate == "/etc/falco/falco.pem"
    d = cfg.syscall_event_drops
    assert (d.threshold, d.actions, d.rate) == (0.1, ("log", "alert"), 0.03333)
    assert (d.max_burst, d.simulate_drops) == (1, False)
    assert cfg.base_syscalls.custom_set == () and not cfg.base_syscalls.repair and not cfg.base_syscalls.all
    assert cfg.watch_config_files is True
    assert (cfg.log_level, cfg.log_stderr, cfg.log_syslog) == ("info", True, True)
    assert cfg.engine.kind == "modern_ebpf" and cfg.engine.replay_capture_file == ""
    assert cfg.output_timeout_ms == 2000
    assert cfg.rules_files == (str(builtin_rules_dir()),)
    assert cfg.plugins == () and cfg.active_plugins == () and cfg.k8saudit_open_params is None


def test_shipped_default_config_lists_builtin_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAE_CONFIG", raising=False)
    shipped = ROOT / "config" / "rae.yaml"
    cfg = load_config(shipped)
    assert cfg.rules_files[0] == str(builtin_rules_dir())
    assert cfg.json_output is True and cfg.syslog_output.enabled is False
    assert cfg.webserver.prometheus_metrics_enabled is True
    assert cfg.k8saudit_open_params == "https://127.0.0.1:9765/k8s-audit"
    # without -c, the shipped file is used (unless /etc/rae/rae.yaml exists on this machine)
    if not Path("/etc/rae/rae.yaml").exists():
        assert load_config(None).loaded_files[0] == str(shipped)


def test_rae_config_env_names_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAE_CONFIG", write(tmp_path, "mine.yaml", "priority: warning\n"))
    assert load_config(None).priority is Priority.WARNING


# ------------------------------------------------------------------ env expansion


def test_env_expansion_and_escape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAE_T_PORT", "9876")
    monkeypatch.setenv("RAE_T_HOST", "node-1")
    monkeypatch.delenv("RAE_T_UNSET", raising=False)
    path = write(tmp_path, "c.yaml", """
webserver:
  listen_port: ${RAE_T_PORT}
  enabled: "${RAE_T_UNSET}true"
http_output:
  url: "http://${RAE_T_HOST}:2801/$${NOT_EXPANDED}/x${RAE_T_UNSET}y"
plugins:
  - name: k8smeta
    library_path: libk8smeta.so
    init_config: {nodeName: "${RAE_T_HOST}"}
""")
    cfg = load_config(path)
    assert cfg.webserver.listen_port == 9876
    assert cfg.raw["webserver"]["listen_port"] == 9876  # re-typed after expansion
    assert cfg.webserver.enabled is True
    assert cfg.http_output.url == "http://node-1:2801/${NOT_EXPANDED}/xy"
    assert cfg.plugins[0].init_config == {"nodeName": "node-1"}


def test_expand_env_unit() -> None:
    env = {"A": "1"}
    assert expand_env("${A}-${B}-$${A}-$A-${", env) == "1--${A}-$A-${"


# ------------------------------------------------------------------ config_files


def test_config_files_strategies_and_directories(tmp_path: Path) -> None:
    d = tmp_path / "config.d"
    d.mkdir()
    (d / "20-b.yaml").write_text("rules_files: [/b.yaml]\nstdout_output: {enabled: false}\n")
    (d / "10-a.yaml").write_text("rules_files: [/a.yaml]\npriority: error\n")
    (d / "not-yaml.txt").write_text("json_output: true\n")  # every regular file counts, as Falco
    override = write(tmp_path, "override.yaml", "rules_files: [/only.yaml]\n")
    addonly = write(tmp_path, "addonly.yaml", "priority: debug\nlog_level: debug\n")
    main = write(tmp_path, "main.yaml", f"""
rules_files: [/main.yaml]
config_files:
  - {d}
  - /does/not/exist
  - {{path: {addonly}, strategy: add-only}}
""")
    cfg = load_config(main)
    assert cfg.rules_files == ("/main.yaml", "/a.yaml", "/b.yaml")  # append, name order
    assert cfg.priority is Priority.ERROR  # add-only did not override
    assert cfg.log_level == "debug"  # add-only added
    assert cfg.stdout_output.enabled is False and cfg.json_output is True
    assert cfg.loaded_files[0] == main and cfg.loaded_files[1].endswith("10-a.yaml")
    cfg = load_config(main, [f"config_files[]={{path: {override}, strategy: override}}"])
    assert cfg.rules_files == ("/only.yaml",)


def test_config_files_errors(tmp_path: Path) -> None:
    inner = write(tmp_path, "inner.yaml", "config_files: [/x]\n")
    main = write(tmp_path, "main.yaml", f"config_files: [{inner}]\n")
    with pytest.raises(RaeError, match=r"inner\.yaml: config_files is not allowed in an included"):
        load_config(main)
    selfref = tmp_path / "self.yaml"
    selfref.write_text(f"config_files: [{selfref}]\n")
    with pytest.raises(RaeError, match=r"includes? the main config file itself"):
        load_config(selfref)
    bad = write(tmp_path, "bad.yaml", "config_files: [{path: /x, strategy: merge}]\n")
    with pytest.raises(RaeError, match=r"config_files\[0\]\.strategy: expected one of append, override"):
        load_config(bad)


# ------------------------------------------------------------------ -o overrides


def test_overrides_paths_indexes_and_types(tmp_path: Path) -> None:
    main = write(tmp_path, "c.yaml", "plugins:\n  - {name: k8saudit, library_path: x.so, open_params: ''}\n")
    cfg = load_config(main, [
        "http_output.enabled=true",
        "http_output.url=https://sidekick:2801/",
        "webserver.listen_port=9999",
        "outputs.rate=0.5",
        "priority=WARNING",
        "plugins[0].open_params=/tmp/audit.json",
        "plugins[1]={name: json, library_path: libjson.so}",
        "rules[]={disable: {rule: '*'}}",
        "rules[]={enable: {tag: k8s}}",
        "base_syscalls.custom_set=[clone, '!write']",
        "json_output=yes",
        "new.deep.key=1",
    ])
    assert cfg.http_output.enabled is True and cfg.http_output.url == "https://sidekick:2801/"
    assert cfg.webserver.listen_port == 9999 and cfg.raw["webserver"]["listen_port"] == 9999
    assert cfg.outputs.rate == 0.5
    assert cfg.priority is Priority.WARNING
    assert cfg.k8saudit_open_params == "/tmp/audit.json"
    assert [p.name for p in cfg.plugins] == ["k8saudit", "json"]
    assert [(r.action, r.rule, r.tag) for r in cfg.rules] == [("disable", "*", None), ("enable", None, "k8s")]
    assert cfg.base_syscalls.custom_set == ("clone", "!write")
    assert cfg.json_output is True
    assert cfg.get("new.deep.key") == 1


def test_override_key_grammar() -> None:
    tree: dict = {}
    apply_override(tree, r"a\.b.c[0]=x")
    apply_override(tree, r"a\.b.c[]=y")
    apply_override(tree, "s=")
    apply_override(tree, "t= spaced = value")
    assert tree == {"a.b": {"c": ["x", "y"]}, "s": "", "t": " spaced = value"}


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("novalue", "must be of the form key=value"),
        ("a..b=1", "empty component"),
        ("a[x]=1", r"invalid index '\[x\]'"),
        ("a[1=1", "unclosed"),
        ("plugins[5].open_params=x", r"index 5 out of range \(list has 0 items\)"),
        ("priority.sub=1", "priority is not a mapping or a list"),
        ("x={a: [}", "invalid YAML value"),
    ],
)
def test_override_errors(option: str, message: str) -> None:
    tree: dict = {"plugins": [], "priority": "debug"}
    with pytest.raises(RaeError, match=message):
        apply_override(tree, option)


# ------------------------------------------------------------------ validation errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("json_output: maybe\n", "json_output: expected a boolean, got 'maybe'"),
        ("webserver: {listen_port: http}\n", "webserver.listen_port: expected an integer, got 'http'"),
        ("webserver: {listen_port: 70000}\n", r"listen_port: expected a port number \(0-65535\), got 70000"),
        ("outputs_queue: {capacity: -1}\n", "outputs_queue.capacity: expected an integer >= 0, got -1"),
        ("outputs: {rate: fast}\n", "outputs.rate: expected a number, got 'fast'"),
        ("priority: loud\n", "priority: expected one of emergency, .*debug, got 'loud'"),
        ("rule_matching: some\n", "rule_matching: expected one of first, all, got 'some'"),
        ("log_level: chatty\n", "log_level: expected one of emergency"),
        ("engine: {kind: kernel}\n", "engine.kind: expected one of kmod, ebpf, modern_ebpf"),
        ("rules_files: {a: 1}\n", "rules_files: expected a list of paths, got a mapping"),
        ("rules_files: [a]\nrules_file: [b]\n", "both 'rules_files' and 'rules_file' keys set"),
        ("rules: [{enable: {name: x}}]\n", r"rules\[0\].enable: expected a mapping with 'rule' and/or 'tag'"),
        ("rules: [{toggle: {rule: x}}]\n", r"rules\[0\]: expected a mapping with one key, enable or disable"),
        ("syscall_event_drops: {actions: [shout]}\n", "drops.actions: expected a list of ignore"),
        ("base_syscalls: {custom_set: [[a]]}\n", "base_syscalls.custom_set: expected a list of strings"),
        ("load_plugins: [k8saudit]\n", "cannot load plugin 'k8saudit': no entry for it in plugins"),
        ("plugins: [{library_path: x}]\n", r"plugins\[0\].name: expected a string, got null"),
        ("- a\n- b\n", "a config file must be a YAML mapping, not a list"),
        ("webserver: true\n", "webserver: expected a mapping, got True"),
        ("engine: {replay: x}\n", "engine.replay: expected a mapping, got 'x'"),
        ("a: [\n", "invalid YAML: line 2"),
    ],
)
def test_validation_errors_name_file_key_and_type(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(RaeError, match=message) as ei:
        load_config(path)
    assert str(ei.value).startswith(path + ": ")
    assert "\n" not in str(ei.value)


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(RaeError, match=r"nope.yaml: config file not found$"):
        load_config(tmp_path / "nope.yaml")


def test_weak_types_as_yaml_cpp(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "c.yaml", """
json_output: "true"
buffered_outputs: "off"
outputs_queue: {capacity: "100"}
webserver: {listen_port: "8080"}
syscall_event_drops: {threshold: "0.5", actions: log}
http_output: {url: 12}
"""))
    assert cfg.json_output is True and cfg.buffered_outputs is False
    assert cfg.outputs_queue_capacity == 100 and cfg.outputs_queue_bound == 100
    assert cfg.webserver.listen_port == 8080
    assert cfg.syscall_event_drops.threshold == 0.5 and cfg.syscall_event_drops.actions == ("log",)
    assert cfg.http_output.url == "12"


def test_config_is_read_only(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "c.yaml", "webserver: {listen_port: 1}\n"))
    assert isinstance(cfg, Config)
    with pytest.raises(AttributeError):
        cfg.json_output = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.raw["webserver"]["listen_port"] = 2  # type: ignore[index]


def test_defaults_table_round_trips_as_yaml() -> None:
    # DEFAULTS is documented as a falco.yaml; it must load as one and give the same values
    text = yaml.safe_dump(DEFAULTS)
    assert yaml.safe_load(text) == DEFAULTS


def test_resolve_rules_paths(tmp_path: Path) -> None:
    d = tmp_path / "rules.d"
    d.mkdir()
    for n in ("b.yaml", "a.yml", "c.txt"):
        (d / n).write_text("[]\n")
    f = tmp_path / "x.yaml"
    f.write_text("[]\n")
    got = resolve_rules_paths([str(f), str(d), "/missing.yaml"])
    assert got == [str(f), str(d / "a.yml"), str(d / "b.yaml")]


def test_config_files_from_the_command_line(tmp_path: Path) -> None:
    frag = write(tmp_path, "frag.yaml", "json_output: true\nrules_files: [/frag.yaml]\n")
    main = write(tmp_path, "main.yaml", "rules_files: [/main.yaml]\njson_output: false\n")
    # `-o config_files=FILE` is merged before the other -o options, as Falco does
    cfg = load_config(main, ["json_output=false", f"config_files={frag}"])
    assert cfg.rules_files == ("/main.yaml", "/frag.yaml")
    assert cfg.json_output is False
    assert cfg.loaded_files == (main, frag)


def test_supported_plugins_cover_the_declared_plugin_versions() -> None:
    from rae.config import SUPPORTED_PLUGINS
    from rae.rules.collector import PLUGIN_VERSIONS

    assert set(PLUGIN_VERSIONS) <= SUPPORTED_PLUGINS
