"""Compiling a condition tree into one Python function ``evt -> bool``.

The tree (macros already expanded) becomes Python source once: ``and``/``or``/``not`` map to
Python's, each check to a small expression over the value its field extractor returns, with
constants (sets, compiled globs and regexes, networks) bound as globals of the function. The
hot path then does one call per field, set lookups and string methods — no tree walking.

Semantics (libsinsp's ``compare``): a field with no value makes every comparison false
(``!=`` too; ``not x = y`` is therefore true). Multi-valued fields: ``in`` needs every value in
the set, ``intersects`` one, ``pmatch`` every value under a prefix, other operators one value.
The ancestor fields (``proc.aname`` and friends, without an index) are true when *any*
ancestor satisfies the comparison, ``in`` included.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import ipaddress
import os.path
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rae.fields import FieldCatalog, Kind, ResolvedField, UnknownFieldError
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
from rae.rules.evttypes import fold_key, has_key_leaf, key_determined, key_holds, top_conjuncts

__all__ = [
    "ANCESTOR_FIELDS",
    "CompileError",
    "Extractions",
    "KeyedPredicate",
    "Operand",
    "compile_bucket",
    "compile_condition",
    "extractions",
    "keyed_predicate",
    "resolve_operand",
]

#: Fields that, without an index, test every ancestor ("any ancestor matches").
ANCESTOR_FIELDS = frozenset(
    ("proc.aname", "proc.apid", "proc.aexe", "proc.aexepath", "proc.acmdline", "proc.aenv", "proc.aargs")
)

#: Socket fields that test both ends (libsinsp ``compare_ip/net/port``): the extractor gives a
#: tuple of the ends; a comparison holds when either end satisfies it, ``!=`` when both do.
EITHER_END_FIELDS = frozenset(("fd.ip", "fd.net", "fd.port", "fd.proto"))

_STRING_TRANSFORMERS = ("tolower", "toupper", "b64", "basename")


class CompileError(ValueError):
    """A condition that parses but cannot compile (unknown field, bad value…), with a position."""

    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


@dataclass(frozen=True, slots=True)
class CompiledOperand:
    """A field or transformer chain ready to extract: its extractor and how values compare."""

    extract: Callable[[Any], Any]
    kind: Kind
    multi: bool  # a tuple of values
    any_ancestor: bool  # "any value satisfies" for every operator
    either_end: bool  # like any_ancestor, but "!=" needs every value to differ
    dynamic: bool  # evt.rawarg: type known only at run time
    field: ResolvedField | None
    text: str
    #: what the extraction depends on (field, argument, transformers): equal keys, equal values
    #: for one event — the key of the per-event extraction cache (`compile_bucket`)
    key: str


# -- transformers ----------------------------------------------------------------------------


def _b64(s: str) -> str | None:
    try:
        # padding is optional, as for libsinsp's decoder
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def _basename(s: str) -> str:
    return "" if s.endswith("/") else os.path.basename(s)


_TRANSFORM_FUNCS: dict[str, Callable[[Any], Any]] = {
    "tolower": lambda s: s.lower() if isinstance(s, str) else s,
    "toupper": lambda s: s.upper() if isinstance(s, str) else s,
    "b64": lambda s: _b64(s) if isinstance(s, str) else None,
    "basename": lambda s: _basename(s) if isinstance(s, str) else s,
}


def _wrap_transformer(name: str, inner: CompiledOperand) -> Callable[[Any], Any]:
    x = inner.extract
    if name == "len":
        if inner.multi:

            def f_len_multi(evt: Any) -> Any:
                v = x(evt)
                return None if v is None else len(v)

            return f_len_multi

        def f_len(evt: Any) -> Any:
            v = x(evt)
            return None if v is None else len(v) if isinstance(v, (str, bytes, tuple)) else None

        return f_len
    fn = _TRANSFORM_FUNCS[name]
    if inner.multi:

        def f_multi(evt: Any) -> Any:
            v = x(evt)
            if v is None:
                return None
            out = tuple(r for r in (fn(i) for i in v) if r is not None)
            return out or None

        return f_multi

    def f_single(evt: Any) -> Any:
        v = x(evt)
        return None if v is None else fn(v)

    return f_single


def _as_tuple(x: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def extract(evt: Any) -> Any:
        v = x(evt)
        if v is None or type(v) is tuple:
            return v
        return (v,)

    return extract


def _constant(value: str) -> CompiledOperand:
    """A quoted string or number given as a transformer argument: always that string."""
    return CompiledOperand(
        extract=lambda evt: value,
        kind=Kind.STRING,
        multi=False,
        any_ancestor=False,
        either_end=False,
        dynamic=False,
        field=None,
        text=repr(value),
        key=repr(value),
    )


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _resolve_list(lst: TransformerList, cat: FieldCatalog) -> CompiledOperand:
    """``(a, "b", 1)``: every item's values in order, as strings; no value when an item has none."""
    items = [_resolve_arg(i, cat) for i in lst.items]
    xs = [(i.extract, i.multi) for i in items]

    def extract(evt: Any) -> Any:
        out: list[str] = []
        for x, multi in xs:
            v = x(evt)
            if v is None:
                return None
            if multi:
                out.extend(_text(i) for i in v)
            else:
                out.append(_text(v))
        return tuple(out)

    return CompiledOperand(
        extract=extract,
        kind=Kind.STRING,
        multi=True,
        any_ancestor=False,
        either_end=False,
        dynamic=False,
        field=None,
        text="(" + ", ".join(i.text for i in items) + ")",
        key="(" + ",".join(i.key for i in items) + ")",
    )


