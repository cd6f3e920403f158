"""The `rae` command: parses flags and hands each verb to its module in `rae.commands`.

The command line is a contract (see docs/cli.md). Each verb module provides
``add_arguments(parser)`` and ``main(args) -> int``; this file only wires them and turns
errors into one line and an exit code (0 ok, 1 invalid input, 2 usage).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from rae import __version__
from rae.errors import EXIT_INVALID, EXIT_USAGE, RaeError

__all__ = ["main"]

#: verb → (module under rae.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "run the engine on this host (live syscalls and the k8s audit webhook)"),
    "replay": ("replay", "run rules over .scap captures and k8s audit JSON files"),
    "validate": ("validate", "validate rules files, like falco -V"),
    "list-fields": ("list_fields", "list the supported fields"),
    "list-rules": ("list_rules", "list the rules of the loaded rules files"),
    "capture": ("capture", "write live events into a .scap file"),
    "sidekick": ("sidekick", "run the falcosidekick-compatible alert fan-out service"),
    "k8s-audit": ("k8s_audit", "Kubernetes audit helpers (webhook kubeconfig)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, object]]:
    """``only``: the verb being run — the other verbs' modules are not imported (they get a bare
    sub-parser), so that ``rae run`` does not carry, say, the audit helpers' aiohttp (13 MB RSS)."""
    parser = _Parser(prog="rae", description="runtime-audit-engine: Falco-compatible runtime threat detection")
    parser.add_argument("--version", action="version", version=f"rae {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    modules: dict[str, object] = {}
    for verb, (modname, help_text) in COMMANDS.items():
        if only is not None and verb != only:
            sub.add_parser(verb, help=help_text, description=help_text)
            continue
        try:
            mod = importlib.import_module(f"rae.commands.{modname}")
        except ModuleNotFoundError as exc:
            if exc.name != f"rae.commands.{modname}":
                raise
            continue  # verb not built yet
        p = sub.add_parser(verb, help=help_text, description=help_text)
        mod.add_arguments(p)
        modules[verb] = mod
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    parser, modules = _build_parser(words[0] if words and words[0] in COMMANDS else None)
    # positionals may follow options (`rae replay FILE -p FORMAT FILTER`): verbs that take
    # trailing positionals declare TRAILING_POSITIONALS and get them appended
    args, extra = parser.parse_known_args(argv)
    if args.verb is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    trailing = getattr(modules[args.verb], "TRAILING_POSITIONALS", None)
    if extra:
        if trailing is None or any(x.startswith("-") and x != "-" for x in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        setattr(args, trailing, [*getattr(args, trailing), *extra])
    try:
        return int(modules[args.verb].main(args))  # type: ignore[attr-defined]
    except RaeError as exc:
        sys.stderr.write(f"rae {args.verb}: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout closed by `| head`: quiet exit, as sysdig and falco do
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("RAE_DEBUG"):
            raise
        name = type(exc).__name__
        sys.stderr.write(f"rae {args.verb}: internal error: {name}: {exc} (set RAE_DEBUG=1 for details)\n")
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
