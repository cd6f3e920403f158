"""Sidekick settings: falcosidekick's YAML keys, its environment mapping, and rae's additions.

Keys are case-insensitive, as viper reads them: the tree is kept lower-case. Every key path
that has a default (or appears in the file) can be overridden from the environment by its
upper-cased path with ``.`` → ``_`` (``slack.webhookurl`` ↔ ``SLACK_WEBHOOKURL``,
``tlsserver.notlspaths`` ↔ ``TLSSERVER_NOTLSPATHS``). Environment values are typed by the
default: maps are ``k:v,k:v``, lists are comma-separated, booleans ``true``/``false``.
Unlike viper, the keys *inside* maps (custom fields, headers, labels) keep their case.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from rae.errors import RaeError

__all__ = [
    "COMMON_OUTPUT_DEFAULTS",
    "GLOBAL_DEFAULTS",
    "MAP_KEYS",
    "SidekickConfig",
    "SidekickConfigError",
    "as_list",
    "env_name",
    "load_config",
]

#: Keys whose value is a map (merged from the file, ``k:v,k:v`` in the environment).
MAP_KEYS = frozenset(
    {"customfields", "templatedfields", "customheaders", "extralabels", "extraannotations", "customseveritymap"}
)

GLOBAL_DEFAULTS: dict[str, Any] = {
    "listenaddress": "127.0.0.1",  # falcosidekick listens on all addresses; rae on loopback by default
    "listenport": 2801,
    "debug": False,
    "customfields": {},
    "customtags": [],
    "templatedfields": {},
    "bracketreplacer": "",
    "outputfieldformat": "",
    "mutualtlsfilespath": "/etc/certs",
    "mutualtlsclient": {"certfile": "", "keyfile": "", "cacertfile": ""},
    "tlsclient": {"cacertfile": ""},
    "tlsserver": {
        "deploy": False,
        "certfile": "/etc/certs/server/server.crt",
        "keyfile": "/etc/certs/server/server.key",
        "mutualtls": False,
        "cacertfile": "/etc/certs/server/ca.crt",
        "notlsport": 2810,
        "notlspaths": [],
    },
    "prometheus": {
        "extralabels": "",
        # rae: cap on distinct label sets of falco_events_total; 0 = unbounded (falcosidekick's behaviour)
        "maxlabelsets": 5000,
    },
    # rae: the per-output retry buffer
    "buffer": {"size": 10000, "initialbackoff": 0.5, "maxbackoff": 30.0, "maxattempts": 0},
    # rae: de-duplication window in seconds (0 = off) and the output fields that identify an alert
    "dedup": {"window": 0.0, "fields": []},
}

#: Options every output block has (falcosidekick's common options plus rae's routing and buffer).
COMMON_OUTPUT_DEFAULTS: dict[str, Any] = {
    "minimumpriority": "",
    "checkcert": True,
    "mutualtls": False,
    "maxconcurrentrequests": 1,
    "customheaders": {},
    # rae routing: empty = everything; rules accept shell globs, tags match if any is present
    "rules": [],
    "tags": [],
    "sources": [],
    # rae: 0 = buffer.size
    "buffersize": 0,
}


class SidekickConfigError(RaeError):
    """A config file or environment value that cannot be used."""


def env_name(path: str) -> str:
    """``slack.webhookurl`` → ``SLACK_WEBHOOKURL`` (viper's key replacer)."""
    return path.upper().replace(".", "_")


def _lower_keys(value: Any, in_map: bool = False) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k) if in_map else str(k).lower()
            out[key] = v if in_map else _lower_keys(v, in_map=key in MAP_KEYS)
        return out
    return value


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> None:
    for k, v in over.items():
        if k in base and isinstance(base[k], dict) and isinstance(v, dict) and k not in MAP_KEYS:
            _merge(base[k], v)
        elif k in MAP_KEYS and isinstance(v, dict):
            base[k] = {str(mk): "" if mv is None else str(mv) for mk, mv in v.items()}
        else:
            base[k] = v


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping[str, Any], str, Any]]:
    for k, v in list(tree.items()):
        path = f"{prefix}{k}"
        if isinstance(v, dict) and k not in MAP_KEYS:
            yield from _leaves(v, path + ".")
        else:
            yield path, tree, k, v