def _resolve_arg(a: TransformerArg, cat: FieldCatalog) -> CompiledOperand:
    if isinstance(a, Value):
        return _constant(a.value)
    if isinstance(a, TransformerList):
        return _resolve_list(a, cat)
    return resolve_operand(a, cat)


def _is_string(o: CompiledOperand) -> bool:
    return o.kind is Kind.STRING and not o.dynamic


def _both(first: CompiledOperand, second: CompiledOperand,
          combine: Callable[[Any, Any], Any]) -> Callable[[Any], Any]:
    """An extractor of ``combine(a, b)`` over two operands, None as soon as one of them is None
    (``first`` extracted first: the second is not extracted then)."""
    xa, xb = first.extract, second.extract

    def extract(evt: Any) -> Any:
        a = xa(evt)
        if a is None:
            return None
        b = xb(evt)
        if b is None:
            return None
        return combine(a, b)

    return extract


def _join(sep: CompiledOperand, lst: CompiledOperand) -> Callable[[Any], Any]:
    return _both(sep, lst, lambda s, v: _text(s).join(_text(i) for i in v))


def _concat(args: list[CompiledOperand]) -> Callable[[Any], Any]:
    xs = [a.extract for a in args]

    def extract(evt: Any) -> Any:
        out: list[str] = []
        for x in xs:
            v = x(evt)
            if v is None:
                return None
            out.append(_text(v))
        return "".join(out)

    return extract


