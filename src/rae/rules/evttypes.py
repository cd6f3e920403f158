"""Which event types a condition can match (libsinsp's ``ppm_event_codes`` pass).

``and`` intersects, ``or`` unions, ``not`` is pushed to the leaves (De Morgan); a leaf
``evt.type = X`` / ``evt.type in (…)`` gives those names, its negation (or ``!=``) everything
but them, and any other leaf — negated or not — every type. Sets are kept as finite sets or
complements of finite sets, so no table of all event types is needed: a rule matching a
complement is a "matches too many evt.type values" rule.

For the syscall code index, `fold_key` evaluates the ``evt.type``/``evt.dir`` checks of a
condition for one event type and direction and simplifies what is left (`key_determined`,
`key_holds`, `top_conjuncts` are its parts).
"""

from __future__ import annotations

from dataclasses import dataclass

from rae.rules.ast import And, BinaryCheck, Expr, FieldRef, Identifier, ListValue, Not, Or, UnaryCheck, Value

__all__ = [
    "KEY_FIELDS",
    "TypeSet",
    "event_types",
    "fold_key",
    "has_key_leaf",
    "key_determined",
    "key_holds",
    "top_conjuncts",
]


@dataclass(frozen=True, slots=True)
class TypeSet:
    """``names`` when not ``negated``; otherwise every type except ``names``."""

    names: frozenset[str]
    negated: bool

    @property
    def is_all(self) -> bool:
        return self.negated and not self.names

    def contains(self, name: str) -> bool:
        return (name in self.names) != self.negated

    def union(self, o: TypeSet) -> TypeSet:
        if not self.negated and not o.negated:
            return TypeSet(self.names | o.names, False)
        if self.negated and o.negated:
            return TypeSet(self.names & o.names, True)
        neg, pos = (self, o) if self.negated else (o, self)
        return TypeSet(neg.names - pos.names, True)

    def intersect(self, o: TypeSet) -> TypeSet:
        if not self.negated and not o.negated:
            return TypeSet(self.names & o.names, False)
        if self.negated and o.negated:
            return TypeSet(self.names | o.names, True)
        neg, pos = (self, o) if self.negated else (o, self)
        return TypeSet(pos.names - neg.names, False)

    def complement(self) -> TypeSet:
        return TypeSet(self.names, not self.negated)


ALL = TypeSet(frozenset(), True)


def _leaf(e: Expr, negate: bool, field: str) -> TypeSet:
    if isinstance(e, BinaryCheck) and isinstance(e.left, FieldRef) and e.left.name == field and e.left.arg is None:
        names: frozenset[str] | None = None
        if e.op in ("=", "==", "!=") and isinstance(e.right, Value):
            names = frozenset((e.right.value,))
        elif e.op in ("in", "intersects") and isinstance(e.right, ListValue):
            names = frozenset(e.right.values)
        if names is not None:
            s = TypeSet(names, False)
            if e.op == "!=":
                s = s.complement()
            return s.complement() if negate else s
    return ALL


def event_types(e: Expr, negate: bool = False, field: str = "evt.type") -> TypeSet:
    """The values of the index ``field`` (``evt.type``; ``ka.verb`` for audit events) on which
    ``e`` (macros already expanded) can be true."""
    match e:
        case And(children):
            if negate:
                out = TypeSet(frozenset(), False)
                for c in children:
                    out = out.union(event_types(c, True, field))
                return out
            out = ALL
            for c in children:
                out = out.intersect(event_types(c, False, field))
            return out
        case Or(children):
            if negate:
                out = ALL
                for c in children:
                    out = out.intersect(event_types(c, True, field))
                return out
            out = TypeSet(frozenset(), False)
            for c in children:
                out = out.union(event_types(c, False, field))
            return out
        case Not(child):
            return event_types(child, not negate, field)
        case BinaryCheck() | UnaryCheck():
            return _leaf(e, negate, field)
        case Identifier():
            return ALL
    raise TypeError(f"unknown node {type(e).__name__}")


