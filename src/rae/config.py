"""falco.yaml-compatible settings: loading, ``config_files``, ``${ENV}``, ``-o`` overrides, validation.

Falco users bring their ``falco.yaml`` unchanged, so this module reads the same file with the
same rules: ``${VAR}`` in any scalar is replaced by the environment variable (unset → empty,
``$${x}`` → ``${x}``), ``config_files`` entries (files or directories, merged with the
``append``/``override``/``add-only`` strategies) are merged after the main file, and ``-o
key=value`` overrides go last, with Falco's key syntax (``plugins[0].open_params``,
``append_output[]`` appends, ``\\.`` escapes a dot). Values are weakly typed as in yaml-cpp:
``"true"`` is a boolean where a boolean is expected.

Two layers of defaults exist, on purpose:

* :data:`DEFAULTS` — Falco HEAD's shipped ``falco.yaml`` values for every key rae reads, used
  for keys a loaded file does not set (so a Falco config means what it means in Falco);
* ``config/rae.yaml`` — the config rae uses when no ``-c`` is given (JSON alerts, the built-in
  rules, no syslog), found by :func:`default_config_path`.

Unknown keys are kept in :attr:`Config.raw` and ignored: real-world configs carry many keys rae
has no use for. Only the parts rae uses are typed (frozen dataclasses), and a wrong type there
is a one-line :class:`~rae.errors.RaeError` naming the file, the key and the expected type.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from rae.defaults import rules_dir
from rae.errors import RaeError
from rae.plugins import PLUGIN_VERSIONS
from rae.priority import Priority

__all__ = [
    "DEFAULTS",
    "DEFAULT_OUTPUTS_QUEUE_BOUND",
    "SUPPORTED_PLUGINS",
    "BaseSyscalls",
    "Config",
    "EngineConfig",
    "FileOutput",
    "HttpOutput",
    "OutputsRate",
    "PluginConfig",
    "ProgramOutput",
    "RuleSelection",
    "StdoutOutput",
    "SyscallEventDrops",
    "SyslogOutput",
    "Webserver",
    "apply_override",
    "builtin_rules_dir",
    "default_config_path",
    "expand_env",
    "load_config",
    "resolve_rules_paths",
]

#: ``outputs_queue.capacity: 0`` means "unbounded" in Falco; rae bounds it anyway — an unbounded
#: queue only moves the failure to OOM. The count alone would allow 64 MiB to hundreds of MiB (an
#: alert takes ~1 KiB, more with long command lines), so the queue is also bounded in bytes
#: (`rae.outputs.manager.QUEUE_BYTES`).
DEFAULT_OUTPUTS_QUEUE_BOUND = 65536

#: Plugins whose fields rae provides natively; a config may name them (they are not loaded).
#: The plugins whose fields rae implements (``rae.plugins.PLUGIN_VERSIONS``), plus ``k8smeta`` (pod metadata).
SUPPORTED_PLUGINS = frozenset(PLUGIN_VERSIONS) | {"k8smeta"}

_REPO_ROOT = Path(__file__).resolve().parents[2]


def builtin_rules_dir() -> Path:
    """The directory of rae's own rules files (:func:`rae.defaults.rules_dir`)."""
    return rules_dir()


def default_config_path() -> Path | None:
    """The config used without ``-c``: ``$RAE_CONFIG``, /etc/rae/rae.yaml, or the repo's config/rae.yaml."""
    env = os.environ.get("RAE_CONFIG")
    if env:
        return Path(env)
    for cand in (Path("/etc/rae/rae.yaml"), _REPO_ROOT / "config" / "rae.yaml"):
        if cand.is_file():
            return cand
    return None