def _optstring(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """getopt(3)'s optstring: the valid option characters and those taking a value (``c:``)."""
    valid: set[str] = set()
    with_arg: set[str] = set()
    i = 1 if text.startswith(":") else 0
    while i < len(text):
        c = text[i]
        if c != ":":
            valid.add(c)
            if i + 1 < len(text) and text[i + 1] == ":":
                with_arg.add(c)
                i += 1
        i += 1
    return frozenset(valid), frozenset(with_arg)


def getopt_scan(argv: tuple[str, ...], optstring: str, selector: str | None) -> tuple[str, ...] | str | None:
    """libsinsp's ``getopt()`` transformer: short options of ``argv`` as getopt(3) reads them.

    List mode: each option character, followed by its value for options taking one, and ``?`` for
    an unknown option; an option whose value is missing gives ``""`` and ends the scan. Scanning
    stops at ``--``, at the first non-option and at ``-``; ``--long`` words are skipped. With a
    ``selector`` character: the value of the last occurrence of that option (the option character
    itself for an option without a value), or None when it does not occur.
    """
    valid, with_arg = _optstring(optstring)
    out: list[str] = []
    selected: str | None = None
    i = 0
    n = len(argv)
    while i < n:
        a = argv[i]
        if a == "--":
            break
        if len(a) > 2 and a.startswith("--"):
            i += 1
            continue
        if len(a) < 2 or a[0] != "-":
            break
        for j in range(1, len(a)):
            c = a[j]
            if c == ":" or c not in valid:
                if selector is None:
                    out.append("?")
                continue
            match = selector is None or c == selector
            if c not in with_arg:
                if match:
                    if selector is None:
                        out.append(c)
                    else:
                        selected = c
                continue
            if j + 1 < len(a):
                value: str | None = a[j + 1 :]
            elif i + 1 < n:
                i += 1
                value = argv[i]
            else:
                value = None
            if match:
                if selector is not None:
                    selected = "" if value is None else value
                elif value is None:
                    out.append("")
                else:
                    out.extend((c, value))
            break
        i += 1
    if selector is not None:
        return selected
    return tuple(out)


def _getopt(argv: CompiledOperand, opts: CompiledOperand, selector: str | None) -> Callable[[Any], Any]:
    return _both(opts, argv, lambda o, a: getopt_scan(tuple(_text(i) for i in a), _text(o), selector))


def _resolve_call(op: CallTransformer, cat: FieldCatalog) -> CompiledOperand:
    """``join``, ``concat``, ``getopt``, and one-argument transformers of a constant or a list."""
    name, pos = op.name, op.pos
    if op.arg is not None and name != "getopt":
        raise CompileError(f"transformer '{name}' does not support field arguments", pos)
    args = [_resolve_arg(a, cat) for a in op.args]
    multi = False
    if name == "join":
        if len(args) != 2:
            raise CompileError("join() requires exactly 2 arguments: separator and list", pos)
        if args[0].multi:
            raise CompileError("join() first argument (separator) must be a single value, not a list", pos)
        if not args[1].multi:
            raise CompileError("join() second argument must be a list", pos)
        extract = _join(args[0], args[1])
    elif name == "concat":
        if len(args) < 2:
            raise CompileError("concat() requires at least 2 arguments", pos)
        if not all(_is_string(a) and not a.multi for a in args):
            raise CompileError("concat() arguments must be strings", pos)
        extract = _concat(args)
    elif name == "getopt":
        if len(args) != 2:
            raise CompileError("getopt() requires exactly 2 arguments: args list and optstring", pos)
        if not args[0].multi:
            raise CompileError("getopt() first argument must be a list", pos)
        if args[1].multi:
            raise CompileError("getopt() second argument (optstring) must be a single value", pos)
        if not (_is_string(args[0]) and _is_string(args[1])):
            raise CompileError("getopt() arguments must be strings", pos)
        if op.arg is not None and len(op.arg) != 1:
            raise CompileError("getopt() field argument must be a single option character", pos)
        extract = _getopt(args[0], args[1], op.arg)
        multi = op.arg is None
    else:
        if len(args) != 1:
            raise CompileError(f"unknown multivalue transformer '{name}'", pos)
        if op.arg is not None:
            raise CompileError(f"transformer '{name}' does not support field arguments", pos)
        inner = args[0]
        if name in _STRING_TRANSFORMERS and inner.kind not in (Kind.STRING, Kind.BYTES):
            raise CompileError(f"transformer '{name}' is not supported on non-string field {inner.text}", pos)
        return CompiledOperand(
            extract=_wrap_transformer(name, inner),
            kind=Kind.NUMBER if name == "len" else inner.kind,
            multi=inner.multi and name != "len",
            any_ancestor=False,
            either_end=False,
            dynamic=False,
            field=None,
            text=f"{name}({inner.text})",
            key=f"{name}({inner.key})",
        )
    tail = "" if op.arg is None else f"[{op.arg!r}]"
    return CompiledOperand(
        extract=extract,
        kind=Kind.STRING,
        multi=multi,
        any_ancestor=False,
        either_end=False,
        dynamic=False,
        field=None,
        text=f"{name}(" + ", ".join(a.text for a in args) + ")" + tail,
        key=f"{name}(" + ",".join(a.key for a in args) + ")" + tail,
    )


def resolve_operand(op: Operand, cat: FieldCatalog) -> CompiledOperand:
    """Check a field or transformer chain against the catalog and build its extractor."""
    if isinstance(op, CallTransformer):
        return _resolve_call(op, cat)
    if isinstance(op, FieldRef):
        try:
            ref = cat.resolve(op.name, op.arg)
        except UnknownFieldError as exc:
            raise CompileError(str(exc), op.pos) from None
        any_anc = ref.spec.name in ANCESTOR_FIELDS and ref.arg is None
        multi = ref.is_list
        extract = cat.extractor(ref)
        if ref.spec.is_list and not multi and ref.spec.name not in ANCESTOR_FIELDS:
            # an indexed list field may still yield several values (k8saudit's
            # ka.req.role.rules.verbs[0] is every verb of the first rule): compare it as a list
            extract = _as_tuple(extract)
            multi = True
        return CompiledOperand(
            extract=extract,
            kind=ref.spec.kind,
            multi=multi,
            any_ancestor=any_anc,
            either_end=ref.spec.name in EITHER_END_FIELDS,
            dynamic=ref.spec.type.upper() == "DYNAMIC",
            field=ref,
            text=ref.text,
            # the catalog resolves a (name, argument) pair the same way every time
            key=ref.spec.name if ref.arg is None else f"{ref.spec.name}[{ref.arg!r}]",
        )
    inner = resolve_operand(op.child, cat)
    if op.name == "val":
        return inner
    if op.name in _STRING_TRANSFORMERS and inner.kind not in (Kind.STRING, Kind.BYTES):
        raise CompileError(f"transformer '{op.name}' is not supported on non-string field {inner.text}", op.pos)
    kind = Kind.NUMBER if op.name == "len" else inner.kind
    multi = inner.multi and op.name != "len"
    return CompiledOperand(
        extract=_wrap_transformer(op.name, inner),
        kind=kind,
        multi=multi,
        any_ancestor=inner.any_ancestor and op.name != "len",
        either_end=inner.either_end and op.name != "len",
        dynamic=inner.dynamic,
        field=None,
        text=f"{op.name}({inner.text})",
        key=f"{op.name}({inner.key})",
    )


# -- value conversion -------------------------------------------------------------------------


def _to_number(text: str, pos: Pos, fieldtext: str, kind: Kind) -> int | float:
    t = text.strip()
    try:
        if kind is Kind.DOUBLE:
            return float(t)
        if t[:2].lower() == "0x" or t[:3].lower() in ("+0x", "-0x"):
            return int(t, 16)
        return int(t, 10)
    except ValueError:
        raise CompileError(f"'{text}' is not a valid number for field {fieldtext}", pos) from None


def _to_bool(text: str, pos: Pos, fieldtext: str) -> bool:
    t = text.strip()
    if t in ("true", "TRUE", "True", "1"):
        return True
    if t in ("false", "FALSE", "False", "0"):
        return False
    raise CompileError(f"'{text}' is not a valid boolean for field {fieldtext}", pos)


IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


def _to_ip(text: str, pos: Pos, fieldtext: str, *, allow_net: bool) -> IPAddr | IPNet:
    t = text.strip()
    try:
        if "/" in t:
            if not allow_net:
                raise ValueError
            return ipaddress.ip_network(t, strict=False)
        return ipaddress.ip_address(t)
    except ValueError:
        raise CompileError(f"'{text}' is not a valid IP address for field {fieldtext}", pos) from None


def _convert(text: str, op: CompiledOperand, pos: Pos, *, allow_net: bool = True) -> Any:
    k = op.kind
    if op.dynamic:
        t = text.strip()
        try:
            return int(t, 16) if t[:2].lower() == "0x" else int(t, 10)
        except ValueError:
            return text
    if k is Kind.NUMBER or k is Kind.DOUBLE:
        return _to_number(text, pos, op.text, k)
    if k is Kind.BOOL:
        return _to_bool(text, pos, op.text)
    if k is Kind.IPADDR or k is Kind.IPNET:
        return _to_ip(text, pos, op.text, allow_net=True if k is Kind.IPNET else allow_net)
    if k is Kind.BYTES:
        return text.encode("utf-8", "surrogateescape")
    return text


def _hex_bytes(text: str, pos: Pos) -> bytes:
    t = text.strip()
    try:
        if len(t) % 2:
            raise ValueError
        return bytes.fromhex(t)
    except ValueError:
        raise CompileError(f"invalid hex string '{text}' for a binary comparison", pos) from None


# -- glob and pmatch --------------------------------------------------------------------------


def _glob_regex(pattern: str, icase: bool) -> re.Pattern[str]:
    """fnmatch(3) without flags: ``*`` also matches ``/``; ``\\`` escapes the next character."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
            else:
                body = pattern[i + 1 : j]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("(?s:" + "".join(out) + r")\Z", re.IGNORECASE if icase else 0)


class PathPrefixes:
    """``pmatch``: is a path equal to, or below, one of the prefixes (whole components)."""

    __slots__ = ("exact", "globs", "prefixes")

    def __init__(self, items: tuple[str, ...]) -> None:
        self.exact: set[str] = set()
        prefixes: list[str] = []
        self.globs: list[list[str]] = []
        for it in items:
            p = it.rstrip("/") or "/"
            if any(c in p for c in "*?["):
                self.globs.append([c for c in p.split("/")])
            else:
                self.exact.add(p)
                prefixes.append("/" if p == "/" else p + "/")
        #: one ``str.startswith`` call tries them all (no Python loop per event)
        self.prefixes = tuple(prefixes)

    def __call__(self, path: Any) -> bool:
        if not isinstance(path, str):
            return False
        if path in self.exact or path.startswith(self.prefixes):
            return True
        if self.globs:
            comps = path.rstrip("/").split("/") if path != "/" else [""]
            for g in self.globs:
                if len(comps) >= len(g) and all(fnmatch.fnmatchcase(c, pc) for c, pc in zip(comps, g, strict=False)):
                    return True
        return False


def _ip_matcher(items: list[IPAddr | IPNet]) -> Callable[[Any], bool]:
    addrs = frozenset(i for i in items if not isinstance(i, (ipaddress.IPv4Network, ipaddress.IPv6Network)))
    nets = tuple(i for i in items if isinstance(i, (ipaddress.IPv4Network, ipaddress.IPv6Network)))

    def match(v: Any) -> bool:
        if v in addrs:
            return True
        return any(v.version == net.version and v in net for net in nets)

    return match


# -- code generation ------------------------------------------------------------------------


class _Gen:
    def __init__(self, cat: FieldCatalog, name: str) -> None:
        self.cat = cat
        self.name = name
        self.ns: dict[str, Any] = {}
        self.n = 0
        #: extractor global → its operand's cache key
        self.keys: dict[str, str] = {}

    def bind(self, value: Any, prefix: str = "_c") -> str:
        self.n += 1
        name = f"{prefix}{self.n}"
        self.ns[name] = value
        return name

    def call(self, o: CompiledOperand) -> str:
        """The expression extracting ``o`` from ``evt`` (an ``_x<N>(evt)`` call, see `_SHARED_CALL`)."""
        name = self.bind(o.extract, "_x")
        self.keys[name] = o.key
        return f"{name}(evt)"

    def tmp(self) -> str:
        self.n += 1
        return f"_t{self.n}"

    def expr(self, e: Expr) -> str:
        match e:
            case And(children):
                return "(" + " and ".join(self.expr(c) for c in children) + ")"
            case Or(children):
                return "(" + " or ".join(self.expr(c) for c in children) + ")"
            case Not(child):
                return f"(not {self.expr(child)})"
            case UnaryCheck(left, op, pos):
                o = resolve_operand(left, self.cat)
                if op != "exists":
                    raise CompileError(f"unknown unary operator '{op}'", pos)
                return f"({self.call(o)} is not None)"
            case BinaryCheck():
                return self.check(e)
            case Identifier(name, pos):
                raise CompileError(f"Undefined macro '{name}' used in filter.", pos)
        raise TypeError(f"unknown node {type(e).__name__}")

    # one comparison of a single value `v` (a Python expression) against the constant(s)
    def single(self, op: str, o: CompiledOperand, right: Value | ListValue, v: str, pos: Pos) -> str:
        if " " in op:
            return self.modified(op, o, right, v, pos)
        k = o.kind
        if isinstance(right, ListValue):
            vals = right.values
        else:
            vals = (right.value,)
        if op in ("in", "intersects"):
            # a bare identifier after a list operator (a list name never defined) is one value
            return self.in_set(o, vals, v, pos)
        if op == "pmatch":
            m = self.bind(PathPrefixes(tuple(vals)), "_p")
            return f"{m}({v})"
        text = vals[0]
        if op in ("=", "==", "!="):
            if k in (Kind.IPADDR, Kind.IPNET):
                m = self.bind(_ip_matcher([_to_ip(text, pos, o.text, allow_net=True)]), "_m")
                return f"{m}({v})" if op != "!=" else f"(not {m}({v}))"
            c = self.bind(_convert(text, o, pos))
            if o.dynamic:
                c2 = self.bind(text)
                eq = f"({v} == {c} or str({v}) == {c2})"
                return eq if op != "!=" else f"(not {eq})"
            return f"({v} == {c})" if op != "!=" else f"({v} != {c})"
        if op in ("<", "<=", ">", ">="):
            if k is Kind.STRING and not o.dynamic:
                c = self.bind(text)
            elif o.dynamic:
                c = self.bind(_convert(text, o, pos))
                return f"(isinstance({v}, type({c})) and {v} {op} {c})"
            elif k in (Kind.NUMBER, Kind.DOUBLE):
                c = self.bind(_to_number(text, pos, o.text, k))
            else:
                raise CompileError(f"operator '{op}' is not supported on field {o.text}", pos)
            return f"({v} {op} {c})"
        if k not in (Kind.STRING, Kind.BYTES) and not o.dynamic:
            raise CompileError(f"operator '{op}' is not supported on field {o.text}", pos)
        if op in ("bcontains", "bstartswith"):
            b = _hex_bytes(text, pos)
            if k is Kind.BYTES:
                c = self.bind(b)
            else:
                c = self.bind(b.decode("latin-1"))
            return f"({c} in {v})" if op == "bcontains" else f"{v}.startswith({c})"
        if k is Kind.BYTES:
            text_c: Any = text.encode("utf-8", "surrogateescape")
        else:
            text_c = text
        if o.dynamic:
            v = f"str({v})"
        if op == "contains":
            return f"({self.bind(text_c)} in {v})"
        if op == "icontains":
            return f"({self.bind(text_c.lower())} in {v}.lower())"
        if op == "startswith":
            return f"{v}.startswith({self.bind(text_c)})"
        if op == "endswith":
            return f"{v}.endswith({self.bind(text_c)})"
        if op in ("glob", "iglob"):
            if k is Kind.BYTES:
                raise CompileError(f"operator '{op}' is not supported on field {o.text}", pos)
            g = self.bind(_glob_regex(text, op == "iglob").match, "_g")
            return f"({g}({v}) is not None)"
        if op == "regex":
            try:
                rx = re.compile(text)
            except re.error as exc:
                raise CompileError(f"invalid regular expression '{text}': {exc}", pos) from None
            r = self.bind(rx.fullmatch, "_r")
            return f"({r}({v}) is not None)"
        raise CompileError(f"unknown operator '{op}'", pos)

    def modified(self, op: str, o: CompiledOperand, right: Value | ListValue, v: str, pos: Pos) -> str:
        """``op oneof|anyof|allof (r1, r2…)`` on one value: the plain ``op`` against each item,
        true when exactly one, at least one, or every item matches; an empty list is false
        (libsinsp's ``compare_rhs_with_mod``)."""
        base, mod = op.split(" ", 1)
        if base in ("in", "intersects", "pmatch") or base in ("<", "<=", ">", ">="):
            raise CompileError(f"operator '{base}' does not accept the '{mod}' modifier", pos)
        if o.kind in (Kind.IPADDR, Kind.IPNET) and base not in ("=", "==", "!="):
            raise CompileError(f"'{base}' with modifier not supported for ip address and network filters", pos)
        vals = right.values if isinstance(right, ListValue) else (right.value,)
        if not vals:
            return "False"
        parts = [self.single(base, o, Value(x, right.pos), v, pos) for x in vals]
        if mod == "anyof":
            return "(" + " or ".join(parts) + ")"
        if mod == "allof":
            return "(" + " and ".join(parts) + ")"
        if mod == "oneof":
            return "((" + ") + (".join(parts) + ") == 1)"
        raise CompileError(f"unknown operator modifier '{mod}'", pos)

    def in_set(self, o: CompiledOperand, vals: tuple[str, ...], v: str, pos: Pos) -> str:
        if o.kind in (Kind.IPADDR, Kind.IPNET):
            items = [_to_ip(x, pos, o.text, allow_net=True) for x in vals]
            m = self.bind(_ip_matcher(items), "_m")
            return f"{m}({v})"
        conv = frozenset(_convert(x, o, pos) for x in vals)
        if o.dynamic:
            conv = conv | frozenset(vals)
            s = self.bind(conv, "_s")
            return f"({v} in {s} or str({v}) in {s})"
        s = self.bind(conv, "_s")
        return f"({v} in {s})"

    def check(self, e: BinaryCheck) -> str:
        o = resolve_operand(e.left, self.cat)
        op, right, pos = e.op, e.right, e.pos
        if (
            o.field is not None
            and o.field.spec.name == "evt.type"
            and self.cat.event_types
            and isinstance(right, (Value, ListValue))
        ):
            for name in right.values if isinstance(right, ListValue) else (right.value,):
                if name not in self.cat.event_types:
                    raise CompileError(f"unknown event type {name}", right.pos)
        x = self.call(o)
        t = self.tmp()
        if isinstance(right, (FieldRef, Transformer, CallTransformer)):
            r = resolve_operand(right, self.cat)
            rx = self.call(r)
            t2 = self.tmp()
            f = self.bind(_field_compare(op, o, r, pos), "_f")
            return f"(({t} := {x}) is not None and ({t2} := {rx}) is not None and {f}({t}, {t2}))"
        if o.either_end:
            # a tuple of both ends, or a single value for a listening socket
            u = self.tmp()
            inner = self.single(op, o, right, u, pos)
            quant = "all" if op.split(" ", 1)[0] == "!=" else "any"
            return (
                f"(({t} := {x}) is not None and "
                f"{quant}({inner} for {u} in ({t} if isinstance({t}, tuple) else ({t},))))"
            )
        if o.any_ancestor or (o.multi and op not in ("in", "intersects", "pmatch")):
            # any value satisfies
            u = self.tmp()
            inner = self.single(op, o, right, u, pos)
            return f"(({t} := {x}) is not None and any({inner} for {u} in {t}))"
        if o.multi:
            if op == "intersects":
                s = self.in_set_multi(o, right, pos)
                return f"(({t} := {x}) is not None and not {s}.isdisjoint({t}))" if s else (
                    f"(({t} := {x}) is not None and any({self.single(op, o, right, '_u', pos)} for _u in {t}))"
                )
            if op == "in":
                s = self.in_set_multi(o, right, pos)
                return f"(({t} := {x}) is not None and {s}.issuperset({t}))" if s else (
                    f"(({t} := {x}) is not None and all({self.single(op, o, right, '_u', pos)} for _u in {t}))"
                )
            inner = self.single(op, o, right, "_u", pos)
            return f"(({t} := {x}) is not None and all({inner} for _u in {t}))"
        if op in ("=", "==", "in", "intersects") and o.kind not in (Kind.IPADDR, Kind.IPNET) and not o.dynamic:
            # None never equals a constant nor belongs to a set: no None test needed
            return self.single(op, o, right, f"{x}", pos)
        inner = self.single(op, o, right, t, pos)
        return f"(({t} := {x}) is not None and {inner})"

    def in_set_multi(self, o: CompiledOperand, right: Value | ListValue, pos: Pos) -> str | None:
        if o.kind in (Kind.IPADDR, Kind.IPNET) or o.dynamic:
            return None
        vals = right.values if isinstance(right, ListValue) else (right.value,)
        return self.bind(frozenset(_convert(x, o, pos) for x in vals), "_s")


def _field_compare(op: str, left: CompiledOperand, right: CompiledOperand, pos: Pos) -> Callable[[Any, Any], bool]:
    """A run-time comparison of two extracted values (``val()`` and transformers on the right)."""

    def one(a: Any, b: Any) -> bool:
        try:
            if op in ("=", "=="):
                return bool(a == b)
            if op == "!=":
                return bool(a != b)
            if op == "<":
                return bool(a < b)
            if op == "<=":
                return bool(a <= b)
            if op == ">":
                return bool(a > b)
            if op == ">=":
                return bool(a >= b)
            if op == "contains":
                return str(b) in str(a)
            if op == "icontains":
                return str(b).lower() in str(a).lower()
            if op == "startswith":
                return str(a).startswith(str(b))
            if op == "endswith":
                return str(a).endswith(str(b))
            if op in ("glob", "iglob"):
                return _glob_regex(str(b), op == "iglob").match(str(a)) is not None
            if op == "regex":
                return re.fullmatch(str(b), str(a)) is not None
        except (TypeError, re.error):
            return False
        return False

    if op in ("in", "intersects", "pmatch"):
        def listcmp(a: Any, b: Any) -> bool:
            bs = b if isinstance(b, tuple) else (b,)
            avals = a if isinstance(a, tuple) else (a,)
            if op == "pmatch":
                pm = PathPrefixes(tuple(str(x) for x in bs))
                return all(pm(x) for x in avals)
            if op == "intersects":
                return any(x in bs for x in avals)
            return all(x in bs for x in avals)

        return listcmp
    if op in ("bcontains", "bstartswith"):
        raise CompileError(f"operator '{op}' does not accept a field on its right-hand side", pos)

    multi = left.multi or left.any_ancestor

    def cmp(a: Any, b: Any) -> bool:
        if multi and isinstance(a, tuple):
            return any(one(x, b) for x in a)
        return one(a, b)

    return cmp


# -- the per-event extraction cache ------------------------------------------------------------
#
# Rules of one ruleset check the same fields again and again (every open-family rule reads
# fd.name, evt.is_open_write, proc.name… of an openat exit). For a bucket of candidates that
# share extractions, `Ruleset.match` calls one function joining their conditions
# (`compile_bucket`): each distinct (field, argument, transformers) extraction — the operand's
# `CompiledOperand.key` — is a local variable of that call, set by the first check that needs it
# and read by every later one, whichever rule. An extractor that raises sets nothing, so every
# rule asking for it raises and is counted, as without the cache. Nothing outlives the call: no
# value can serve another event, and a caller evaluating one event twice (after the state
# changed) extracts again.

#: an extraction in generated source: only extractor globals are named ``_x<N>``, and constants
#: are never inlined as literals, so this matches nothing else
_SHARED_CALL = re.compile(r"\b(_x\d+)\(evt\)")


@dataclass(eq=False, slots=True)
class Extractions:
    """What a generated condition extracts: enough to join it with others (`compile_bucket`)."""

    src: str = field(repr=False)  # the generated source (the function's ``__doc__``)
    keys: dict[str, str] = field(repr=False)  # extractor global → its operand's key
    cat: FieldCatalog | None  # the catalog the keys are names in (None: no extraction)

    def used(self) -> list[str]:
        """The keys of the source's extractions, in source order, repeats included."""
        return [self.keys[n] for n in _SHARED_CALL.findall(self.src)]


def extractions(fn: Callable[..., Any]) -> Extractions | None:
    """The `Extractions` of a function generated here (None for any other callable)."""
    ex = getattr(fn, "extractions", None)
    return ex if isinstance(ex, Extractions) else None


#: the globals a generated condition defines (constants, extractors, temporaries: `_Gen.bind`
#: and `_Gen.tmp` names, ``_<letter><N>``): renamed per rule when several conditions are joined
#: into one function; ``_k<N>`` is left for the joined function's extraction locals
_GEN_NAME = re.compile(r"\b(_[a-jl-z]\d+)\b")
_GEN_BODY = re.compile(r"\Adef \w+\(evt\):\n    return (.*)\n\Z", re.S)


def _names(code: types.CodeType) -> Iterator[str]:
    """The global and attribute names ``code`` and the code nested in it use: generated names
    start with ``_``, the methods and builtins generated code calls do not."""
    yield from code.co_names
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _names(c)


class _NotYet:
    """The value of an extraction not made yet in a bucket function."""

    __slots__ = ()


_NOT_YET = _NotYet()


def compile_bucket(
    rules: tuple[Any, ...], preds: tuple[Callable[[Any], bool], ...], match_all: bool, where: str
) -> Callable[[Any, Callable[[Any, Exception], None]], list[Any]] | None:
    """One function ``(evt, on_error) -> matching rules`` for the candidates of one ruleset bucket:
    each condition (``preds[i]``, for ``rules[i]``) in order, in a ``try`` of its own as
    `Ruleset.match` runs them (``on_error(rule, exc)`` counts an error, the next rule is tried;
    ``first`` returns at the first match). Each distinct extraction is a local variable of the
    call, set by the first check that needs it and read by every later one, whichever rule: the
    per-event extraction cache, in its cheapest form (no dict, no call per rule). An extractor
    that raises sets nothing, so the next rule asking raises too. The predicates must come from
    one catalog (equal keys, equal extractions: `Ruleset` checks). None when a predicate was not
    generated here."""
    ns: dict[str, Any] = {"_NOT_YET": _NOT_YET}
    local_of: dict[str, str] = {}  # extraction key → local variable
    body: list[str] = []
    for i, (rule, fn) in enumerate(zip(rules, preds, strict=True)):
        ex = extractions(fn)
        if ex is None:
            return None
        if not ex.src:
            expr = "True"
        else:
            m = _GEN_BODY.match(ex.src)
            if m is None:
                return None
            keys = ex.keys

            def cached(mm: re.Match[str], keys: dict[str, str] = keys) -> str:
                loc = local_of.setdefault(keys[mm.group(1)], f"_k{len(local_of)}")
                return f"({loc} if {loc} is not _M else ({loc} := {mm.group(0)}))"

            suffix = f"_{i}"
            expr = _GEN_NAME.sub(lambda mm, sfx=suffix: mm.group(1) + sfx, _SHARED_CALL.sub(cached, m.group(1)))
            for name, value in fn.__globals__.items():
                if _GEN_NAME.fullmatch(name):
                    ns[f"{name}_{i}"] = value
        ns[f"_R{i}"] = rule
        hit = f"_out.append(_R{i})" if match_all else f"return [_R{i}]"
        body += [
            "    try:",
            f"        if {expr}:",
            f"            {hit}",
            "    except Exception as _e:",
            f"        _err(_R{i}, _e)",
        ]
    head = ["def _bucket(evt, _err):", "    _M = _NOT_YET"]
    if local_of:
        head.append("    " + " = ".join(local_of.values()) + " = _M")
    if match_all:
        head.append("    _out = []")
    src = "\n".join([*head, *body, "    return _out" if match_all else "    return []", ""])
    defined: dict[str, Any] = {}
    code = compile(src, f"<bucket {where}>", "exec")
    fn_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    if any(n.startswith("_") and n not in ns for n in _names(fn_code)):
        return None  # a generated name the renaming missed (a new kind?): keep the plain conditions
    exec(code, ns, defined)
    fn_b: Callable[[Any, Callable[[Any, Exception], None]], list[Any]] = defined["_bucket"]
    fn_b.__doc__ = src
    return fn_b


@dataclass(eq=False, slots=True)
class KeyedPredicate:
    """A syscall condition specialised per index key (event type and direction), for the ruleset.

    An event's table entry fixes ``evt.dir`` and (but for generic events, whose bucket is keyed
    by name too) ``evt.type``, so in the bucket of one key every ``evt.type``/``evt.dir`` check
    against constants has a known value. `for_key` folds them in: ``None`` when the condition
    cannot be true for the key (the rule is not a candidate), else the predicate to call — the
    whole condition when nothing folds, `rest` when only top-level conjuncts fold (generated with
    the whole condition, so it shares its constants; compiled on first use), else the residual
    condition compiled on first use and cached per residual (open, openat and openat2 exits
    share one). Nothing is compiled for keys never seen, so loading costs what it did.

    Dropping those checks is exact because ``evt.type`` and ``evt.dir`` always have a value for a
    syscall event (a missing value would make every comparison false, Falco's semantics, and
    they could not be folded) and their extractors have no side effect and never raise. What
    changes is only what is not evaluated: as with the event-type index, a rule left out of a
    bucket, or a branch folded away, is not evaluated and so cannot count an evaluation error.
    """

    cat: FieldCatalog = field(repr=False)
    name: str
    whole: Callable[[Any], bool] = field(repr=False)
    #: the flattened top-level conjuncts, and which of them `key_determined` decides
    conjuncts: tuple[Expr, ...]
    is_keyed: tuple[bool, ...]
    #: source of the condition without its keyed top-level conjuncts ("" when nothing is left;
    #: None when it has none), run in the namespace of ``whole`` on first use
    rest_src: str | None = field(repr=False)
    _rest: Callable[[Any], bool] | None = field(default=None, repr=False)
    _residuals: dict[Expr, Callable[[Any], bool]] = field(default_factory=dict, repr=False)

    @property
    def rest(self) -> Callable[[Any], bool] | None:
        """The condition without its keyed top-level conjuncts (None when it has none)."""
        if self._rest is None and self.rest_src is not None:
            if not self.rest_src:
                self._rest = _always
            else:
                # globals: the constants and extractors the checks refer to; the definition goes
                # to a dict of its own, so two threads compiling it at once cannot mix them up
                defined: dict[str, Any] = {}
                code = compile(self.rest_src, f"<rule {self.name} (rest)>", "exec")
                exec(code, self.whole.__globals__, defined)
                rest: Callable[[Any], bool] = defined["_rest"]
                rest.__doc__ = self.rest_src
                whole_ex = extractions(self.whole)
                if whole_ex is not None:
                    rest.extractions = Extractions(self.rest_src, whole_ex.keys, self.cat)  # type: ignore[attr-defined]
                self._rest = rest
        return self._rest

    @property
    def keyed(self) -> tuple[Expr, ...]:
        """The top-level conjuncts decided by the key."""
        return tuple(c for c, k in zip(self.conjuncts, self.is_keyed, strict=True) if k)

    def holds(self, evtype: str, direction: str) -> bool:
        """Whether every keyed top-level conjunct is true for this key."""
        return all(key_holds(c, evtype, direction) for c in self.keyed)

    def for_key(self, evtype: str, direction: str) -> Callable[[Any], bool] | None:
        parts: list[Expr] = []
        changed = False
        for c, k in zip(self.conjuncts, self.is_keyed, strict=True):
            f = fold_key(c, evtype, direction)
            if f is False:
                return None
            if f is True:
                changed = changed or not k
                continue
            changed = changed or f is not c
            parts.append(f)
        if not parts:
            return _always
        if not changed:
            rest = self.rest
            return rest if rest is not None else self.whole
        residual = parts[0] if len(parts) == 1 else And(tuple(parts))
        fn = self._residuals.get(residual)
        if fn is None:
            fn = self._residuals[residual] = _compile(residual, self.cat, self.name, ())[0]
        return fn


def keyed_predicate(fn: Callable[[Any], bool]) -> KeyedPredicate | None:
    """The `KeyedPredicate` compiled with ``fn`` by `compile_condition`, if any."""
    kp = getattr(fn, "keyed", None)
    return kp if isinstance(kp, KeyedPredicate) else None


def _always(evt: Any) -> bool:
    """A condition the event key decides to be true."""
    return True


_always.extractions = Extractions("", {}, None)  # type: ignore[attr-defined]


def _compile(
    expr: Expr, cat: FieldCatalog, name: str, drop: tuple[bool, ...]
) -> tuple[Callable[[Any], bool], str | None]:
    """``expr`` as ``_match(evt)``; with ``drop`` (one flag per top-level conjunct), also the source
    of ``_rest(evt)``, the conjuncts not dropped, over the same generated checks (None without)."""
    g = _Gen(cat, name)
    rest_src: str | None = None
    if not any(drop):
        src = f"def _match(evt):\n    return {g.expr(expr)}\n"
    else:
        # the flattened chain is the same Python ``and`` chain, value and short-circuit alike
        parts = [g.expr(c) for c in top_conjuncts(expr)]
        kept = [p for p, d in zip(parts, drop, strict=True) if not d]
        src = f"def _match(evt):\n    return ({' and '.join(parts)})\n"
        rest_src = f"def _rest(evt):\n    return ({' and '.join(kept)})\n" if kept else ""
    exec(compile(src, f"<rule {name}>", "exec"), g.ns)
    fn: Callable[[Any], bool] = g.ns["_match"]
    fn.__doc__ = src
    fn.extractions = Extractions(src, g.keys, cat)  # type: ignore[attr-defined]
    return fn, rest_src


def compile_condition(expr: Expr, cat: FieldCatalog, name: str = "condition") -> Callable[[Any], bool]:
    """Compile a macro-free tree into ``evt -> bool``; raises `CompileError`.

    Syscall conditions that check ``evt.type``/``evt.dir`` get a `KeyedPredicate` attached as
    ``fn.keyed`` (see `keyed_predicate`); ``fn`` itself is always the whole condition.
    """
    if cat.source != "syscall" or not has_key_leaf(expr):
        return _compile(expr, cat, name, ())[0]
    conj = top_conjuncts(expr)
    keyed = tuple(key_determined(c) for c in conj)
    fn, rest_src = _compile(expr, cat, name, keyed)
    fn.keyed = KeyedPredicate(cat, name, fn, conj, keyed, rest_src)  # type: ignore[attr-defined]
    return fn
