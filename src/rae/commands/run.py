"""``rae run``: the engine on this host — live syscalls through the eBPF probe and the k8s audit webhook.

``-c`` names a falco.yaml-compatible config (default: rae's config/rae.yaml), ``-o key=value``
overrides any key, ``-r`` replaces the config's ``rules_files`` (as in Falco), ``-D/-t/-T``
select rules. ``--dry-run`` loads everything, prints what would run and exits 0 without touching
the kernel. The engine itself is `rae.engine` (docs/engine.md).
"""

from __future__ import annotations

import argparse
import sys

from rae.engine import Engine, RunArgs, run

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", dest="config", metavar="FILE", help="falco.yaml-compatible configuration file")
    p.add_argument("-r", dest="rules", action="append", default=[], metavar="PATH",
                   help="rules file or directory (repeatable; replaces the config's rules_files)")
    p.add_argument("-o", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. -o engine.kind=nodriver (no syscall source)")
    p.add_argument("-D", dest="disable", action="append", default=[], metavar="SUBSTR",
                   help="disable rules whose name contains SUBSTR")
    p.add_argument("-t", dest="run_tags", action="append", default=[], metavar="TAG",
                   help="run only rules with tag")
    p.add_argument("-T", dest="skip_tags", action="append", default=[], metavar="TAG",
                   help="disable rules with tag")
    p.add_argument("--dry-run", action="store_true",
                   help="load the config and rules, print what would run, and exit")


def main(args: argparse.Namespace) -> int:
    run_args = RunArgs.from_args(args)
    if args.dry_run:
        engine = Engine(run_args)
        engine.prepare()
        sys.stdout.write("".join(line + "\n" for line in engine.describe()))
        sys.stdout.flush()
        return 0
    return run(run_args)
