"""JSON values as the k8saudit and json plugins see them: parsed once, rendered back as text.

The plugins keep the original text of numbers (``1.50e3`` stays ``1.50e3``) and render any
non-string value as compact JSON; ``json.obj`` is the event indented by two spaces. Python's
`json` loses the text of floats, so floats are parsed into `RawFloat`, which remembers it.
NaN and Infinity are not JSON and are refused, as fastjson refuses them.
"""

from __future__ import annotations

import gc
import json
import re
from typing import Any

__all__ = ["RawFloat", "as_string", "compact", "compact_size", "estimate_size", "indented", "loads"]


class RawFloat(float):
    """A JSON number with a fraction or exponent, with its source text."""

    __slots__ = ("text",)

    text: str

    def __new__(cls, text: str) -> RawFloat:
        obj = float.__new__(cls, text)
        obj.text = text
        return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


_DECODER = json.JSONDecoder(parse_float=RawFloat, parse_constant=_no_constant)
_C_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def loads(text: str | bytes) -> Any:
    """Parse one JSON document (raises `ValueError` with a position on bad input).

    The cyclic garbage collector is paused meanwhile: JSON builds only acyclic containers, and
    the collections their allocations would trigger cost ~40% of the parse.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    gc_on = gc.isenabled()
    gc.disable()
    try:
        return _DECODER.decode(text)
    finally:
        if gc_on:
            gc.enable()


_GO_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _go_quote(s: str) -> str:
    """Go's ``strconv.Quote``, which fastjson uses for strings holding ``"``, ``\\`` or control
    characters: C-style escapes, ``\\xNN`` for other control bytes, ``\\uNNNN`` for unprintables."""
    out = ['"']
    for ch in s:
        esc = _GO_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " " or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        elif ch == " " or ch.isprintable():
            out.append(ch)
        else:
            cp = ord(ch)
            out.append(f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


_needs_escape = re.compile(r'["\\\x00-\x1f]').search


def _quote(s: str) -> str:
    """A string as fastjson marshals it: verbatim in quotes unless it needs escaping."""
    if _needs_escape(s):
        return _go_quote(s)
    return '"' + s + '"'


def _json_quote(s: str) -> str:
    """A string as valid JSON (for the indented text, which Go re-parses)."""
    if _needs_escape(s):
        return json.dumps(s, ensure_ascii=False)
    return '"' + s + '"'


def _compact_into(v: Any, out: list[str]) -> None:
    if isinstance(v, str):
        out.append(_quote(v))
    elif isinstance(v, dict):
        if not v:
            out.append("{}")
            return
        sep = "{"
        for k, item in v.items():
            out.append(sep)
            out.append(_quote(k))
            out.append(":")
            _compact_into(item, out)
            sep = ","
        out.append("}")
    elif isinstance(v, list):
        if not v:
            out.append("[]")
            return
        sep = "["
        for item in v:
            out.append(sep)
            _compact_into(item, out)
            sep = ","
        out.append("]")
    else:
        out.append(_scalar(v))


def _scalar(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, RawFloat):
        return v.text
    return str(v)


def compact(v: Any) -> str:
    """Compact JSON text, keys in their original order (fastjson's ``MarshalTo``)."""
    if isinstance(v, str):
        return _quote(v)
    if not isinstance(v, dict | list):
        return _scalar(v)
    out: list[str] = []
    _compact_into(v, out)
    return "".join(out)


def compact_size(v: Any) -> int:
    """Bytes of `compact` (UTF-8), exactly."""
    return len(compact(v).encode("utf-8"))


def estimate_size(v: Any) -> int:
    """A quick (C-speed) size of the compact form; exact unless the value holds floats."""
    return len(_C_ENCODER.encode(v).encode("utf-8"))


def _indent_into(v: Any, out: list[str], depth: int) -> None:
    if isinstance(v, dict):
        if not v:
            out.append("{}")
            return
        pad = "\n" + "  " * (depth + 1)
        sep = "{" + pad
        for k, item in v.items():
            out.append(sep)
            out.append(_json_quote(k))
            out.append(": ")
            _indent_into(item, out, depth + 1)
            sep = "," + pad
        out.append("\n" + "  " * depth + "}")
    elif isinstance(v, list):
        if not v:
            out.append("[]")
            return
        pad = "\n" + "  " * (depth + 1)
        sep = "[" + pad
        for item in v:
            out.append(sep)
            _indent_into(item, out, depth + 1)
            sep = "," + pad
        out.append("\n" + "  " * depth + "]")
    elif isinstance(v, str):
        out.append(_json_quote(v))
    else:
        out.append(_scalar(v))


def indented(v: Any) -> str:
    """The value indented by two spaces, as Go's ``json.Indent(out, data, "", "  ")`` prints it."""
    out: list[str] = []
    _indent_into(v, out, 0)
    return "".join(out)


def as_string(v: Any) -> str:
    """A JSON value as a field string: strings as they are, anything else as compact JSON."""
    if isinstance(v, str):
        return v
    return compact(v)