# Falco HEAD's shipped falco.yaml values for the keys rae reads (reference §12.1). Two keys
# differ on purpose: `config_files` (Falco's /etc/falco/config.d would pull in a co-installed
# Falco's fragments) and `rules_files` (rae's built-in rules instead of /etc/falco/*).
DEFAULTS: dict[str, Any] = {
    "config_files": [],
    "watch_config_files": True,
    "rules_files": ["${RAE_RULES_DIR}"],
    "rules": [],
    "engine": {
        "kind": "modern_ebpf",
        "replay": {"capture_file": ""},
        "modern_ebpf": {"cpus_for_each_buffer": 2, "buf_size_preset": 4, "drop_failed_exit": False},
    },
    "load_plugins": [],
    "plugins": [],
    "time_format_iso_8601": False,
    "priority": "debug",
    "json_output": False,
    "json_include_output_property": True,
    "json_include_tags_property": True,
    "json_include_message_property": False,
    "json_include_output_fields_property": True,
    "buffered_outputs": False,
    "rule_matching": "first",
    "outputs_queue": {"capacity": 0},
    "outputs": {"rate": 0, "max_burst": 1000},
    "append_output": [],
    "stdout_output": {"enabled": True},
    "syslog_output": {"enabled": True},
    "file_output": {"enabled": False, "keep_alive": False, "filename": "./events.txt"},
    "program_output": {
        "enabled": False,
        "keep_alive": False,
        "program": "jq '{text: .output}' | curl -d @- -X POST https://hooks.slack.com/services/XXX",
    },
    "http_output": {
        "enabled": False,
        "url": "",
        "user_agent": "falcosecurity/falco",
        "insecure": False,
        "ca_cert": "",
        "ca_bundle": "",
        "ca_path": "/etc/ssl/certs",
        "mtls": False,
        "client_cert": "/etc/ssl/certs/client.crt",
        "client_key": "/etc/ssl/certs/client.key",
        "echo": False,
        "compress_uploads": False,
        "keep_alive": False,
        "max_consecutive_timeouts": 5,
    },
    "webserver": {
        "enabled": True,
        "threadiness": 0,
        "listen_port": 8765,
        "listen_address": "0.0.0.0",
        "k8s_healthz_endpoint": "/healthz",
        "prometheus_metrics_enabled": False,
        "ssl_enabled": False,
        "ssl_certificate": "/etc/falco/falco.pem",
    },
    "log_stderr": True,
    "log_syslog": True,
    "log_level": "info",
    "output_timeout": 2000,
    "syscall_event_timeouts": {"max_consecutives": 1000},
    "syscall_event_drops": {
        "threshold": 0.1,
        "actions": ["log", "alert"],
        "rate": 0.03333,
        "max_burst": 1,
        "simulate_drops": False,
    },
    "base_syscalls": {"custom_set": [], "repair": False, "all": False},
}

_LOG_LEVELS = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")
_DROP_ACTIONS = ("ignore", "log", "alert", "exit")
_ENGINE_KINDS = ("kmod", "ebpf", "modern_ebpf", "gvisor", "replay", "nodriver")
_STRATEGIES = ("append", "override", "add-only")


# --------------------------------------------------------------------------- typed view


@dataclass(frozen=True, slots=True)
class RuleSelection:
    """One ``rules:`` entry: ``enable``/``disable`` by rule-name wildcard and/or tag."""

    action: str  # "enable" | "disable"
    rule: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class OutputsRate:
    """Token bucket on alerts (per source); ``rate == 0`` disables it."""

    rate: float = 0.0
    max_burst: int = 1000


@dataclass(frozen=True, slots=True)
class StdoutOutput:
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class SyslogOutput:
    enabled: bool = True
    #: rae extension: where to send (``/dev/log``, another unix socket path, or ``udp://host:port``)
    address: str = "/dev/log"


@dataclass(frozen=True, slots=True)
class FileOutput:
    enabled: bool = False
    keep_alive: bool = False
    filename: str = "./events.txt"


@dataclass(frozen=True, slots=True)
class ProgramOutput:
    enabled: bool = False
    keep_alive: bool = False
    program: str = ""


@dataclass(frozen=True, slots=True)
class HttpOutput:
    enabled: bool = False
    url: str = ""
    user_agent: str = "falcosecurity/falco"
    insecure: bool = False
    ca_cert: str = ""
    ca_bundle: str = ""
    ca_path: str = "/etc/ssl/certs"
    mtls: bool = False
    client_cert: str = "/etc/ssl/certs/client.crt"
    client_key: str = "/etc/ssl/certs/client.key"
    echo: bool = False
    compress_uploads: bool = False
    keep_alive: bool = False
    max_consecutive_timeouts: int = 5


