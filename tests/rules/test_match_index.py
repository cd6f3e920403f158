"""The syscall code index of `Ruleset.match`: direction-aware candidates and elided conjuncts.

Events are built by hand (`SyscallEvent` with the event table's entries, no state): the
conditions test ``evt.type``, ``evt.dir``, ``evt.num`` and ``proc.name``, which need no
parameters. The whole-corpus differential test is in test_match_index_corpus.py.
"""

from __future__ import annotations

import textwrap
from types import SimpleNamespace
from typing import Any

import pytest
from inline_rules import load, rules

from rae.rules.compiler import keyed_predicate
from rae.rules.ruleset import Ruleset
from rae.syscall.event_table import EVENTS, PPME_GENERIC_E, PPME_GENERIC_X, code_of
from rae.syscall.event_table_data import SYSCALL_NAMES
from rae.syscall.events import SyscallEvent


def ev(name: str, direction: str, num: int = 1, thread: Any = None) -> SyscallEvent:
    code = code_of(name, direction)
    return SyscallEvent(num, 1_000, 100, 0, code, EVENTS[code], [], thread=thread)


def generic(syscall: str, direction: str, num: int = 1) -> SyscallEvent:
    code = PPME_GENERIC_E if direction == ">" else PPME_GENERIC_X
    params = [SYSCALL_NAMES.index(syscall), 0] if direction == ">" else [SYSCALL_NAMES.index(syscall)]
    return SyscallEvent(num, 1_000, 100, 0, code, EVENTS[code], params)


def names(found: Any) -> list[str]:
    return [r.name for r in found]


def reference(rs: Ruleset, evt: Any) -> list[str]:
    """Every enabled syscall rule's whole condition, in order (no index)."""
    out = [r.name for r in rs.rules if r.enabled and r.source == "syscall" and r.match(evt)]
    return out if rs.match_all else out[:1]