def _coerce(path: str, text: str, like: Any) -> Any:
    if isinstance(like, bool):
        low = text.strip().lower()
        if low in ("1", "t", "true", "yes", "on"):
            return True
        if low in ("", "0", "f", "false", "no", "off"):
            return False
        raise SidekickConfigError(f"{env_name(path)}: not a boolean: {text!r}")
    if isinstance(like, int):
        try:
            return int(text)
        except ValueError:
            raise SidekickConfigError(f"{env_name(path)}: not an integer: {text!r}") from None
    if isinstance(like, float):
        try:
            return float(text)
        except ValueError:
            raise SidekickConfigError(f"{env_name(path)}: not a number: {text!r}") from None
    if isinstance(like, list):
        return as_list(text)
    if isinstance(like, dict):
        out: dict[str, str] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            key, sep, val = part.partition(":")
            if not sep:
                raise SidekickConfigError(f"{env_name(path)}: expected key:value pairs, got {part!r}")
            out[key.strip()] = val.strip()
        return out
    return text


class SidekickConfig:
    """The merged settings tree (lower-case keys) with typed accessors."""

    def __init__(self, tree: dict[str, Any]) -> None:
        self.tree = tree

    def get(self, path: str, default: Any = None) -> Any:
        node: Any = self.tree
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def get_list(self, path: str) -> list[str]:
        """A list setting, given as a YAML list or as a comma-separated string."""
        return as_list(self.get(path))

    def section(self, name: str) -> dict[str, Any]:
        value = self.tree.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def listen_address(self) -> str:
        return str(self.get("listenaddress") or "")

    @property
    def listen_port(self) -> int:
        return int(self.get("listenport"))

    @property
    def customfields(self) -> dict[str, str]:
        """``customfields``; a value ``%VAR`` reads environment variable VAR, as falcosidekick does."""
        out = {}
        for k, v in dict(self.get("customfields") or {}).items():
            v = str(v)
            out[k] = os.environ.get(v[1:], "") if v.startswith("%") else v
        return out

    @property
    def customtags(self) -> list[str]:
        return self.get_list("customtags")

    @property
    def templatedfields(self) -> dict[str, str]:
        return {k: str(v) for k, v in dict(self.get("templatedfields") or {}).items()}


def as_list(value: Any) -> list[str]:
    """A YAML list or a comma-separated string (an environment variable) → the list of strings."""
    if not value:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    return [str(v) for v in value]


def load_config(
    path: str | os.PathLike[str] | None,
    output_defaults: Mapping[str, Mapping[str, Any]],
    environ: Mapping[str, str] | None = None,
) -> SidekickConfig:
    """Defaults ← YAML file ← environment, as falcosidekick layers them.

    ``output_defaults`` maps each registered output's block name to its own defaults; the
    common options are added to every block.
    """
    environ = os.environ if environ is None else environ
    tree: dict[str, Any] = copy.deepcopy(GLOBAL_DEFAULTS)
    for name, defaults in output_defaults.items():
        block = copy.deepcopy(COMMON_OUTPUT_DEFAULTS)
        block.update(copy.deepcopy(dict(defaults)))
        tree[name] = block
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SidekickConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise SidekickConfigError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SidekickConfigError(f"{path}: the top level must be a mapping")
        _merge(tree, _lower_keys(data))
    for key_path, parent, key, value in list(_leaves(tree)):
        name = env_name(key_path)
        if name in environ:
            parent[key] = _coerce(key_path, environ[name], value)  # type: ignore[index]
    return SidekickConfig(tree)