@dataclass(frozen=True, slots=True)
class Webserver:
    enabled: bool = True
    threadiness: int = 0
    listen_port: int = 8765
    listen_address: str = "0.0.0.0"
    k8s_healthz_endpoint: str = "/healthz"
    prometheus_metrics_enabled: bool = False
    ssl_enabled: bool = False
    ssl_certificate: str = "/etc/falco/falco.pem"


@dataclass(frozen=True, slots=True)
class SyscallEventDrops:
    threshold: float = 0.1
    actions: tuple[str, ...] = ("log", "alert")
    rate: float = 0.03333
    max_burst: int = 1
    simulate_drops: bool = False


@dataclass(frozen=True, slots=True)
class BaseSyscalls:
    custom_set: tuple[str, ...] = ()
    repair: bool = False
    all: bool = False


@dataclass(frozen=True, slots=True)
class PluginConfig:
    name: str
    library_path: str = ""
    init_config: Any = ""
    open_params: str = ""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    kind: str = "modern_ebpf"
    replay_capture_file: str = ""
    buf_size_preset: int = 4
    cpus_for_each_buffer: int = 2
    drop_failed_exit: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    """The settings rae uses, typed and read-only. ``raw`` is the whole merged tree."""

    rules_files: tuple[str, ...]
    rules: tuple[RuleSelection, ...]
    priority: Priority
    rule_matching: str
    json_output: bool
    json_include_output_property: bool
    json_include_tags_property: bool
    json_include_message_property: bool
    json_include_output_fields_property: bool
    time_format_iso_8601: bool
    buffered_outputs: bool
    outputs_queue_capacity: int
    outputs: OutputsRate
    stdout_output: StdoutOutput
    file_output: FileOutput
    syslog_output: SyslogOutput
    program_output: ProgramOutput
    http_output: HttpOutput
    webserver: Webserver
    syscall_event_drops: SyscallEventDrops
    syscall_event_timeouts_max_consecutives: int
    base_syscalls: BaseSyscalls
    watch_config_files: bool
    log_level: str
    log_stderr: bool
    log_syslog: bool
    output_timeout_ms: int
    plugins: tuple[PluginConfig, ...]
    load_plugins: tuple[str, ...]
    engine: EngineConfig
    #: the files the settings came from, main file first (for watching and checksums)
    loaded_files: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def outputs_queue_bound(self) -> int:
        """The effective queue size: ``capacity``, or :data:`DEFAULT_OUTPUTS_QUEUE_BOUND` for 0."""
        return self.outputs_queue_capacity or DEFAULT_OUTPUTS_QUEUE_BOUND

    @property
    def active_plugins(self) -> tuple[PluginConfig, ...]:
        """The plugins Falco would load: those named by ``load_plugins`` (in its order), else all."""
        if "load_plugins" not in self.raw:
            return self.plugins
        by_name = {p.name: p for p in self.plugins}
        return tuple(by_name[n] for n in self.load_plugins if n in by_name)

    @property
    def k8saudit_open_params(self) -> str | None:
        """The k8saudit plugin's ``open_params`` (webhook URL or audit file), if that plugin is active."""
        for p in self.active_plugins:
            if p.name == "k8saudit":
                return p.open_params
        return None

    def get(self, dotted: str, default: Any = None) -> Any:
        """Any raw key by Falco's key syntax (``webserver.listen_port``, ``plugins[0].name``)."""
        node: Any = self.raw
        for part in _parse_key(dotted):
            by_index = isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node)
            if by_index or (isinstance(part, str) and isinstance(node, Mapping) and part in node):
                node = node[part]
            else:
                return default
        return node


# --------------------------------------------------------------------------- env expansion

_ENV_REF = re.compile(r"\$(\$?)\{([^}]*)\}")


def expand_env(text: str, env: Mapping[str, str]) -> str:
    """Falco's ``${VAR}`` expansion: unset → empty; ``$${x}`` → ``${x}`` (left unexpanded)."""
    if "$" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            return "${" + m.group(2) + "}"
        return env.get(m.group(2), "")

    return _ENV_REF.sub(repl, text)


def _retype(text: str) -> Any:
    """A scalar's YAML type after expansion (``"8765"`` → 8765); non-scalars stay text."""
    try:
        val = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if val is None and text.strip() not in ("", "~", "null", "Null", "NULL"):
        return text
    if isinstance(val, (bool, int, float)) or val is None:
        return val
    return text


