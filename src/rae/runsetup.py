"""Settings and rules for one run: the part `rae run` and `rae replay` share.

The command line (``-c``, ``-o``, ``-r``, ``-D``/``-t``/``-T``) is kept as `RunArgs` so that a
reload re-reads exactly the same sources; `load_ruleset` applies Falco's rules: ``-r`` replaces
the config's ``rules_files``, the config's ``priority``, ``rules:`` selection and
``rule_matching`` apply, and config entries that do not exist are skipped.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rae.config import Config, load_config
from rae.errors import RaeError
from rae.rules import LoadOptions, Ruleset, expand_paths, load_rules

__all__ = ["RunArgs", "alert_hostname", "load_options", "load_ruleset", "rules_entries"]


@dataclass(frozen=True)
class RunArgs:
    """What ``rae run``'s command line says (kept so a reload re-reads the same sources)."""

    config: str | None = None
    overrides: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # -r: replaces the config's rules_files when given
    disable: tuple[str, ...] = ()
    run_tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> RunArgs:
        """From the parsed ``-c -o -r -D -t -T`` options of ``rae run`` and ``rae replay``."""
        return cls(config=ns.config, overrides=tuple(ns.options), rules=tuple(ns.rules or ()),
                   disable=tuple(ns.disable), run_tags=tuple(ns.run_tags), skip_tags=tuple(ns.skip_tags))

    def load_config(self) -> Config:
        return load_config(self.config, list(self.overrides), use_default_file=self.config is None)


def alert_hostname() -> str:
    """The ``hostname`` of alerts: ``$FALCO_HOSTNAME`` (as Falco), ``$RAE_HOSTNAME``, or gethostname()."""
    return os.environ.get("FALCO_HOSTNAME") or os.environ.get("RAE_HOSTNAME") or socket.gethostname()


def load_options(cfg: Config, disable: Sequence[str] = (), run_tags: Sequence[str] = (),
                 skip_tags: Sequence[str] = ()) -> LoadOptions:
    """LoadOptions from the config (priority floor, ``rules:`` selection, matching) and -D/-t/-T."""
    if (disable or skip_tags) and run_tags:
        raise RaeError("You can not specify both disabled (-D/-T) and enabled (-t) rules")
    selection = [{s.action: {k: v for k, v in (("rule", s.rule), ("tag", s.tag)) if v is not None}}
                 for s in cfg.rules]
    return LoadOptions(
        min_priority=cfg.priority,
        disabled_substrings=list(disable),
        run_tags=list(run_tags),
        skip_tags=list(skip_tags),
        selection=selection,
        rule_matching=cfg.rule_matching,
    )


def rules_entries(args: RunArgs, cfg: Config) -> list[str]:
    """The rules files/directories to load: ``-r`` when given (as in Falco), else ``rules_files``."""
    return list(args.rules) if args.rules else list(cfg.rules_files)


def _loadable(entries: Iterable[str], explicit: bool) -> list[str]:
    """``-r`` entries are loaded as given (a missing one is an error); config entries that do not
    exist are skipped, as the default config lists an optional ``/etc/rae/rules.d``."""
    return list(entries) if explicit else [e for e in entries if os.path.exists(e)]


def load_ruleset(args: RunArgs, cfg: Config) -> tuple[Ruleset, list[str]]:
    """Compile the rules ``args``/``cfg`` name; returns the ruleset and the files it came from."""
    paths = _loadable(rules_entries(args, cfg), bool(args.rules))
    ruleset = load_rules(paths, load_options(cfg, args.disable, args.run_tags, args.skip_tags))
    return ruleset, expand_paths(paths)
