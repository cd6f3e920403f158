"""`rae list-fields`: the fields rules may use, per source, like ``falco --list``.

Text output groups the fields by class with a header per class; ``--json`` prints one object
per field for tools; ``-N`` prints the names only (like ``falco --list -N``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable

from rae.fields import SOURCES, ArgMode, FieldSpec, catalog

__all__ = ["add_arguments", "field_records", "main"]

_TYPE_WIDTH = 14


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        choices=SOURCES,
        action="append",
        help="only the fields of this event source (repeatable; default: all sources)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array of field objects")
    parser.add_argument("-N", "--names-only", action="store_true", help="print the field names only")


def _specs(source: str) -> list[FieldSpec]:
    return list(catalog(source).specs.values())


def field_records(sources: Iterable[str]) -> list[dict[str, object]]:
    """The `--json` objects: name, type, desc, source, category, arg, is_list, deprecated."""
    return [
        {
            "name": spec.name,
            "type": spec.type,
            "desc": spec.desc,
            "source": source,
            "category": spec.category,
            "arg": spec.arg.value,
            "is_list": spec.is_list,
            "deprecated": spec.deprecated,
        }
        for source in sources
        for spec in _specs(source)
    ]


def arg_form(spec: FieldSpec) -> str:
    """How the argument is written, e.g. ``[N]``, ``[KEY] or .KEY``, ``.KEY``; empty without one."""
    if spec.arg is ArgMode.NONE:
        return ""
    forms: list[str] = []
    if spec.bracket_arg:
        if spec.index_arg or spec.bracket_index_only:
            forms.append("[N]")
        elif spec.arg in (ArgMode.KEY_OPTIONAL, ArgMode.KEY_REQUIRED):
            forms.append("[KEY]")
        else:
            forms.append("[N|KEY]")
    if spec.dotted_arg:
        forms.append(".KEY")
    return " or ".join(forms) + (", required" if spec.arg_required else ", optional")


def _text_lines(source: str) -> Iterable[str]:
    specs = _specs(source)
    width = max(len(s.name) for s in specs) + 1
    current: str | None = None
    for spec in specs:
        if spec.category != current:
            current = spec.category
            yield ""
            yield "-" * 79
            yield f"Field Class:    {current}"
            yield f"Event Sources:  {source}"
            yield ""
        name = spec.name.ljust(width)
        kind = (f"LIST({spec.type})" if spec.is_list else spec.type).ljust(_TYPE_WIDTH)
        notes = []
        form = arg_form(spec)
        if form:
            notes.append(f"argument: {form}")
        if spec.deprecated:
            notes.append("deprecated")
        desc = spec.desc + (f" ({'; '.join(notes)})" if notes else "")
        yield f"{name} {kind} {desc}".rstrip()


def main(args: argparse.Namespace) -> int:
    sources: list[str] = list(dict.fromkeys(args.source or SOURCES))
    out = sys.stdout
    if args.json:
        json.dump(field_records(sources), out, indent=2)
        out.write("\n")
    elif args.names_only:
        for source in sources:
            for spec in _specs(source):
                out.write(spec.name + "\n")
    else:
        for source in sources:
            out.write(f"Event Source: {source}\n")
            for line in _text_lines(source):
                out.write(line + "\n")
            out.write("\n")
    return 0
