"""`rae replay FILE...`: run rules over captures and audit files, as `rae run` would live.

Two modes:

* rules mode (default): the rules (``-r``, else the built-in ones) run over every event; alerts
  go to the configured outputs (stdout JSON lines by default; ``-o json_output=false`` for
  Falco's text lines), synchronously, so a replay never drops an alert. A Falco-style summary
  ("Events detected", counts by severity and by rule) goes to stderr at the end.
* ``-p FORMAT [FILTER]``: like ``sysdig -r FILE -p FORMAT FILTER``, one line per event matching
  FILTER (a trailing argument that is not an existing file is the filter).

The source of each file is detected from its content (`rae.sources.detect_replay_kind`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections import Counter
from typing import Any

from rae import __version__
from rae.alerts import Alert
from rae.errors import EXIT_OK, RaeError
from rae.logs import setup_logging
from rae.priority import Priority
from rae.rules import Ruleset, compile_filter, compile_format
from rae.runsetup import RunArgs, alert_hostname, load_ruleset, rules_entries
from rae.sources import EventSource, open_replay

__all__ = ["TRAILING_POSITIONALS", "add_arguments", "main", "run_replay"]

#: positionals after options (``FILE -p FORMAT FILTER``) join ``files``
TRAILING_POSITIONALS = "files"

log = logging.getLogger("rae.replay")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help=".scap/.scap.gz captures or k8s audit JSON files")
    p.add_argument("-c", dest="config", metavar="FILE", help="falco.yaml-compatible configuration file")
    p.add_argument("-r", dest="rules", action="append", metavar="PATH", help="rules file or directory (repeatable)")
    p.add_argument("-o", dest="options", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.add_argument("-D", dest="disable", action="append", default=[], metavar="SUBSTR", help="disable rules by name")
    p.add_argument("-t", dest="run_tags", action="append", default=[], metavar="TAG", help="run only rules with tag")
    p.add_argument("-T", dest="skip_tags", action="append", default=[], metavar="TAG", help="disable rules with tag")
    p.add_argument("-p", dest="format", metavar="FORMAT", help="print FORMAT for each event matching FILTER")
    p.add_argument("--no-summary", action="store_true", help="do not print the end-of-run summary")
    p.add_argument(
        "--internal", action="store_true", help="with -p: also print internal events (procinfo…), like sysdig -D"
    )


def _split_filter(files: list[str]) -> tuple[list[str], str | None]:
    if len(files) >= 2 and not os.path.exists(files[-1]):
        return files[:-1], files[-1]
    return files, None


def _print_events(
    sources: list[EventSource], fmt_text: str, filter_text: str | None, *, internal: bool = False
) -> int:
    out = sys.stdout
    write = out.write
    # events sysdig hides unless -D: the capture's internal bookkeeping (procinfo…); audit events
    # have no event info and are never internal
    from rae.syscall.event_table_data import CATEGORY_BITS

    ec_internal = CATEGORY_BITS["INTERNAL"]
    by_source: dict[str, tuple[Any, Any]] = {}
    for src in sources:
        if src.source not in by_source:
            fmt = compile_format(fmt_text, src.source)
            flt = compile_filter(filter_text, src.source) if filter_text else None
            by_source[src.source] = (fmt, flt)
        fmt, flt = by_source[src.source]
        render = fmt.render_strict
        for evt in src:
            if not internal and getattr(getattr(evt, "info", None), "category_bits", 0) & ec_internal:
                continue
            if flt is not None and not flt(evt):
                continue
            line = render(evt)
            if line is not None:
                write(line + "\n")
    out.flush()
    return EXIT_OK


def run_replay(
    sources: list[EventSource], ruleset: Ruleset, emit: Any, *, hostname: str, iso8601: bool
) -> tuple[int, Counter[str], Counter[Priority]]:
    """The replay loop: events → matching rules → ``emit(alert)``; returns counts."""
    n_events = 0
    by_rule: Counter[str] = Counter()
    by_prio: Counter[Priority] = Counter()
    for src in sources:
        source = src.source
        match = ruleset.match
        for evt in src:
            n_events += 1
            for rule in match(evt, source):
                alert = rule.make_alert(evt, hostname=hostname, iso8601=iso8601)
                by_rule[rule.name] += 1
                by_prio[rule.priority] += 1
                emit(alert)
    return n_events, by_rule, by_prio


def _summary(by_rule: Counter[str], by_prio: Counter[Priority]) -> str:
    lines = [f"Events detected: {sum(by_rule.values())}", "Rule counts by severity:"]
    for p in sorted(by_prio):
        lines.append(f"   {p.short}: {by_prio[p]}")
    lines.append("Triggered rules by rule name:")
    for name, n in by_rule.items():
        lines.append(f"   {name}: {n}")
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    files, filter_text = _split_filter(list(args.files)) if args.format else (list(args.files), None)
    for f in files:
        if not os.path.exists(f):
            raise RaeError(f"{f}: no such file")
    if args.format is not None:
        return _print_events([open_replay(f) for f in files], args.format, filter_text, internal=args.internal)

    run_args = RunArgs.from_args(args)
    cfg = run_args.load_config()
    setup_logging(cfg.log_level, iso8601=cfg.time_format_iso_8601, stderr=cfg.log_stderr)
    log.info("rae version %s (replay)", __version__)
    for p in rules_entries(run_args, cfg):
        log.info("Loading rules from %s", p)
    ruleset, _files = load_ruleset(run_args, cfg)
    for w in ruleset.warnings:
        log.warning("%s", w.one_line())

    from rae.outputs.base import MessageFormat
    from rae.outputs.manager import build_sinks

    sinks = build_sinks(cfg)
    fmt = MessageFormat.from_config(cfg)
    failures: Counter[str] = Counter()

    def emit(alert: Alert) -> None:
        message = fmt.render(alert)
        for s in sinks:
            try:
                s.emit(alert, message)
            except Exception as exc:  # an unreachable output is reported once; the replay goes on
                name = str(getattr(s, "name", s))
                failures[name] += 1
                if failures[name] == 1:
                    sys.stderr.write(f"rae replay: warning: output {name} failed: {exc}\n")

    sources = [open_replay(f) for f in files]
    try:
        _n, by_rule, by_prio = run_replay(
            sources, ruleset, emit, hostname=alert_hostname(), iso8601=cfg.time_format_iso_8601
        )
    finally:
        for s in sinks:
            try:
                s.close()
            except Exception as exc:
                sys.stderr.write(f"rae replay: closing output failed: {exc}\n")
    for name, n in failures.items():
        sys.stderr.write(f"rae replay: warning: output {name} failed for {n} alert(s)\n")
    if not args.no_summary:
        sys.stderr.write(_summary(by_rule, by_prio))
    return EXIT_OK