# -- conjuncts fixed by the index key (syscall source) ----------------------------------------
#
# A syscall event's index key is its event-table entry: it fixes ``evt.dir`` (the entry's
# direction) and, except for generic ``syscall`` events (named after their syscall id), its
# ``evt.type``. A top-level conjunct built only from checks of those two fields against
# constants is therefore either true for every event of a key or false for all of them: the
# ruleset evaluates it once per key, instead of once per event.

#: the fields whose value the syscall index key determines
KEY_FIELDS = ("evt.type", "evt.dir")
_KEY_OPS = frozenset(("=", "==", "!=", "in", "intersects"))


def top_conjuncts(e: Expr) -> tuple[Expr, ...]:
    """The operands of the top-level ``and`` chain, nested ``and`` flattened (order kept)."""
    if not isinstance(e, And):
        return (e,)
    out: list[Expr] = []
    for c in e.children:
        out.extend(top_conjuncts(c))
    return tuple(out)


def _key_leaf(e: Expr) -> bool:
    return (
        isinstance(e, BinaryCheck)
        and isinstance(e.left, FieldRef)
        and e.left.name in KEY_FIELDS
        and e.left.arg is None
        and e.op in _KEY_OPS
        and isinstance(e.right, (Value, ListValue))
    )


def key_determined(e: Expr) -> bool:
    """True when ``e`` (macros expanded) only compares ``evt.type``/``evt.dir`` with constants
    (``=``, ``==``, ``!=``, ``in``, ``intersects``), combined by ``and``/``or``/``not``."""
    match e:
        case And(children) | Or(children):
            return all(key_determined(c) for c in children)
        case Not(child):
            return key_determined(child)
    return _key_leaf(e)


def key_holds(e: Expr, evtype: str, direction: str) -> bool:
    """The value of a `key_determined` expression for an event of type ``evtype`` and direction
    ``direction``, with the compiled checks' semantics (both fields are always extractable for
    syscall events, so no "missing value" case arises)."""
    match e:
        case And(children):
            return all(key_holds(c, evtype, direction) for c in children)
        case Or(children):
            return any(key_holds(c, evtype, direction) for c in children)
        case Not(child):
            return not key_holds(child, evtype, direction)
        case BinaryCheck(left=FieldRef(name=name), op=op, right=right) if _key_leaf(e):
            v = evtype if name == "evt.type" else direction
            assert isinstance(right, (Value, ListValue))
            vals = right.values if isinstance(right, ListValue) else (right.value,)
            if op in ("in", "intersects"):
                return v in vals
            if op == "!=":
                return v != vals[0]
            return v == vals[0]
    raise TypeError(f"not determined by the event key: {type(e).__name__}")


def has_key_leaf(e: Expr) -> bool:
    """Whether any check of ``e`` is one `key_determined` can decide."""
    match e:
        case And(children) | Or(children):
            return any(has_key_leaf(c) for c in children)
        case Not(child):
            return has_key_leaf(child)
    return _key_leaf(e)


def fold_key(e: Expr, evtype: str, direction: str) -> Expr | bool:
    """``e`` for events of this type and direction: its ``evt.type``/``evt.dir`` checks replaced
    by their values and ``and``/``or``/``not`` simplified — ``True``/``False`` when that decides
    it, else the residual tree (``e`` itself, the same object, when nothing changed). The
    residual is true of exactly the events of that key for which ``e`` is true."""
    match e:
        case And(children) | Or(children):
            is_and = isinstance(e, And)
            out: list[Expr] = []
            changed = False
            for c in children:
                f = fold_key(c, evtype, direction)
                if f is True or f is False:
                    if f is not is_and:  # False in an and, True in an or: decided
                        return f
                    changed = True  # True in an and, False in an or: drop it
                    continue
                changed = changed or f is not c
                out.append(f)
            if not out:
                return is_and
            if not changed:
                return e
            if len(out) == 1:
                return out[0]
            return And(tuple(out), e.pos) if is_and else Or(tuple(out), e.pos)
        case Not(child):
            f = fold_key(child, evtype, direction)
            if f is True or f is False:
                return not f
            return e if f is child else Not(f, e.pos)
    if _key_leaf(e):
        return key_holds(e, evtype, direction)
    return e
