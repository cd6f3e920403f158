r"""Recursive-descent parser for Falco filter conditions (libsinsp's grammar, Falco 0.44).

Grammar (blanks are `` \t\b\r\n``; every production may be preceded by blanks)::

    Expr        := OrExpr
    OrExpr      := AndExpr ("or" (blank AndExpr | "(" Expr ")"))*
    AndExpr     := NotExpr ("and" (blank NotExpr | "(" Expr ")"))*
    NotExpr     := ("not" blank)* ( "not(" Expr ")" | Check )
    Check       := "(" Expr ")" | Operand Condition | Identifier
    Operand     := FieldName ["[" (Quoted | ArgBare) "]"] | Transformer "(" TrArgs
    TrArgs      := TrArg ("," TrArg)* ")" ["[" (Quoted | ArgBare) "]"]
    TrArg       := Hex | Number | Quoted | "(" [TrItem ("," TrItem)*] ")" | Transformer "(" TrArgs
                 | FieldName ["[" arg "]"]
    TrItem      := FieldName ["[" arg "]"] | Transformer "(" TrArgs | Quoted | Hex | Number
    Condition   := "exists"
                 | NumOp (Hex | Number | RhsOperand)
                 | StrOp (RhsOperand | Quoted | Bare)
                 | StrOp blank Modifier ("(" [Item ("," Item)*] ")" | Identifier)
                 | ListOp ("(" [Item ("," Item)*] ")" | RhsOperand | Identifier)
    RhsOperand  := "val(" FieldName ["[" arg "]"] ")" ["[" arg "]"] | Transformer "(" TrArgs
    Item        := Quoted | Bare
    NumOp       := "<=" | "<" | ">=" | ">"
    StrOp       := "==" | "=" | "!=" | ("glob" | "iglob" | "contains" | "icontains" | "bcontains"
                   | "startswith" | "bstartswith" | "endswith" | "regex") blank
    ListOp      := "intersects" | "in" | "pmatch"
    Modifier    := ("oneof" | "anyof" | "allof") blank     (not followed by an "and"/"or"/"not"
                                                             word; else it is read as a Bare value)
    Transformer := "tolower" | "toupper" | "b64" | "basename" | "len" | "join" | "concat" | "getopt"

    Identifier  := [a-zA-Z]+[a-zA-Z0-9_]*
    FieldName   := Identifier ("." [a-zA-Z]+[a-zA-Z0-9_]*)+     (a dotted suffix may start with a digit
                                                                 only as a field argument: not accepted)
    ArgBare     := [^][\"'[:space:]]+
    Bare        := [^()\"'[:space:]=,]+
    Number      := [+-]?[0-9]+\.?[0-9]*([eE][+-][0-9]+)?      Hex := 0[xX][0-9a-fA-F]+
    Quoted      := '…' | "…" with the escapes \b \f \n \r \t \\ \/ \" (in "…") \' (in '…');
                   "\ " is read as a backslash, as libsinsp does for old rules.

Nesting is capped (`MAX_DEPTH`) so that hostile input yields an error, not a stack overflow.
Errors are `ConditionSyntaxError` with libsinsp's wording and the position where parsing stopped.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from rae.rules.ast import (
    And,
    BinaryCheck,
    CallTransformer,
    Expr,
    FieldRef,
    Identifier,
    ListValue,
    Not,
    Operand,
    Or,
    Pos,
    Transformer,
    TransformerArg,
    TransformerList,
    UnaryCheck,
    Value,
)

__all__ = [
    "LIST_OPS",
    "MAX_DEPTH",
    "MODIFIERS",
    "MULTI_TRANSFORMERS",
    "NUM_OPS",
    "OPERATORS",
    "SINGLE_TRANSFORMERS",
    "STR_OPS",
    "TRANSFORMERS",
    "ConditionSyntaxError",
    "parse_condition",
    "parse_transformer_prefix",
]

MAX_DEPTH = 1000

UNARY_OPS = ("exists",)
NUM_OPS = ("<=", "<", ">=", ">")
_SYMBOL_STR_OPS = ("==", "=", "!=")
_WORD_STR_OPS = (
    "glob",
    "iglob",
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "regex",
)
STR_OPS = _SYMBOL_STR_OPS + _WORD_STR_OPS
LIST_OPS = ("intersects", "in", "pmatch")
OPERATORS = UNARY_OPS + NUM_OPS + STR_OPS + LIST_OPS
#: transformers of one field or transformer (``tolower(x)``)
SINGLE_TRANSFORMERS = ("tolower", "toupper", "b64", "basename", "len")
#: transformers of several arguments (Falco 0.44)
MULTI_TRANSFORMERS = ("join", "concat", "getopt")
TRANSFORMERS = SINGLE_TRANSFORMERS + MULTI_TRANSFORMERS

_BLANKS = " \t\b\r\n"
_RX_NOT_BLANK = re.compile(r"not[ \t\b\r\n\f\v]+")
_RX_IDENTIFIER = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
_RX_FIELDNAME = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
_RX_ARG_BARE = re.compile(r"[^\]\[\"'\s]+")
_RX_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_RX_NUMBER = re.compile(r"[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?")
_RX_BARE = re.compile(r"[^()\"'\s=,]+")
_RX_WORD_STR_OP = re.compile(r"(?:" + "|".join(sorted(_WORD_STR_OPS, key=len, reverse=True)) + r")(?=[ \t\b\r\n])")
#: a string-operator modifier (Falco 0.44) and the blank that must follow it
_RX_MODIFIER = re.compile(r"(?:oneof|anyof|allof)[ \t\b\r\n]+")
_RX_BOOL_KEYWORD = re.compile(r"(?:and|or|not)(?![a-zA-Z0-9])")
MODIFIERS = ("oneof", "anyof", "allof")
_RX_TRANSFORMER = re.compile(r"(" + "|".join(TRANSFORMERS) + r")\(")

_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", " ": "\\", "\\": "\\", "/": "/"}


def _transformer_list() -> str:
    return ", ".join(f"'{t}'" for t in ("val", *TRANSFORMERS))


def _operator_list() -> str:
    return ", ".join(f"'{o}'" for o in OPERATORS)


class ConditionSyntaxError(ValueError):
    """A condition that does not parse; ``pos`` is where the parser gave up."""

    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos

    def __str__(self) -> str:
        p = self.pos
        return f"{self.message} (at index {p.idx}, line {p.line}, column {p.col})"


class _Parser:
    __slots__ = ("depth", "i", "last", "line", "line_start", "multiline", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.multiline = "\n" in text or "\r" in text
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.last = ""
        self.depth = 0

    # -- positions -------------------------------------------------------------------------
    def pos(self) -> Pos:
        return Pos(self.i, self.line, self.i - self.line_start + 1)

    def _advance(self, n: int) -> None:
        if not self.multiline:
            self.i += n
            return
        text = self.text
        end = self.i + n
        j = self.i
        while True:
            k1 = text.find("\n", j, end)
            k2 = text.find("\r", j, end)
            k = k1 if k2 < 0 else (k2 if k1 < 0 else min(k1, k2))
            if k < 0:
                break
            self.line += 1
            self.line_start = k + 1
            j = k + 1
        self.i = end

    def fail(self, message: str) -> ConditionSyntaxError:
        return ConditionSyntaxError(message, self.pos())

    def enter(self) -> None:
        self.depth += 1
        if self.depth >= MAX_DEPTH:
            raise self.fail(f"exceeded max depth limit of {MAX_DEPTH}")

    # -- lexing ----------------------------------------------------------------------------
    def blank(self) -> bool:
        text, i, n = self.text, self.i, len(self.text)
        j = i
        while j < n and text[j] in _BLANKS:
            j += 1
        if j == i:
            return False
        self._advance(j - i)
        return True

    def lit(self, s: str) -> bool:
        if self.text.startswith(s, self.i):
            self.last = s
            self._advance(len(s))
            return True
        return False

    def rx(self, rx: re.Pattern[str]) -> bool:
        m = rx.match(self.text, self.i)
        if m is None or m.end() == self.i:
            return False
        self.last = m.group(0)
        self._advance(m.end() - self.i)
        return True

    def quoted(self) -> bool:
        text, i = self.text, self.i
        if i >= len(text) or text[i] not in "'\"":
            return False
        delim = text[i]
        out: list[str] = []
        j = i + 1
        n = len(text)
        while j < n:
            c = text[j]
            if c == "\\":
                if j + 1 >= n:
                    break
                e = text[j + 1]
                if e in _ESCAPES:
                    out.append(_ESCAPES[e])
                elif e in "\"'":
                    if e != delim:
                        kind = "'-quoted" if delim == "'" else '"-quoted'
                        raise ConditionSyntaxError(
                            f"invalid \\{e} escape in {kind} string", Pos(j, self.line, j - self.line_start + 1)
                        )
                    out.append(e)
                else:
                    raise ConditionSyntaxError(
                        f"unsupported string escape sequence: \\{e}", Pos(j, self.line, j - self.line_start + 1)
                    )
                j += 2
                continue
            if c == delim:
                self.last = "".join(out)
                self._advance(j + 1 - i)
                return True
            out.append(c)
            j += 1
        return False  # unterminated: not a quoted string

    # -- grammar ---------------------------------------------------------------------------
    def parse(self) -> Expr:
        if not self.text:
            raise self.fail("filter input string is empty")
        e = self.parse_or()
        if self.i != len(self.text):
            raise self.fail(f"unexpected token after '{self.last}', expecting 'or', 'and'")
        return e

    def parse_or(self) -> Expr:
        return self._chain("or", self.parse_and, Or)

    def parse_and(self) -> Expr:
        return self._chain("and", self.parse_not, And)

    def _chain(self, word: str, operand: Callable[[], Expr], node: type[And] | type[Or]) -> Expr:
        """``operand (word operand)*``: after the word, a blank or an embedded ``(…)``."""
        self.enter()
        pos = self.pos()
        self.blank()
        children = [operand()]
        self.blank()
        while self.lit(word):
            if not self.blank():
                if self.lit("("):
                    children.append(self.parse_embedded())
                else:
                    raise self.fail(f"expected blank or '(' after '{word}'")
            else:
                children.append(operand())
            self.blank()
        self.depth -= 1
        return children[0] if len(children) == 1 else node(tuple(children), pos)

    def parse_not(self) -> Expr:
        self.enter()
        pos = self.pos()
        self.blank()
        negate = False
        while self.rx(_RX_NOT_BLANK):
            negate = not negate
        if self.lit("not("):
            negate = not negate
            child = self.parse_embedded()
        else:
            child = self.parse_check()
        self.depth -= 1
        return Not(child, pos) if negate else child

    def parse_embedded(self) -> Expr:
        self.enter()
        self.blank()
        child = self.parse_or()
        self.blank()
        if not self.lit(")"):
            raise self.fail("expected a ')' token")
        self.depth -= 1
        return child

    def parse_check(self) -> Expr:
        self.enter()
        pos = self.pos()
        self.blank()
        if self.lit("("):
            e = self.parse_embedded()
            self.depth -= 1
            return e
        if self.rx(_RX_FIELDNAME):
            left: Operand = self.parse_field_rest(self.last, pos)
            e = self.parse_condition(left, pos)
            self.depth -= 1
            return e
        if self.rx(_RX_TRANSFORMER):
            self.blank()
            left = self.parse_transformer_rest(self.last[:-1], pos)
            e = self.parse_condition(left, pos)
            self.depth -= 1
            return e
        if self.rx(_RX_IDENTIFIER):
            self.depth -= 1
            return Identifier(self.last, pos)
        raise self.fail("expected a '(' token, a field check, or an identifier")

    def parse_field_rest(self, name: str, pos: Pos) -> FieldRef:
        return FieldRef(name, self.parse_optional_arg(), pos)

    def parse_transformer_rest(self, name: str, pos: Pos) -> Transformer | CallTransformer:
        """After ``name(``: arguments separated by commas, ``)``, then an optional ``[arg]``."""
        self.enter()
        self.blank()
        args: list[TransformerArg] = []
        while True:
            args.append(self.parse_transformer_arg(self.pos()))
            self.blank()
            if not self.lit(","):
                break
        self.blank()
        if not self.lit(")"):
            raise self.fail("expected a ')' token closing the transformer")
        arg = self.parse_optional_arg()
        self.depth -= 1
        only = args[0]
        if (
            len(args) == 1
            and arg is None
            and name in SINGLE_TRANSFORMERS
            and isinstance(only, (FieldRef, Transformer, CallTransformer))
        ):
            return Transformer(name, only, pos)
        return CallTransformer(name, tuple(args), arg, pos)

    def parse_transformer_arg(self, pos: Pos) -> TransformerArg:
        self.enter()
        self.blank()
        out: TransformerArg
        if self.rx(_RX_HEX) or self.rx(_RX_NUMBER) or self.quoted():
            out = Value(self.last, pos)
        elif self.lit("("):
            out = self.parse_transformer_list(pos)
        elif self.rx(_RX_TRANSFORMER):
            out = self.parse_transformer_rest(self.last[:-1], pos)
        elif self.rx(_RX_FIELDNAME):
            out = self.parse_field_rest(self.last, pos)
        else:
            raise self.fail(
                "expected field transformer argument: field, transformer, quoted string, number, or transformer list"
            )
        self.depth -= 1
        return out

    def parse_transformer_list(self, pos: Pos) -> TransformerList:
        """After the ``(`` of a list argument: fields, transformers, quoted strings, numbers."""
        self.blank()
        items: list[FieldRef | Transformer | CallTransformer | Value] = []
        if self.lit(")"):
            return TransformerList((), pos)
        items.append(self.parse_transformer_list_item(pos))
        self.blank()
        while self.lit(","):
            self.blank()
            items.append(self.parse_transformer_list_item(pos))
            self.blank()
        if not self.lit(")"):
            raise self.fail("expected ')'")
        return TransformerList(tuple(items), pos)

    def parse_transformer_list_item(self, pos: Pos) -> FieldRef | Transformer | CallTransformer | Value:
        if self.rx(_RX_FIELDNAME):
            return self.parse_field_rest(self.last, pos)
        if self.rx(_RX_TRANSFORMER):
            self.blank()
            return self.parse_transformer_rest(self.last[:-1], pos)
        if self.quoted() or self.rx(_RX_HEX) or self.rx(_RX_NUMBER):
            return Value(self.last, pos)
        raise self.fail("expected transformer list argument: field, transformer, quoted string, or number")

    def parse_optional_arg(self) -> str | None:
        if not self.lit("["):
            return None
        if not self.quoted() and not self.rx(_RX_ARG_BARE):
            raise self.fail("expected a valid field argument: a quoted string or a bare string")
        arg = self.last
        if not self.lit("]"):
            raise self.fail("expected a ']' token")
        return arg

    def parse_condition(self, left: Operand, pos: Pos) -> Expr:
        self.blank()
        if self.lit("exists"):
            return UnaryCheck(left, "exists", pos)
        self.blank()
        for op in NUM_OPS:
            if self.lit(op):
                return BinaryCheck(left, op, self.parse_num_value(), pos)
        for op in _SYMBOL_STR_OPS:
            if self.lit(op):
                return self.parse_str_rest(left, op, pos)
        if self.rx(_RX_WORD_STR_OP):
            op = self.last
            return self.parse_str_rest(left, op, pos)
        for op in LIST_OPS:
            if self.lit(op):
                return BinaryCheck(left, op, self.parse_list_value(), pos)
        raise self.fail(f"expected a valid check operator: one of {_operator_list()}")

    def parse_str_rest(self, left: Operand, op: str, pos: Pos) -> BinaryCheck:
        """After a string operator: a modifier and its list, or a string value / rhs operand.

        The modifier needs a blank before and after it, a list or an identifier after it, and
        no ``and``/``or``/``not`` word there; otherwise the word is read back as a plain value.
        """
        had_blank = self.blank()
        saved = (self.i, self.line, self.line_start, self.last)
        if had_blank and self.rx(_RX_MODIFIER):
            mod = self.last.rstrip(_BLANKS)
            if self._list_value_follows() and not self._bool_keyword_follows():
                return BinaryCheck(left, f"{op} {mod}", self.parse_modifier_list(), pos)
        self.i, self.line, self.line_start, self.last = saved
        return BinaryCheck(left, op, self.parse_str_value(), pos)

    def _list_value_follows(self) -> bool:
        return self.text.startswith("(", self.i) or _RX_IDENTIFIER.match(self.text, self.i) is not None

    def _bool_keyword_follows(self) -> bool:
        m = _RX_BOOL_KEYWORD.match(self.text, self.i)
        return m is not None

    def parse_modifier_list(self) -> ListValue | Value:
        self.blank()
        pos = self.pos()
        if self.lit("("):
            return self.parse_list_items(pos)
        if self.rx(_RX_IDENTIFIER):
            return Value(self.last, pos)
        raise self.fail("expected a list or an identifier")

    def try_rhs_operand(self) -> Operand | None:
        self.blank()
        pos = self.pos()
        if self.lit("val("):
            self.blank()
            field_pos = self.pos()
            if not self.rx(_RX_FIELDNAME):
                raise self.fail("expected a field within 'val' transformer")
            child = self.parse_field_rest(self.last, field_pos)
            self.blank()
            if not self.lit(")"):
                raise self.fail("expected a ')' token closing the transformer")
            arg = self.parse_optional_arg()
            if arg is not None:
                return CallTransformer("val", (child,), arg, pos)
            return Transformer("val", child, pos)
        if self.rx(_RX_TRANSFORMER):
            self.blank()
            return self.parse_transformer_rest(self.last[:-1], pos)
        return None

    def parse_num_value(self) -> Value | Operand:
        self.blank()
        pos = self.pos()
        rhs = self.try_rhs_operand()
        if rhs is not None:
            return rhs
        if self.rx(_RX_HEX) or self.rx(_RX_NUMBER):
            return Value(self.last, pos)
        raise self.fail(f"expected a number value or a field with a valid transformer: {_transformer_list()}")

    def parse_str_value(self) -> Value | Operand:
        self.blank()
        pos = self.pos()
        rhs = self.try_rhs_operand()
        if rhs is not None:
            return rhs
        if self.quoted() or self.rx(_RX_BARE):
            return Value(self.last, pos)
        raise self.fail(f"expected a string value or a field with a valid transformer: {_transformer_list()}")

    def _list_item(self) -> str | None:
        self.blank()
        if self.quoted() or self.rx(_RX_BARE):
            return self.last
        return None

    def parse_list_items(self, pos: Pos) -> ListValue:
        """The rest of a list value after its ``(``."""
        values: list[str] = []
        first = self._list_item()
        if first is not None:
            values.append(first)
            self.blank()
            while self.lit(","):
                item = self._list_item()
                if item is None:
                    raise self.fail("expected a string value")
                values.append(item)
                self.blank()
        if not self.lit(")"):
            raise self.fail("expected a ')' token")
        return ListValue(tuple(values), pos)

    def parse_list_value(self) -> ListValue | Value | Operand:
        self.blank()
        pos = self.pos()
        if self.lit("("):
            return self.parse_list_items(pos)
        rhs = self.try_rhs_operand()
        if rhs is not None:
            return rhs
        if self.rx(_RX_IDENTIFIER):
            return Value(self.last, pos)
        raise self.fail(
            f"expected a list, an identifier, or a field with a valid transformer: {_transformer_list()}"
        )


def parse_transformer_prefix(text: str) -> tuple[Transformer | CallTransformer, int]:
    """A transformer call at the start of ``text`` (``join(…)[arg]``, as an output format token
    holds it) and where it ends; raises `ConditionSyntaxError` when there is none."""
    p = _Parser(text)
    pos = p.pos()
    if not p.rx(_RX_TRANSFORMER):
        raise p.fail(f"expected a valid transformer: {_transformer_list()}")
    p.blank()
    return p.parse_transformer_rest(p.last[:-1], pos), p.i


def parse_condition(text: str) -> Expr:
    """Parse a condition (after list substitution); raises `ConditionSyntaxError`."""
    limit = sys.getrecursionlimit()
    if limit < 12 * MAX_DEPTH:
        sys.setrecursionlimit(12 * MAX_DEPTH)
    return _Parser(text).parse()
