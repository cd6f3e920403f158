"""The per-event extraction cache of `Ruleset.match`: within one call, each distinct extraction
(field, argument, transformers) runs at most once, whichever candidates ask for it; nothing is
kept from one call to the next; evaluation errors are counted per rule as without it.

Syscall events are built by hand with a thread double whose ``comm`` (``proc.name``) reads are
counted. Kubernetes audit rules are checked on every corpus audit trace against evaluating each
rule's whole condition.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from inline_rules import load, rules

from rae.k8s_audit.replay import open_audit_source
from rae.rules import LoadOptions, compile_filter, load_rules
from rae.rules.compiler import Extractions, compile_bucket, extractions
from rae.rules.ruleset import Ruleset
from rae.syscall.event_table import EVENTS, code_of
from rae.syscall.events import SyscallEvent

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / ".." / "shared" / "corpus"
K8S_TRACES = CORPUS / "falco-regression" / "trace_files" / "k8s_audit"


class Thread:
    """A thread whose ``comm`` reads are counted (``proc.name`` is ``thread.comm``)."""

    def __init__(self, comm: str) -> None:
        self._comm = comm
        self.reads = 0

    @property
    def comm(self) -> str:
        self.reads += 1
        return self._comm

    @comm.setter
    def comm(self, value: str) -> None:
        self._comm = value


class Boom:
    """A thread whose every attribute read fails: any ``proc.*`` extraction raises."""

    def __init__(self) -> None:
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        if name == "reads":
            raise AttributeError(name)
        self.__dict__["reads"] = self.__dict__.get("reads", 0) + 1
        raise RuntimeError(f"thread.{name} read")


def ev(name: str, direction: str, thread: Any = None, num: int = 1) -> SyscallEvent:
    code = code_of(name, direction)
    return SyscallEvent(num, 1_000, 100, 0, code, EVENTS[code], [], thread=thread)


def names(found: Any) -> list[str]:
    return [r.name for r in found]


def reference(rs: Ruleset, evt: Any, source: str) -> list[str]:
    """Every enabled rule's whole condition, in load order, no index and no cache."""
    out = [r.name for r in rs.rules if r.enabled and r.source == source and r.match(evt)]
    return out if rs.match_all else out[:1]


OPEN_EXIT = "evt.type in (open, openat) and evt.dir = <"
SEVERAL = rules(
    eq=f"{OPEN_EXIT} and proc.name = abc",
    prefix=f"{OPEN_EXIT} and proc.name startswith ab",
    listed=f"{OPEN_EXIT} and proc.name in (abc, xyz)",
    negated=f"{OPEN_EXIT} and not proc.name = xyz",
    twice=f"{OPEN_EXIT} and (proc.name = nope or proc.name endswith bc)",
    upper=f"{OPEN_EXIT} and toupper(proc.name) = ABC",
    length=f"{OPEN_EXIT} and len(proc.name) = 3",
    exists=f"{OPEN_EXIT} and proc.name exists",
)
ALL_OF_THEM = ["eq", "prefix", "listed", "negated", "twice", "upper", "length", "exists"]


def test_an_extraction_runs_once_per_event_whichever_rules_ask() -> None:
    rs = load(SEVERAL)
    t = Thread("abc")
    assert names(rs.match(ev("openat", "<", t), "syscall")) == ALL_OF_THEM
    # proc.name, toupper(proc.name) and len(proc.name) are three extractions (three keys): the
    # transformed ones read the field themselves; proc.name itself is read once for six rules
    assert t.reads == 3
    # without the cache (every other caller: filters, -p, tests) each check extracts again
    t.reads = 0
    assert [r.name for r in rs.rules if r.match(ev("openat", "<", t))] == ALL_OF_THEM
    assert t.reads == 9  # "twice" reads it twice
    # rule_matching: first stops at the first match, as before
    first = load(SEVERAL, "first")
    t = Thread("abc")
    assert names(first.match(ev("openat", "<", t), "syscall")) == ["eq"]
    assert t.reads == 1
    t = Thread("xyz")
    assert names(first.match(ev("openat", "<", t), "syscall")) == ["listed"]
    assert t.reads == 1


def test_transformers_and_arguments_are_distinct_extractions() -> None:
    rs = load(SEVERAL)
    for comm in ("abc", "ABC", "xyz", "abcd", "", "Abc"):
        evt = ev("openat", "<", Thread(comm))
        assert names(rs.match(evt, "syscall")) == reference(rs, evt, "syscall"), comm
    keys = {k for r in rs.rules for k in extractions(r.match).used()}  # type: ignore[union-attr]
    assert {"proc.name", "toupper(proc.name)", "len(proc.name)"} <= keys
    rs = load(rules(a="proc.aname[1] = x", b="proc.aname[2] = x", c="proc.aname = x", d="evt.arg.fd = 3"))
    keys = {k for r in rs.rules for k in extractions(r.match).used()}  # type: ignore[union-attr]
    assert keys >= {"proc.aname['1']", "proc.aname['2']", "proc.aname", "evt.arg['fd']"}