def _expand_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _expand_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_tree(v, env) for v in node]
    if isinstance(node, str) and "$" in node:
        out = expand_env(node, env)
        return _retype(out) if out != node and "${" not in out else out
    return node


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RAE_RULES_DIR", str(builtin_rules_dir()))
    return env


# --------------------------------------------------------------------------- -o keys


def _parse_key(key: str) -> list[str | int | None]:
    """Falco's key grammar: ``a.b[2].c``; ``a[]`` appends (None); backslash escapes ``.[]\\``."""
    parts: list[str | int | None] = []
    cur = ""
    have_cur = False
    i = 0
    n = len(key)
    while i < n:
        c = key[i]
        if c == "\\":
            if i + 1 >= n or key[i + 1] not in ".[]\\":
                raise ValueError(f"invalid escape in key '{key}'")
            cur += key[i + 1]
            have_cur = True
            i += 2
            continue
        if c == ".":
            if not have_cur and (not parts or key[i - 1] not in "]"):
                raise ValueError(f"empty component in key '{key}'")
            if have_cur:
                parts.append(cur)
            cur, have_cur = "", False
            i += 1
            continue
        if c == "[":
            if have_cur:
                parts.append(cur)
                cur, have_cur = "", False
            elif not parts:
                raise ValueError(f"index without a name in key '{key}'")
            end = key.find("]", i)
            if end < 0:
                raise ValueError(f"unclosed '[' in key '{key}'")
            idx = key[i + 1 : end]
            if idx == "":
                parts.append(None)
            elif idx.isdigit():
                parts.append(int(idx))
            else:
                raise ValueError(f"invalid index '[{idx}]' in key '{key}'")
            i = end + 1
            if i < n and key[i] not in ".[":
                raise ValueError(f"unexpected '{key[i]}' after ']' in key '{key}'")
            continue
        if c == "]":
            raise ValueError(f"unexpected ']' in key '{key}'")
        cur += c
        have_cur = True
        i += 1
    if have_cur:
        parts.append(cur)
    elif not parts or key.endswith("."):
        raise ValueError(f"empty key '{key}'")
    return parts


def _parse_value(text: str) -> Any:
    """A ``-o`` value: YAML-typed scalar, or a YAML mapping/list when written ``{…}``/``[…]``."""
    s = text.strip()
    if (s.startswith("{") and s.endswith("}")) or (s.startswith("[") and s.endswith("]")):
        try:
            return yaml.safe_load(s)
        except yaml.YAMLError as exc:
            raise ValueError(f"invalid YAML value '{text}': {_yaml_problem(exc)}") from None
    if s == "":
        return ""
    return _retype(text)


def apply_override(tree: dict[str, Any], option: str) -> None:
    """Apply one ``key=value`` option to ``tree`` in place (Falco's ``-o`` semantics)."""
    if "=" not in option:
        raise RaeError(f'-o "{option}": must be of the form key=value or key.subkey=value')
    key, _, text = option.partition("=")
    try:
        path = _parse_key(key)
        value = _parse_value(text)
    except ValueError as exc:
        raise RaeError(f'-o "{option}": {exc}') from None
    node: Any = tree
    for pos, part in enumerate(path):
        last = pos == len(path) - 1
        nxt = None if last else path[pos + 1]
        fresh: Any = [] if isinstance(nxt, int) or (nxt is None and not last) else {}
        where = ".".join(str(p) for p in path[:pos]) or "<root>"
        if isinstance(part, str):
            if not isinstance(node, dict):
                raise RaeError(f'-o "{option}": {where} is not a mapping')
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = fresh
                elif not isinstance(node[part], (dict, list)):
                    here = ".".join(str(p) for p in path[: pos + 1])
                    raise RaeError(f'-o "{option}": {here} is not a mapping or a list')
                node = node[part]
        else:
            if not isinstance(node, list):
                raise RaeError(f'-o "{option}": {where} is not a list')
            idx = len(node) if part is None else part
            if idx > len(node):
                raise RaeError(f'-o "{option}": index {idx} out of range (list has {len(node)} items)')
            if idx == len(node):
                node.append(value if last else fresh)
            elif last:
                node[idx] = value
            elif node[idx] is None:
                node[idx] = fresh
            elif not isinstance(node[idx], (dict, list)):
                raise RaeError(f'-o "{option}": {where}[{idx}] is not a mapping or a list')
            if not last:
                node = node[idx]


