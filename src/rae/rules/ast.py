"""The condition syntax tree: small frozen nodes that know nothing about fields.

Every node carries its `Pos` in the condition text. Nodes are immutable, so parsed macro bodies
can be shared by every rule that uses them and parse results can be cached without copies.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "And",
    "BinaryCheck",
    "CallTransformer",
    "Expr",
    "FieldRef",
    "Identifier",
    "ListValue",
    "Not",
    "Or",
    "Pos",
    "Transformer",
    "TransformerArg",
    "TransformerList",
    "UnaryCheck",
    "Value",
    "to_text",
]


@dataclass(frozen=True, slots=True)
class Pos:
    """Offset (0-based), line and column (1-based) of a node in the condition text."""

    idx: int = 0
    line: int = 1
    col: int = 1


class Expr:
    """Base of boolean expressions."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class And(Expr):
    children: tuple[Expr, ...]
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class Or(Expr):
    children: tuple[Expr, ...]
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class Not(Expr):
    child: Expr
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class Identifier(Expr):
    """A bare name in check position: a macro reference."""

    name: str
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class FieldRef:
    """``name`` or ``name[arg]`` (the dotted-argument form stays inside ``name``)."""

    name: str
    arg: str | None = None
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class Transformer:
    """``tolower(x)``, ``len(x)``…; ``val(field)`` on a right-hand side is ``name == "val"``."""

    name: str
    child: FieldRef | Transformer | CallTransformer
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class Value:
    value: str
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class TransformerList:
    """``(a, "b", 1)`` as a transformer argument: fields, transformers, quoted strings, numbers."""

    items: tuple[FieldRef | Transformer | CallTransformer | Value, ...]
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class CallTransformer:
    """Any other transformer call (Falco 0.44): ``join(sep, list)``, ``concat(a, b, …)``,
    ``getopt(args, optstring)[c]``, or a one-argument transformer whose argument is not a plain
    field or transformer, or that has a ``[arg]`` after it. ``arg`` is that bracket argument."""

    name: str
    args: tuple[TransformerArg, ...]
    arg: str | None = None
    pos: Pos = Pos()


Operand = FieldRef | Transformer | CallTransformer
#: an argument of a `CallTransformer`
TransformerArg = Operand | Value | TransformerList


@dataclass(frozen=True, slots=True)
class ListValue:
    values: tuple[str, ...]
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class UnaryCheck(Expr):
    left: Operand
    op: str
    pos: Pos = Pos()


@dataclass(frozen=True, slots=True)
class BinaryCheck(Expr):
    left: Operand
    op: str
    right: Value | ListValue | Operand
    pos: Pos = Pos()


def _quote(s: str) -> str:
    if s and all(c not in " \t\r\n\b\f()\"',=\\" for c in s):
        return s
    return _quote_always(s)


def _quote_always(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    out = out.replace("\r", "\\r").replace("\b", "\\b").replace("\f", "\\f")
    return f'"{out}"'


def _arg_text(a: FieldRef | Transformer | CallTransformer | Value | TransformerList) -> str:
    if isinstance(a, Value):
        # always quoted: a bare word is not a transformer argument (numbers are quoted too, same value)
        return _quote_always(a.value)
    if isinstance(a, TransformerList):
        return "(" + ", ".join(_arg_text(i) for i in a.items) + ")"
    return _operand_text(a)


def _operand_text(o: Operand) -> str:
    if isinstance(o, FieldRef):
        return o.name if o.arg is None else f"{o.name}[{_quote(o.arg)}]"
    if isinstance(o, CallTransformer):
        tail = "" if o.arg is None else f"[{_quote(o.arg)}]"
        return f"{o.name}(" + ", ".join(_arg_text(a) for a in o.args) + ")" + tail
    return f"{o.name}({_operand_text(o.child)})"


def to_text(e: Expr | Operand | Value | ListValue) -> str:
    """Render a tree back to condition text that parses to the same tree."""
    match e:
        case And(children):
            return "(" + " and ".join(to_text(c) for c in children) + ")"
        case Or(children):
            return "(" + " or ".join(to_text(c) for c in children) + ")"
        case Not(child):
            return f"not {to_text(child)}"
        case Identifier(name):
            return name
        case UnaryCheck(left, op):
            return f"{_operand_text(left)} {op}"
        case BinaryCheck(left, op, right):
            return f"{_operand_text(left)} {op} {to_text(right)}"
        case Value(value):
            return _quote(value)
        case ListValue(values):
            return "(" + ", ".join(_quote(v) for v in values) + ")"
        case FieldRef() | Transformer() | CallTransformer():
            return _operand_text(e)
    raise TypeError(f"unknown node {type(e).__name__}")