class Boom:
    """A thread whose every attribute read fails: any ``proc.*`` extraction raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"thread.{name} read")


DIRS = rules(
    exit_only="evt.type=open and evt.dir=< and evt.num > 0",
    enter_quoted="evt.type = open and evt.dir = '>'",
    not_exit="evt.type=open and not evt.dir=<",
    not_enter="evt.type=open and evt.dir != >",
    in_list='evt.type=open and evt.dir in ("<")',
    no_dir="evt.type=open and evt.num > 0",
)


def test_direction_conjunct_restricts_the_candidates() -> None:
    rs = load(DIRS)
    assert names(rs.candidates("syscall", "open", "<")) == ["exit_only", "not_enter", "in_list", "no_dir"]
    assert names(rs.candidates("syscall", "open", ">")) == ["enter_quoted", "not_exit", "no_dir"]
    # the name index (and other sources) still list every rule of the type
    assert len(rs.candidates("syscall", "open")) == 6
    assert names(rs.match(ev("open", "<"), "syscall")) == ["exit_only", "not_enter", "in_list", "no_dir"]
    assert names(rs.match(ev("open", ">"), "syscall")) == ["enter_quoted", "not_exit", "no_dir"]
    assert names(rs.match(ev("openat", "<"), "syscall")) == []
    assert names(rs.match(ev("open", "<", num=0), "syscall")) == ["not_enter", "in_list"]


def test_rule_matching_first_keeps_load_order() -> None:
    rs = load(DIRS, matching="first")
    assert names(rs.match(ev("open", "<"), "syscall")) == ["exit_only"]
    assert names(rs.match(ev("open", ">"), "syscall")) == ["enter_quoted"]
    assert names(rs.match(ev("open", "<", num=0), "syscall")) == ["not_enter"]


def test_exit_rule_is_not_evaluated_on_enter_events() -> None:
    # proc.name comes first: the whole condition raises on any event; the index never calls the
    # rule for enter events, and for exit events calls what is left (proc.name), which raises
    rs = load(rules(r="proc.name = x and evt.type = open and evt.dir = <"))
    (rule,) = rs.rules
    with pytest.raises(RuntimeError):
        rule.match(ev("open", ">", thread=Boom()))
    assert rs.match(ev("open", ">", thread=Boom()), "syscall") == []
    assert rs.eval_errors == 0 and rule.errors == 0
    assert rs.match(ev("open", "<", thread=Boom()), "syscall") == []
    assert rs.eval_errors == 1 and rule.errors == 1


def test_only_the_keyed_conjuncts_are_dropped() -> None:
    rs = load(rules(r="evt.type = open and evt.num = 5 and evt.dir = < and evt.num > 1"))
    (rule,) = rs.rules
    kp = keyed_predicate(rule.match)
    assert kp is not None and len(kp.keyed) == 2
    # the rest ignores type and direction (its caller guarantees them), the whole condition not
    assert kp.rest(ev("close", ">", num=5)) is True
    assert rule.match(ev("close", ">", num=5)) is False
    assert kp.rest(ev("close", ">", num=4)) is False
    assert kp.holds("open", "<") and not kp.holds("open", ">") and not kp.holds("openat", "<")
    assert names(rs.match(ev("open", "<", num=5), "syscall")) == ["r"]
    assert names(rs.match(ev("open", "<", num=4), "syscall")) == []
    # the full predicate is unchanged for every other caller (filters, -p, tests)
    assert rule.match(ev("open", "<", num=5)) is True
    assert rule.match(ev("open", ">", num=5)) is False


def test_condition_made_only_of_keyed_conjuncts() -> None:
    rs = load(rules(r="evt.type in (open, openat) and evt.dir = <"))
    (rule,) = rs.rules
    kp = keyed_predicate(rule.match)
    assert kp is not None and kp.rest(ev("close", ">")) is True
    assert names(rs.match(ev("openat", "<"), "syscall")) == ["r"]
    assert names(rs.match(ev("openat", ">"), "syscall")) == []


def test_top_level_or_is_not_elided() -> None:
    rs = load(
        rules(
            either="evt.type in (open, openat) or evt.num = 7",
            mixed="(evt.type = open or evt.num = 7) and evt.dir = <",
        )
    )
    either, mixed = rs.rules
    kp = keyed_predicate(either.match)
    assert kp is not None and kp.keyed == () and kp.rest is None
    # folded per key: true for open events whatever the rest, the other branch for close events
    assert kp.for_key("open", ">")(ev("open", ">", num=8)) is True  # type: ignore[misc]
    assert kp.for_key("close", "<") not in (None, either.match)
    kp = keyed_predicate(mixed.match)
    assert kp is not None and len(kp.keyed) == 1  # only evt.dir = <
    assert names(rs.match(ev("close", "<", num=7), "syscall")) == ["either", "mixed"]
    assert names(rs.match(ev("close", ">", num=7), "syscall")) == ["either"]
    assert names(rs.match(ev("close", "<", num=8), "syscall")) == []
    assert names(rs.match(ev("open", ">", num=8), "syscall")) == ["either"]
    assert names(rs.match(ev("open", "<", num=8), "syscall")) == ["either", "mixed"]


def test_direction_inside_every_branch_of_an_or() -> None:
    """The built-in open-family rules pin the direction in each branch of an ``or`` (open
    family, creat, rename…), not at the top: the rule is still no candidate for enter events,
    and exit events evaluate the branch of their type only."""
    rs = load(
        rules(
            r="((evt.type in (open, openat) and evt.dir = < and evt.num > 2) or "
            "(evt.type = creat and evt.dir = < and evt.num > 5)) and evt.num < 100",
            other="evt.type = close",
        )
    )
    rule = rs.rules[0]
    kp = keyed_predicate(rule.match)
    assert kp is not None and kp.keyed == ()
    for t in ("open", "openat", "creat"):
        assert names(rs.candidates("syscall", t, ">")) == []
        assert names(rs.candidates("syscall", t, "<")) == ["r"]
    assert names(rs.candidates("syscall", "close", "<")) == ["other"]
    open_x, openat_x, creat_x = (kp.for_key(t, "<") for t in ("open", "openat", "creat"))
    assert open_x is openat_x and open_x is not creat_x  # one residual per distinct folding
    assert open_x is not None and creat_x is not None
    assert open_x(ev("creat", ">", num=3)) is True  # the creat branch is gone from it
    assert creat_x(ev("open", ">", num=3)) is False
    types = ("open", "openat", "creat", "close")
    for evt in (ev(t, d, n) for t in types for d in "<>" for n in (1, 3, 6, 200)):
        assert names(rs.match(evt, "syscall")) == reference(rs, evt), (evt.evtype, evt.dir, evt.num)


def test_negated_type_tests() -> None:
    rs = load(
        rules(
            not_open="not evt.type = open and evt.num = 3",
            not_open_exit="not (evt.type = open and evt.dir = <) and evt.num = 3",
            ne="evt.type != open and evt.num = 3",
        )
    )
    for r in rs.rules:
        kp = keyed_predicate(r.match)
        assert kp is not None and len(kp.keyed) == 1, r.name
    assert names(rs.candidates("syscall", "open", "<")) == []
    assert names(rs.candidates("syscall", "open", ">")) == ["not_open_exit"]
    assert names(rs.match(ev("close", "<", num=3), "syscall")) == ["not_open", "not_open_exit", "ne"]
    assert names(rs.match(ev("open", ">", num=3), "syscall")) == ["not_open_exit"]
    assert names(rs.match(ev("open", "<", num=3), "syscall")) == []
    assert names(rs.match(generic("madvise", "<", num=3), "syscall")) == ["not_open", "not_open_exit", "ne"]


def test_macros_and_nested_parentheses() -> None:
    rs = load(
        textwrap.dedent("""
        - macro: open_exit
          condition: (evt.type in (open, openat) and (evt.dir = <))
        - macro: late
          condition: evt.num > 10
        - macro: open_or_late
          condition: (evt.type = open or late)
        """)
        + rules(
            nested="(open_exit and (late and (evt.dir=<))) and not evt.num = 99",
            wrapped="((open_or_late)) and ((evt.dir = >))",
        )
    )
    nested, wrapped = rs.rules
    kp = keyed_predicate(nested.match)
    assert kp is not None and len(kp.keyed) == 3
    kp2 = keyed_predicate(wrapped.match)
    assert kp2 is not None and len(kp2.keyed) == 1
    for evt in (
        ev("open", "<", 11),
        ev("openat", "<", 11),
        ev("openat", ">", 11),
        ev("open", "<", 5),
        ev("open", ">", 5),
        ev("open", "<", 99),
        ev("close", ">", 12),
        ev("close", ">", 2),
        generic("madvise", ">", 12),
    ):
        assert names(rs.match(evt, "syscall")) == reference(rs, evt), (evt.evtype, evt.dir, evt.num)
    assert names(rs.match(ev("openat", "<", 11), "syscall")) == ["nested"]
    assert names(rs.match(ev("close", ">", 12), "syscall")) == ["wrapped"]


def test_generic_events_are_indexed_by_their_syscall_name() -> None:
    rs = load(
        rules(
            madvise_exit="evt.type = madvise and evt.dir = <",
            madvise_any="evt.type = madvise",
            mprotect="evt.type = mprotect",
            not_madvise_enter="not evt.type = madvise and evt.dir = >",
        )
    )
    assert names(rs.match(generic("madvise", "<"), "syscall")) == ["madvise_exit", "madvise_any"]
    assert names(rs.match(generic("madvise", ">"), "syscall")) == ["madvise_any"]
    assert names(rs.match(generic("mprotect", ">"), "syscall")) == ["mprotect", "not_madvise_enter"]
    assert names(rs.match(generic("mprotect", "<"), "syscall")) == ["mprotect"]
    # the same generic code, another name: still right after the first names were cached
    assert names(rs.match(generic("madvise", "<"), "syscall")) == ["madvise_exit", "madvise_any"]


def test_events_without_code_use_the_name_index() -> None:
    rs = load(DIRS)
    fake = SimpleNamespace(evtype="open", info=SimpleNamespace(name="open", dir="<"), num=1, ts=0)
    assert names(rs.match(fake, "syscall")) == ["exit_only", "not_enter", "in_list", "no_dir"]
    fake.info.dir = ">"
    assert names(rs.match(fake, "syscall")) == ["enter_quoted", "not_exit", "no_dir"]

    class Sub(SyscallEvent):
        __slots__ = ()

    code = code_of("open", ">")
    sub = Sub(1, 1, 1, 0, code, EVENTS[code], [])
    assert names(rs.match(sub, "syscall")) == ["enter_quoted", "not_exit", "no_dir"]


def test_an_event_whose_info_is_not_its_codes_entry() -> None:
    """The bucket of a code is only used for events carrying that code's table entry: field
    values come from ``evt.info``, so an event with another entry gets the entry's rules."""
    rs = load(DIRS)
    assert names(rs.match(ev("open", "<"), "syscall"))[0] == "exit_only"  # caches the code
    odd = SyscallEvent(2, 1, 1, 0, code_of("open", "<"), EVENTS[code_of("open", ">")], [])
    assert names(rs.match(odd, "syscall")) == ["enter_quoted", "not_exit", "no_dir"]
    assert names(rs.match(ev("open", "<"), "syscall")) == ["exit_only", "not_enter", "in_list", "no_dir"]