# --------------------------------------------------------------------------- loading


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)


def _read_yaml(path: str, env: Mapping[str, str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise RaeError(f"{path}: config file not found") from None
    except OSError as exc:
        raise RaeError(f"{path}: cannot read config file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RaeError(f"{path}: config file is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise RaeError(f"{path}: invalid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RaeError(f"{path}: a config file must be a YAML mapping, not {_tname(data)}")
    return _expand_tree(data, env)


def _config_file_entries(tree: Mapping[str, Any], origin: str) -> list[tuple[str, str]]:
    entries = tree.get("config_files") or []
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list):
        raise RaeError(f"{origin}: config_files: expected a list of paths, got {_tname(entries)}")
    out = []
    for i, e in enumerate(entries):
        if isinstance(e, str):
            out.append((e, "append"))
        elif isinstance(e, dict) and isinstance(e.get("path"), str):
            strategy = str(e.get("strategy", "append"))
            if strategy not in _STRATEGIES:
                raise RaeError(
                    f"{origin}: config_files[{i}].strategy: expected one of {', '.join(_STRATEGIES)},"
                    f" got '{strategy}'"
                )
            out.append((e["path"], strategy))
        else:
            raise RaeError(f"{origin}: config_files[{i}]: expected a path or {{path, strategy}}")
    return out


def _merge_fragment(tree: dict[str, Any], frag: Mapping[str, Any], strategy: str, path: str) -> None:
    for key, val in frag.items():
        if key == "config_files":
            raise RaeError(f"{path}: config_files is not allowed in an included config file")
        if strategy == "append" and isinstance(val, list) and isinstance(tree.get(key), list):
            tree[key] = [*tree[key], *val]
        elif strategy == "add-only":
            tree.setdefault(key, val)
        else:
            tree[key] = val


def _include_config_files(tree: dict[str, Any], main: str, env: Mapping[str, str], loaded: list[str]) -> None:
    main_abs = os.path.abspath(main) if main else ""
    for path, strategy in _config_file_entries(tree, main or "<config>"):
        if main_abs and os.path.abspath(path) == main_abs:
            raise RaeError(f"{main}: config_files tries to include the main config file itself")
        p = Path(path)
        if p.is_file():
            files = [str(p)]
        elif p.is_dir():
            files = sorted(str(c) for c in p.iterdir() if c.is_file())
        else:
            continue  # as Falco: missing entries are skipped
        for f in files:
            _merge_fragment(tree, _read_yaml(f, env), strategy, f)
            loaded.append(f)


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    use_default_file: bool = True,
    check_plugins: bool = True,
) -> Config:
    """Load ``path`` (``-c``; ``None`` = :func:`default_config_path`), its ``config_files`` and ``-o``'s.

    Order as in Falco: main file, ``-o config_files=…`` options, the fragments, then every
    other ``-o``. Keys nobody set take :data:`DEFAULTS`. Raises RaeError with one line.
    """
    env = _env()
    loaded: list[str] = []
    main = ""
    if path is None and use_default_file:
        dflt = default_config_path()
        path = dflt
    if path is not None:
        main = os.fspath(path)
        tree = _read_yaml(main, env)
        loaded.append(main)
    else:
        tree = {}
    cf_opts = [o for o in overrides if o.split("=", 1)[0].startswith("config_files")]
    for opt in cf_opts:
        apply_override(tree, opt)
    _include_config_files(tree, main, env, loaded)
    for opt in overrides:
        if opt not in cf_opts:
            apply_override(tree, opt)
    return _build(tree, main or "<defaults>", tuple(loaded), check_plugins)


def resolve_rules_paths(paths: Iterable[str]) -> list[str]:
    """Falco's expansion of ``rules_files``: a directory gives its ``*.yaml``/``*.yml`` files in name
    order; missing paths are skipped; a file not named ``*.yaml``/``*.yml`` is skipped."""
    out: list[str] = []
    for p in paths:
        pp = Path(p)
        if pp.is_dir():
            out.extend(sorted(str(c) for c in pp.iterdir() if c.is_file() and c.suffix in (".yaml", ".yml")))
        elif pp.exists() and pp.suffix in (".yaml", ".yml"):
            out.append(str(pp))
    return out


# --------------------------------------------------------------------------- validation


def _tname(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(v), type(v).__name__)


_TRUE = {"true", "yes", "on", "y"}
_FALSE = {"false", "no", "off", "n"}


class _Reader:
    """Typed access to the merged tree; every error names the file, the key and the expected type."""

    def __init__(self, tree: Mapping[str, Any], origin: str) -> None:
        self.tree = tree
        self.origin = origin

    def fail(self, key: str, expected: str, got: Any) -> RaeError:
        shown = repr(got) if isinstance(got, (str, int, float, bool)) else _tname(got)
        return RaeError(f"{self.origin}: {key}: expected {expected}, got {shown}")

    def value(self, key: str) -> Any:
        node: Any = self.tree
        dflt: Any = DEFAULTS
        parts = key.split(".")
        for i, part in enumerate(parts):
            if node is not None and not isinstance(node, Mapping):
                raise self.fail(".".join(parts[:i]), "a mapping", node)
            node = node.get(part) if node is not None else None
            dflt = dflt.get(part) if isinstance(dflt, Mapping) else None
        return dflt if node is None else node

    def bool(self, key: str) -> bool:
        v = self.value(key)
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
            return v.strip().lower() in _TRUE
        raise self.fail(key, "a boolean", v)

    def int(self, key: str, minimum: int | None = 0) -> int:
        v = self.value(key)
        if isinstance(v, str):
            try:
                v = int(v.strip(), 0)
            except ValueError:
                raise self.fail(key, "an integer", v) from None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(key, "an integer", v)
        if minimum is not None and v < minimum:
            raise self.fail(key, f"an integer >= {minimum}", v)
        return v

    def float(self, key: str) -> float:
        v = self.value(key)
        if isinstance(v, str):
            try:
                v = float(v.strip())
            except ValueError:
                raise self.fail(key, "a number", v) from None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(key, "a number", v)
        return float(v)

    def str(self, key: str) -> str:
        v = self.value(key)
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (str, int, float)):
            return str(v)
        raise self.fail(key, "a string", v)

    def choice(self, key: str, choices: Sequence[str]) -> str:
        v = self.str(key).strip().lower()
        if v not in choices:
            raise self.fail(key, "one of " + ", ".join(choices), self.value(key))
        return v

    def str_list(self, key: str) -> tuple[str, ...]:
        v = self.value(key)
        if v is None:
            return ()
        if isinstance(v, str):
            return (v,)
        if not isinstance(v, list) or not all(isinstance(x, (str, int, float)) for x in v):
            raise self.fail(key, "a list of strings", v)
        return tuple(str(x) for x in v)


def _rules_files(r: _Reader) -> tuple[str, ...]:
    has_new = "rules_files" in r.tree
    has_old = "rules_file" in r.tree
    if has_new and has_old:
        raise RaeError(f"{r.origin}: both 'rules_files' and 'rules_file' keys set")
    key = "rules_file" if has_old else "rules_files"
    v = r.tree.get(key) if (has_new or has_old) else DEFAULTS["rules_files"]
    if isinstance(v, str):
        v = [v]
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise r.fail(key, "a list of paths", v)
    if not has_new and not has_old:
        v = [expand_env(x, _env()) for x in v]
    return tuple(v)


def _rule_selection(r: _Reader) -> tuple[RuleSelection, ...]:
    v = r.value("rules")
    if v is None:
        return ()
    if not isinstance(v, list):
        raise r.fail("rules", "a list of enable/disable entries", v)
    out = []
    for i, item in enumerate(v):
        key = f"rules[{i}]"
        if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in ("enable", "disable"):
            raise r.fail(key, "a mapping with one key, enable or disable", item)
        action, sel = next(iter(item.items()))
        if not isinstance(sel, dict) or not (set(sel) & {"rule", "tag"}) or set(sel) - {"rule", "tag"}:
            raise r.fail(f"{key}.{action}", "a mapping with 'rule' and/or 'tag'", sel)
        rule, tag = sel.get("rule"), sel.get("tag")
        for k, val in (("rule", rule), ("tag", tag)):
            if val is not None and not isinstance(val, str):
                raise r.fail(f"{key}.{action}.{k}", "a string", val)
        out.append(RuleSelection(action, rule, tag))
    return tuple(out)


def _plugins(r: _Reader, check: bool) -> tuple[tuple[PluginConfig, ...], tuple[str, ...]]:
    raw = r.tree.get("plugins") or []
    if not isinstance(raw, list):
        raise r.fail("plugins", "a list of plugin entries", raw)
    plugins = []
    for i, p in enumerate(raw):
        if not isinstance(p, dict):
            raise r.fail(f"plugins[{i}]", "a mapping", p)
        name = p.get("name")
        if not isinstance(name, str) or not name:
            raise r.fail(f"plugins[{i}].name", "a string", name)
        lib = p.get("library_path", "")
        if not isinstance(lib, str):
            raise r.fail(f"plugins[{i}].library_path", "a string", lib)
        op = p.get("open_params", "")
        if op is None:
            op = ""
        if not isinstance(op, (str, int, float)):
            raise r.fail(f"plugins[{i}].open_params", "a string", op)
        plugins.append(PluginConfig(name, lib, p.get("init_config", ""), str(op)))
    load = r.str_list("load_plugins")
    names = [p.name for p in plugins]
    for n in load:
        if n not in names:
            raise RaeError(f"{r.origin}: load_plugins: cannot load plugin '{n}': no entry for it in plugins")
    if check:
        active = load if "load_plugins" in r.tree else names
        for n in active:
            if n not in SUPPORTED_PLUGINS:
                raise RaeError(
                    f"{r.origin}: plugins: plugin '{n}' is not supported by rae"
                    f" (its fields are built in for: {', '.join(sorted(SUPPORTED_PLUGINS))})"
                )
    return tuple(plugins), load


def _build(tree: dict[str, Any], origin: str, loaded: tuple[str, ...], check_plugins: bool) -> Config:
    r = _Reader(tree, origin)
    try:
        priority = Priority.parse(r.str("priority"))
    except ValueError:
        raise r.fail(
            "priority", "one of emergency, alert, critical, error, warning, notice, informational, debug",
            r.value("priority"),
        ) from None
    actions = _drop_actions(r)
    threshold = r.float("syscall_event_drops.threshold")
    if not 0.0 <= threshold <= 1.0:
        raise RaeError(
            f"{origin}: syscall_event_drops.threshold: syscall event drops threshold must be a double"
            f" in the range [0, 1], got {threshold}"
        )
    if r.int("syscall_event_timeouts.max_consecutives") == 0:
        raise r.fail("syscall_event_timeouts.max_consecutives", "an integer > 0", 0)
    rate = r.float("outputs.rate")
    if rate < 0:
        raise r.fail("outputs.rate", "a number >= 0", rate)
    plugins, load_plugins = _plugins(r, check_plugins)
    return Config(
        rules_files=_rules_files(r),
        rules=_rule_selection(r),
        priority=priority,
        rule_matching=r.choice("rule_matching", ("first", "all")),
        json_output=r.bool("json_output"),
        json_include_output_property=r.bool("json_include_output_property"),
        json_include_tags_property=r.bool("json_include_tags_property"),
        json_include_message_property=r.bool("json_include_message_property"),
        json_include_output_fields_property=r.bool("json_include_output_fields_property"),
        time_format_iso_8601=r.bool("time_format_iso_8601"),
        buffered_outputs=r.bool("buffered_outputs"),
        outputs_queue_capacity=r.int("outputs_queue.capacity"),
        outputs=OutputsRate(rate, r.int("outputs.max_burst", minimum=1)),
        stdout_output=StdoutOutput(r.bool("stdout_output.enabled")),
        file_output=FileOutput(
            r.bool("file_output.enabled"), r.bool("file_output.keep_alive"), r.str("file_output.filename")
        ),
        syslog_output=SyslogOutput(
            r.bool("syslog_output.enabled"),
            r.str("syslog_output.address") if r.value("syslog_output.address") is not None else "/dev/log",
        ),
        program_output=ProgramOutput(
            r.bool("program_output.enabled"),
            r.bool("program_output.keep_alive"),
            r.str("program_output.program"),
        ),
        http_output=HttpOutput(
            enabled=r.bool("http_output.enabled"),
            url=r.str("http_output.url"),
            user_agent=r.str("http_output.user_agent"),
            insecure=r.bool("http_output.insecure"),
            ca_cert=r.str("http_output.ca_cert"),
            ca_bundle=r.str("http_output.ca_bundle"),
            ca_path=r.str("http_output.ca_path"),
            mtls=r.bool("http_output.mtls"),
            client_cert=r.str("http_output.client_cert"),
            client_key=r.str("http_output.client_key"),
            echo=r.bool("http_output.echo"),
            compress_uploads=r.bool("http_output.compress_uploads"),
            keep_alive=r.bool("http_output.keep_alive"),
            max_consecutive_timeouts=r.int("http_output.max_consecutive_timeouts"),
        ),
        webserver=Webserver(
            enabled=r.bool("webserver.enabled"),
            threadiness=r.int("webserver.threadiness"),
            listen_port=_port(r, "webserver.listen_port"),
            listen_address=r.str("webserver.listen_address"),
            k8s_healthz_endpoint=r.str("webserver.k8s_healthz_endpoint"),
            prometheus_metrics_enabled=r.bool("webserver.prometheus_metrics_enabled"),
            ssl_enabled=r.bool("webserver.ssl_enabled"),
            ssl_certificate=r.str("webserver.ssl_certificate"),
        ),
        syscall_event_drops=SyscallEventDrops(
            threshold=threshold,
            actions=actions,
            rate=r.float("syscall_event_drops.rate"),
            max_burst=r.int("syscall_event_drops.max_burst"),
            simulate_drops=r.bool("syscall_event_drops.simulate_drops"),
        ),
        syscall_event_timeouts_max_consecutives=r.int("syscall_event_timeouts.max_consecutives"),
        base_syscalls=BaseSyscalls(
            custom_set=r.str_list("base_syscalls.custom_set"),
            repair=r.bool("base_syscalls.repair"),
            all=r.bool("base_syscalls.all"),
        ),
        watch_config_files=r.bool("watch_config_files"),
        log_level=_log_level(r),
        log_stderr=r.bool("log_stderr"),
        log_syslog=r.bool("log_syslog"),
        output_timeout_ms=r.int("output_timeout"),
        plugins=plugins,
        load_plugins=load_plugins,
        engine=EngineConfig(
            kind=r.choice("engine.kind", _ENGINE_KINDS),
            replay_capture_file=r.str("engine.replay.capture_file"),
            buf_size_preset=r.int("engine.modern_ebpf.buf_size_preset"),
            cpus_for_each_buffer=r.int("engine.modern_ebpf.cpus_for_each_buffer"),
            drop_failed_exit=r.bool("engine.modern_ebpf.drop_failed_exit"),
        ),
        loaded_files=loaded,
        raw=_freeze(copy.deepcopy(tree)),
    )


def _drop_actions(r: _Reader) -> tuple[str, ...]:
    """Falco's checks, in its order: ``ignore`` followed by ``log``/``alert`` is a contradiction."""
    key = "syscall_event_drops.actions"
    out: list[str] = []
    for a in r.str_list(key):
        if a not in _DROP_ACTIONS:
            raise r.fail(key, "a list of " + ", ".join(_DROP_ACTIONS), a)
        if a in ("log", "alert") and "ignore" in out:
            raise RaeError(f'{r.origin}: {key}: syscall event drop action "{a}" does not make sense'
                           ' with the "ignore" action')
        if a not in out:
            out.append(a)
    return tuple(out) or ("ignore",)


def _port(r: _Reader, key: str) -> int:
    port = r.int(key)
    if not 0 <= port <= 65535:
        raise r.fail(key, "a port number (0-65535)", port)
    return port


def _log_level(r: _Reader) -> str:
    v = r.str("log_level").strip().lower()
    v = {"informational": "info", "warn": "warning", "err": "error", "crit": "critical",
         "emerg": "emergency"}.get(v, v)
    if v not in _LOG_LEVELS:
        raise r.fail("log_level", "one of " + ", ".join(_LOG_LEVELS), r.value("log_level"))
    return v


def _freeze(node: Any) -> Any:
    """A read-only view of the raw tree: mappings become MappingProxyType (lists stay lists)."""
    if isinstance(node, dict):
        return MappingProxyType({k: _freeze(v) for k, v in node.items()})
    if isinstance(node, list):
        return [_freeze(v) for v in node]
    return node
