"""`rae list-rules [-r PATH]... [--json]`: the rules that the given files (or the defaults) define."""

from __future__ import annotations

import argparse
import json
import sys

from rae.defaults import default_rules_paths
from rae.errors import EXIT_OK
from rae.rules import LoadOptions, load_rules

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-r", dest="rules", action="append", metavar="PATH", help="rules file or directory (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON array of rules")


def main(args: argparse.Namespace) -> int:
    ruleset = load_rules(args.rules or default_rules_paths(), LoadOptions())
    rules = ruleset.describe()
    if args.json:
        print(json.dumps(rules, indent=2))
        return EXIT_OK
    out = sys.stdout
    width = max((len(r["name"]) for r in rules), default=10)
    out.write(f"{'Rule':<{width}}  {'Priority':<13}  {'Source':<9}  Enabled  Description\n")
    for r in rules:
        desc = " ".join(str(r["desc"]).split())
        if len(desc) > 100:
            desc = desc[:97] + "..."
        on = "yes" if r["enabled"] else "no"
        out.write(f"{r['name']:<{width}}  {r['priority']:<13}  {r['source']:<9}  {on:<7}  {desc}\n")
    return EXIT_OK
