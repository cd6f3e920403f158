"""`rae validate PATH...`: load rules files like ``falco -V`` and report every error and warning.

Each file gets its own result (files are loaded in order, each seeing the items of the files
before it). Text mode prints one line per message and a verdict per file; ``--json`` prints
Falco's ``{"falco_load_results": [...]}`` document. Exit 0 when every file is valid, else 1.
"""

from __future__ import annotations

import argparse
import json
import sys

from rae.errors import EXIT_INVALID, EXIT_OK
from rae.rules import LoadOptions, load_rules_results

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="rules files or directories, loaded in order")
    p.add_argument("--json", action="store_true", help="print Falco's load-results JSON document")


def main(args: argparse.Namespace) -> int:
    _, results = load_rules_results(args.paths, LoadOptions(per_file_compile=True))
    ok = all(r.successful for r in results)
    if args.json:
        print(json.dumps({"falco_load_results": [r.to_json() for r in results]}))
    else:
        out = sys.stdout
        for r in results:
            for m in (*r.errors, *r.warnings):
                out.write(m.one_line() + "\n")
            out.write(f"{r.name}: {'Ok' if r.successful else 'Invalid'}\n")
    return EXIT_OK if ok else EXIT_INVALID
