"""Output format strings: ``%field``, ``%field[arg]``, ``%field.arg``, ``%tolower(field)``, ``%<N>field``,
``%join(sep, list)``, ``%concat(a, b)``, ``%getopt(args, opts)[c]``.

A format is parsed once into literal text and field tokens, as libsinsp's event formatter
does: after ``%`` the longest known field name that prefixes the rest wins (so
``%proc.name)`` and ``%fd.name,`` work), then its ``[arg]`` or dotted argument. Rendering
gives both the text (missing values as ``<NA>``) and the typed ``output_fields`` of Falco's JSON
alert. Without a leading ``*`` a format is "all or nothing" like sysdig's ``-p``: `render_strict`
returns None when a field has no value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rae.fields import FieldCatalog, Kind
from rae.rules.ast import FieldRef, Operand, Pos, Transformer, TransformerArg, TransformerList, Value
from rae.rules.compiler import ANCESTOR_FIELDS, CompileError, resolve_operand
from rae.rules.parser import (
    MULTI_TRANSFORMERS,
    SINGLE_TRANSFORMERS,
    TRANSFORMERS,
    ConditionSyntaxError,
    parse_transformer_prefix,
)

__all__ = ["FormatError", "OutputFormat", "render_value"]

_NAME_RUN = re.compile(r"[A-Za-z0-9_.]+")
_DOTTED_ARG = re.compile(r"[A-Za-z0-9_\-./:]+")
_SINGLE = "|".join(SINGLE_TRANSFORMERS)
_TRANSFORMER = re.compile(rf"({_SINGLE})\(")


#: transformer tokens read by the condition parser: the Falco 0.44 transformers, and any
#: transformer whose argument is not one plain field (a literal, a list, a nested call)
_CALL = re.compile(
    rf"(?:(?:{'|'.join(MULTI_TRANSFORMERS)})\(|(?:{_SINGLE})\(\s*(?:[\"'(0-9+\-]"
    rf"|(?:{'|'.join(TRANSFORMERS)})\())"
)


def _key_text(a: TransformerArg) -> str:
    """libsinsp's text of a transformer expression (``join(->,(proc.name,fd.name))``): the
    ``output_fields`` key of the token."""
    if isinstance(a, Value):
        return a.value
    if isinstance(a, TransformerList):
        return "(" + ",".join(_key_text(i) for i in a.items) + ")"
    if isinstance(a, FieldRef):
        return a.name if a.arg is None else f"{a.name}[{a.arg}]"
    if isinstance(a, Transformer):
        return f"{a.name}({_key_text(a.child)})"
    tail = "" if a.arg is None else f"[{a.arg}]"
    return f"{a.name}(" + ",".join(_key_text(x) for x in a.args) + ")" + tail


class FormatError(ValueError):
    """An output format that does not compile (Falco: LOAD_ERR_COMPILE_OUTPUT)."""


def render_value(v: Any, kind: Kind) -> str:
    """Default text of a value: ``<NA>`` for none, lists as ``(a,b)``, booleans lower-case."""
    if v is None:
        return "<NA>"
    if isinstance(v, tuple):
        return "(" + ",".join(render_value(x, kind) for x in v) + ")"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, bytes):
        return "".join(chr(b) if 32 <= b < 127 else "." for b in v)
    return str(v)


def _json_value(v: Any, kind: Kind, text: str) -> Any:
    if v is None:
        return None
    if isinstance(v, tuple):
        return [_json_value(x, kind, render_value(x, kind)) for x in v]
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and kind in (Kind.NUMBER, Kind.DOUBLE):
        return v
    if isinstance(v, float):
        return v
    if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(v)
    return text


@dataclass(frozen=True, slots=True)
class _Token:
    key: str  # as written: "proc.aname[2]", "toupper(user.name)"
    extract: Callable[[Any], Any]
    render: Callable[[Any], str] | None
    kind: Kind
    width: int


class OutputFormat:
    """A compiled output format for one source's catalog."""

    __slots__ = ("all_or_nothing", "parts", "text", "tokens")

    def __init__(self, fmt: str, cat: FieldCatalog) -> None:
        self.text = fmt
        self.all_or_nothing = not fmt.startswith("*")
        body = fmt if self.all_or_nothing else fmt[1:]
        self.parts: list[str | _Token] = []
        self.tokens: list[_Token] = []
        self._parse(body, cat)

    def _parse(self, fmt: str, cat: FieldCatalog) -> None:
        i, n = 0, len(fmt)
        lit: list[str] = []
        while i < n:
            c = fmt[i]
            if c != "%":
                lit.append(c)
                i += 1
                continue
            if i == n - 1:
                raise FormatError("invalid formatting syntax: formatting cannot end with a %")
            j = i + 1
            width = 0
            m = re.match(r"\d+", fmt[j:])
            if m:
                width = int(m.group(0))
                j += m.end()
            tok, j = self._field_at(fmt, j, cat)
            if lit:
                self.parts.append("".join(lit))
                lit = []
            token = _Token(tok[0], tok[1], tok[2], tok[3], width)
            self.parts.append(token)
            self.tokens.append(token)
            i = j
        if lit:
            self.parts.append("".join(lit))

    def _field_at(
        self, fmt: str, j: int, cat: FieldCatalog
    ) -> tuple[tuple[str, Callable[[Any], Any], Callable[[Any], str] | None, Kind], int]:
        rest = fmt[j:]
        if _CALL.match(rest):
            return self._call_at(fmt, j, cat)
        tm = _TRANSFORMER.match(rest)
        if tm:
            name = tm.group(1)
            inner_start = j + tm.end()
            close = fmt.find(")", inner_start)
            if close < 0:
                raise FormatError(f"invalid formatting token {rest}")
            inner_text = fmt[inner_start:close].strip()
            (inner_key, _x, _r, _k), used = self._field_at(inner_text, 0, cat)
            if used != len(inner_text):
                raise FormatError(f"invalid formatting token {rest}")
            ref = self._operand(inner_text, cat)
            try:
                o = resolve_operand(Transformer(name, ref, Pos()), cat)
            except CompileError as exc:
                raise FormatError(str(exc)) from None
            return (f"{name}({inner_key})", o.extract, None, o.kind), close + 1
        m = _NAME_RUN.match(rest)
        if m is None:
            raise FormatError(f"invalid formatting token {rest}")
        run = m.group(0)
        spec = None
        name = ""
        for cut in range(len(run), 0, -1):
            cand = run[:cut]
            s = cat.specs.get(cand)
            if s is not None:
                spec, name = s, cand
                break
        if spec is None:
            raise FormatError(f"invalid formatting token {rest}")
        k = j + len(name)
        arg: str | None = None
        if spec.takes_arg and k < len(fmt) and fmt[k] == "[":
            close = fmt.find("]", k)
            if close < 0:
                raise FormatError(f"invalid formatting token {rest}")
            arg = fmt[k + 1 : close]
            k = close + 1
        elif spec.dotted_arg and k < len(fmt) and fmt[k] == ".":
            am = _DOTTED_ARG.match(fmt, k + 1)
            if am:
                arg = am.group(0).rstrip(".")
                k = k + 1 + len(arg)
        try:
            if arg is not None and fmt[j + len(name)] == ".":
                ref = cat.resolve(f"{name}.{arg}")
            else:
                ref = cat.resolve(name, arg)
        except Exception as exc:  # UnknownFieldError: argument problems
            raise FormatError(f"invalid formatting token {rest}: {exc}") from None
        extract = cat.extractor(ref)
        render = cat.renderer(ref)
        if ref.spec.name in ANCESTOR_FIELDS and ref.arg is None and render is None:
            # in outputs, an un-indexed ancestor field shows the parent
            base = extract

            def parent(evt: Any, _b: Callable[[Any], Any] = base) -> Any:
                v = _b(evt)
                return v[0] if isinstance(v, tuple) and v else None

            extract = parent
        return (ref.text, extract, render, ref.spec.kind), k

    @staticmethod
    def _call_at(
        fmt: str, j: int, cat: FieldCatalog
    ) -> tuple[tuple[str, Callable[[Any], Any], Callable[[Any], str] | None, Kind], int]:
        """A transformer token with literal, list or several arguments (``%join(",", (a, b))``),
        read by the condition parser; its key is written as libsinsp writes it."""
        rest = fmt[j:]
        try:
            node, used = parse_transformer_prefix(rest)
            o = resolve_operand(node, cat)
        except (ConditionSyntaxError, CompileError) as exc:
            raise FormatError(f"invalid formatting token {rest}: {exc.message}") from None
        return (_key_text(node), o.extract, None, o.kind), j + used

    @staticmethod
    def _operand(text: str, cat: FieldCatalog) -> Operand:
        m = re.fullmatch(r"([A-Za-z0-9_.]+)(?:\[(.*)\])?", text)
        if m is None:
            raise FormatError(f"invalid formatting token {text}")
        return FieldRef(m.group(1), m.group(2), Pos())

    @property
    def field_keys(self) -> list[str]:
        return [t.key for t in self.tokens]

    def _text(self, t: _Token, v: Any) -> str:
        if v is None:
            s = "<NA>"
        elif t.render is not None:
            s = t.render(v)
        else:
            s = render_value(v, t.kind)
        if t.width:
            s = s[: t.width].ljust(t.width)
        return s

    def render(self, evt: Any) -> tuple[str, dict[str, Any]]:
        """The rendered text (``<NA>`` for missing values) and Falco's typed output_fields."""
        out: list[str] = []
        fields: dict[str, Any] = {}
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
                continue
            try:
                v = p.extract(evt)
            except Exception:  # a buggy extractor never kills an alert
                v = None
            s = self._text(p, v)
            out.append(s)
            fields[p.key] = _json_value(v, p.kind, s)
        return "".join(out), fields

    def render_text(self, evt: Any) -> str:
        return self.render(evt)[0]

    def render_strict(self, evt: Any) -> str | None:
        """sysdig ``-p``: None when a field has no value, unless the format starts with ``*``."""
        out: list[str] = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
                continue
            try:
                v = p.extract(evt)
            except Exception:
                v = None
            if v is None and self.all_or_nothing:
                return None
            out.append(self._text(p, v))
        return "".join(out)