def test_no_value_crosses_from_one_event_to_the_next() -> None:
    rs = load(SEVERAL)
    expected = {
        "abc": ALL_OF_THEM,
        "xyz": ["listed", "length", "exists"],
        "abd": ["prefix", "negated", "length", "exists"],
    }
    # events built, matched and dropped one after the other: a new event may well reuse the
    # memory (and id()) of the one before; each must be matched on its own values
    for _ in range(50):
        for comm, want in expected.items():
            evt = ev("openat", "<", Thread(comm))
            assert names(rs.match(evt, "syscall")) == want, comm
            del evt
        gc.collect()
    # one event object matched twice, its state changed in between: extracted again
    t = Thread("abc")
    evt = ev("openat", "<", t)
    assert names(rs.match(evt, "syscall")) == ALL_OF_THEM
    t.comm = "xyz"
    assert names(rs.match(evt, "syscall")) == expected["xyz"]
    assert t.reads == 6  # each of the three extractions once per call
    # and a compiled filter (rae replay -p, rae capture FILTER) never caches
    f = compile_filter("proc.name = xyz and proc.name != abc")
    t.reads = 0
    assert f(evt) is True and t.reads == 2
    t.comm = "abc"
    assert f(evt) is False


def test_evaluation_errors_are_counted_per_rule() -> None:
    rs = load(SEVERAL)
    boom = Boom()
    assert rs.match(ev("openat", "<", boom), "syscall") == []
    # each rule asked, each raised (nothing was cached), each is counted
    assert rs.eval_errors == len(ALL_OF_THEM)
    assert [r.errors for r in rs.rules] == [1] * len(ALL_OF_THEM)
    assert boom.reads == len(ALL_OF_THEM)  # each rule raised at its first read
    # rule_matching: first goes on past a rule that raised, as without the cache
    first = load(rules(bad=f"{OPEN_EXIT} and proc.name = x", good=f"{OPEN_EXIT} and evt.num = 1"), "first")
    assert names(first.match(ev("openat", "<", Boom()), "syscall")) == ["good"]
    assert [r.errors for r in first.rules] == [1, 0] and first.eval_errors == 1


def test_an_error_in_one_rule_does_not_stop_the_others_sharing() -> None:
    rs = load(
        rules(
            first=f"{OPEN_EXIT} and evt.num = 1 and proc.name = abc",
            second=f"{OPEN_EXIT} and evt.num = 2 and proc.name = abc",
            third=f"{OPEN_EXIT} and proc.name = abc",
        )
    )
    t = Thread("abc")
    assert names(rs.match(ev("openat", "<", t, num=2), "syscall")) == ["second", "third"]
    assert t.reads == 1
    assert names(rs.match(ev("openat", "<", Boom(), num=2), "syscall")) == []
    assert [r.errors for r in rs.rules] == [0, 1, 1]  # "first" stopped at evt.num


def test_buckets_without_repeated_extractions_call_the_plain_conditions() -> None:
    # one candidate, even one that reads proc.name twice: plain (a dict would cost more than it saves)
    rs = load(
        rules(
            one=f"{OPEN_EXIT} and (proc.name = abc or proc.name = abd)",
            other="evt.type = close and evt.num = 1",
        )
    )
    t = Thread("abc")
    assert names(rs.match(ev("openat", "<", t), "syscall")) == ["one"]
    buckets = [entry[1] for entry in rs._index["syscall"].by_code.values()]
    assert buckets and all(joined is None for _, joined in buckets)  # type: ignore[misc]
    rs = load(SEVERAL)
    rs.match(ev("openat", "<", Thread("abc")), "syscall")
    ((_, (pairs, joined)),) = rs._index["syscall"].by_code.values()  # type: ignore[misc]
    assert len(pairs) == len(ALL_OF_THEM) and joined is not None
    assert joined.__doc__.count("try:") == len(ALL_OF_THEM)


K8S_RULESETS = [
    REPO / "rules" / "k8s_audit_rules.yaml",
    CORPUS / "upstream-rules" / "k8s_audit_rules.yaml",
    CORPUS / "upstream-rules" / "k8s_audit_rules-0.6.0.yaml",
]


@pytest.fixture(scope="module")
def audit_events() -> list[Any]:
    if not K8S_TRACES.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    events = [e for f in sorted(K8S_TRACES.glob("*.json")) for e in open_audit_source(str(f))]
    assert len(events) > 40
    return events


@pytest.mark.parametrize("matching", ["first", "all"])
@pytest.mark.parametrize("rules_file", K8S_RULESETS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_k8s_audit_rules_match_as_their_whole_conditions(
    rules_file: Path, matching: str, audit_events: list[Any]
) -> None:
    rs = load_rules([str(rules_file)], LoadOptions(rule_matching=matching))
    fired = 0
    for evt in audit_events:
        got = names(rs.match(evt, "k8s_audit"))
        assert got == reference(rs, evt, "k8s_audit"), (evt.evtype, got)
        fired += bool(got)
    assert fired >= 10
    assert rs.eval_errors == 0
    # the cache was in use: some ka.verb bucket repeats an extraction
    assert any(joined for _, joined in rs._index["k8s_audit"].by_type_pairs.values())


def test_a_name_the_joining_does_not_know_keeps_the_plain_conditions() -> None:
    # a condition whose source uses a generated name of a kind the renaming misses: joining it
    # would fail at run time (NameError, counted as an evaluation error), so nothing is joined
    src = "def _match(evt):\n    return _zz1(evt) and _x1(evt)\n"
    ns: dict[str, Any] = {"_zz1": lambda e: True, "_x1": lambda e: True}
    exec(src, ns)
    fn = ns["_match"]
    fn.extractions = Extractions(src, {"_x1": "proc.name"}, None)
    assert compile_bucket(("a", "b"), (fn, fn), False, "t") is None
    # the conditions the compiler generates join
    rs = load(SEVERAL)
    joined = compile_bucket(tuple(rs.rules), tuple(r.match for r in rs.rules), True, "t")
    assert joined is not None
    errors: list[Any] = []
    assert names(joined(ev("openat", "<", Thread("abc")), lambda r, e: errors.append(r))) == ALL_OF_THEM
    assert not errors