def test_selection_rebuilds_the_code_index() -> None:
    rs = load(DIRS)
    assert names(rs.match(ev("open", "<"), "syscall"))[0] == "exit_only"
    rs.select(disabled_substrings=["exit_only", "no_dir"])
    assert names(rs.match(ev("open", "<"), "syscall")) == ["not_enter", "in_list"]
    assert names(rs.match(ev("open", ">"), "syscall")) == ["enter_quoted", "not_exit"]


def test_audit_rules_are_not_code_indexed() -> None:
    rs = load(
        textwrap.dedent("""
        - rule: get
          desc: d
          condition: ka.verb = get and ka.user.name = alice
          output: o
          priority: WARNING
          source: k8s_audit
        """)
    )
    (rule,) = rs.rules
    assert keyed_predicate(rule.match) is None
    assert names(rs.candidates("k8s_audit", "get", "<")) == ["get"]


@pytest.mark.parametrize(
    ("cond", "key", "want"),
    [
        ("evt.type = open and evt.dir = <", ("open", "<"), True),
        ("evt.type = open and evt.dir = <", ("open", ">"), False),
        ("evt.type = open and proc.name = x", ("open", ">"), "proc.name = x"),
        ("evt.type = open and proc.name = x", ("close", ">"), False),
        ("evt.type = open or proc.name = x", ("open", ">"), True),
        ("evt.type = open or proc.name = x", ("close", ">"), "proc.name = x"),
        ("not (evt.dir = < and proc.name = x)", (">", ">"), True),
        ("not (evt.dir = < and proc.name = x)", ("open", "<"), "not proc.name = x"),
        ("(evt.dir = < and a.b = 1) or (evt.dir = > and c.d = 2) or e.f = 3", ("x", ">"),
         "(c.d = 2 or e.f = 3)"),
        ("evt.type != open and evt.type in (open, close)", ("close", "<"), True),
        ("evt.type intersects (open) and evt.dir in (<, >)", ("open", ">"), True),
        ("evt.type[1] = open and evt.dir.x = <", ("open", "<"), "(evt.type[1] = open and evt.dir.x = <)"),
        ("evt.type startswith op and evt.dir exists", ("open", "<"),
         "(evt.type startswith op and evt.dir exists)"),
        ("proc.name = x", ("open", "<"), "proc.name = x"),
    ],
)
def test_fold_key(cond: str, key: tuple[str, str], want: bool | str) -> None:
    from rae.rules.ast import to_text
    from rae.rules.evttypes import fold_key
    from rae.rules.parser import parse_condition

    tree = parse_condition(cond)
    got = fold_key(tree, *key)
    if isinstance(want, bool):
        assert got is want
    else:
        assert not isinstance(got, bool) and to_text(got) == want
    if got is not True and got is not False and to_text(got) == to_text(tree):
        assert got is tree  # nothing folded: the same tree, so the whole predicate is reused
