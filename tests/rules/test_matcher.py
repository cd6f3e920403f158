"""`Ruleset.matcher`: the one-argument form of `Ruleset.match` the engine's syscall loop calls.

It must give what ``match(evt, source)`` gives for every event shape (code-indexed, generic,
an event whose info is not its code's entry, a non-`SyscallEvent`, another source), also when
it is held across a `Ruleset.select`, as a caller holding it for a batch does.
"""

from __future__ import annotations

from types import SimpleNamespace

from inline_rules import load
from test_match_index import DIRS, ev, generic, names

from rae.syscall.event_table import EVENTS, code_of
from rae.syscall.events import SyscallEvent


def test_matcher_gives_what_match_gives() -> None:
    rs = load(DIRS)
    m = rs.matcher("syscall")
    odd = SyscallEvent(2, 1, 1, 0, code_of("open", "<"), EVENTS[code_of("open", ">")], [])
    fake = SimpleNamespace(evtype="open", info=SimpleNamespace(name="open", dir="<"), num=1, ts=0)
    for evt in (ev("open", "<"), ev("open", "<"), ev("open", ">"), ev("open", "<", num=0), ev("openat", "<"),
                odd, generic("mprotect", ">"), fake):
        assert names(m(evt)) == names(rs.match(evt, "syscall"))
    assert rs.matcher("syscall") is m  # one closure per source
    assert names(rs.matcher("k8s_audit")(ev("open", "<"))) == []


def test_a_held_matcher_follows_a_selection() -> None:
    """``select`` rebuilds the index: a matcher taken before it (its code buckets filled) must not
    keep matching the rules it disabled."""
    rs = load(DIRS)
    m = rs.matcher("syscall")
    assert names(m(ev("open", "<"))) == ["exit_only", "not_enter", "in_list", "no_dir"]
    assert names(m(ev("open", "<"))) == ["exit_only", "not_enter", "in_list", "no_dir"]  # bucket cached
    rs.select(disabled_substrings=["exit_only", "no_dir"])
    assert names(m(ev("open", "<"))) == ["not_enter", "in_list"]
    assert names(m(ev("open", "<"))) == names(rs.matcher("syscall")(ev("open", "<")))
    assert names(m(ev("open", ">"))) == ["enter_quoted", "not_exit"]


def test_a_matcher_of_a_replaced_ruleset_keeps_its_rules() -> None:
    """A reload builds a new ruleset: a matcher of the old one (held by a loop until its batch
    ends, as ``self.ruleset.match`` was) still answers with the old rules, and the new ruleset's
    matcher with the new ones."""
    old = load(DIRS)
    m_old = old.matcher("syscall")
    assert names(m_old(ev("open", "<")))[0] == "exit_only"
    new = load(DIRS.replace("exit_only", "renamed"))
    assert names(new.matcher("syscall")(ev("open", "<")))[0] == "renamed"
    assert names(m_old(ev("open", "<")))[0] == "exit_only"
