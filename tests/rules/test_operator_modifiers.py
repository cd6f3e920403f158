"""The string-operator modifiers of Falco 0.44: ``op oneof|anyof|allof (r1, r2…)``.

Parse rules (libsinsp ``parser::parse_condition``): after a string operator and a blank, the
word ``oneof``/``anyof``/``allof`` and a blank, then a list or an identifier; a modifier word
followed by ``and``/``or``/``not``, by ``)`` or by nothing is a plain string value. Semantics
(``compare_rhs_with_mod``): the plain operator against each item; exactly one, at least one,
every item; an empty list is false.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from attr_catalog import attr_catalog

from rae.cli import main as rae_main
from rae.fields import ArgMode, FieldSpec
from rae.k8s_audit.events import AuditEvent
from rae.rules import compile_filter
from rae.rules.ast import BinaryCheck, ListValue, Value, to_text
from rae.rules.compiler import CompileError, compile_condition
from rae.rules.evttypes import event_types, fold_key, key_determined
from rae.rules.parser import ConditionSyntaxError, parse_condition
from rae.syscall.event_table import EVENTS, code_of
from rae.syscall.events import SyscallEvent

CAT = attr_catalog(
    (FieldSpec("t.name", "CHARBUF"), "name"),
    (FieldSpec("t.num", "INT64"), "num"),
    (FieldSpec("t.ip", "IPADDR"), "ip"),
    (FieldSpec("t.buf", "BYTEBUF"), "buf"),
    (FieldSpec("t.list", "CHARBUF", arg=ArgMode.INDEX_OPTIONAL, is_list=True), "list"),
)


def m(cond: str, **kw: Any) -> bool:
    return compile_condition(parse_condition(cond), CAT)(SimpleNamespace(**kw))


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "right"),
    [
        ("proc.name == oneof (cat, nginx)", "== oneof", ("cat", "nginx")),
        ("proc.name = anyof (cat)", "= anyof", ("cat",)),
        ("proc.name != allof ()", "!= allof", ()),
        ("proc.name startswith oneof (ba, zs)", "startswith oneof", ("ba", "zs")),
        ("fd.name contains allof (etc, pass)", "contains allof", ("etc", "pass")),
        ("proc.name glob anyof ('a*', \"*b\", c)", "glob anyof", ("a*", "*b", "c")),
        ("proc.name regex oneof\n  (x.*)", "regex oneof", ("x.*",)),
        ("proc.name == oneof allowed_processes", "== oneof", "allowed_processes"),
        ("proc.name == oneof oneof", "== oneof", "oneof"),
        ("tolower(proc.name) != anyof (a, b)", "!= anyof", ("a", "b")),
        ("evt.arg[0] == oneof (connect, accept)", "== oneof", ("connect", "accept")),
    ],
)
def test_modifier_parses(text: str, op: str, right: Any) -> None:
    e = parse_condition(text)
    assert isinstance(e, BinaryCheck) and e.op == op
    if isinstance(right, tuple):
        assert isinstance(e.right, ListValue) and e.right.values == right
    else:
        assert isinstance(e.right, Value) and e.right.value == right
    assert parse_condition(to_text(e)) == parse_condition(to_text(parse_condition(to_text(e))))
    assert to_text(parse_condition(to_text(e))) == to_text(e)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("proc.name == oneof", "oneof"),
        ("proc.name == anyof and fd.name exists", "anyof"),
        ("proc.name == allof or fd.name exists", "allof"),
        ("(proc.name == oneof)", "oneof"),
        ("proc.name == oneof_something", "oneof_something"),
        ("proc.name == 'oneof'", "oneof"),
        ("proc.name contains anyof", "anyof"),
    ],
)
def test_modifier_word_as_plain_value(text: str, value: str) -> None:
    e = parse_condition(text)
    first = e if isinstance(e, BinaryCheck) else e.children[0]  # type: ignore[attr-defined]
    assert isinstance(first, BinaryCheck) and first.op in ("==", "contains")
    assert isinstance(first.right, Value) and first.right.value == value


@pytest.mark.parametrize(
    ("text", "message", "idx"),
    [
        ("proc.name == oneof (cat,)", "expected a string value", 24),
        ("proc.name == oneof (cat,,nginx)", "expected a string value", 24),
        ("proc.name == oneof (,cat)", "expected a ')' token", 20),
        ("proc.name == oneof (cat, nginx", "expected a ')' token", 30),
        ("proc.name ==oneof (cat, nginx)", "unexpected token after 'oneof', expecting 'or', 'and'", 18),
        ("proc.name == oneof(cat)", "unexpected token after 'oneof', expecting 'or', 'and'", 18),
        ("proc.name == ONEOF (cat)", "unexpected token after 'ONEOF', expecting 'or', 'and'", 19),
        ("proc.name contains oneof(cat)", "unexpected token after 'oneof', expecting 'or', 'and'", 24),
        ("proc.name == oneof_x (cat)", "unexpected token after 'oneof_x', expecting 'or', 'and'", 21),
        ("proc.num > oneof (1, 2)", "expected a number value or a field with a valid transformer", 11),
        ("proc.name in oneof (cat)", "unexpected token after 'oneof', expecting 'or', 'and'", 19),
        ("proc.name pmatch allof (cat)", "unexpected token after 'allof', expecting 'or', 'and'", 23),
    ],
)
def test_modifier_parse_errors(text: str, message: str, idx: int) -> None:
    with pytest.raises(ConditionSyntaxError) as exc:
        parse_condition(text)
    assert exc.value.message.startswith(message)
    assert exc.value.pos.idx == idx


# -- semantics (cases of libsinsp's cmp_operator_modifiers tests, on proc.name "myexe") -------


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("t.name == oneof (myexe, bash)", True),
        ("t.name == oneof (myexe, myexe)", False),  # duplicates count twice
        ("t.name == anyof (myexe, myexe)", True),
        ("t.name == allof (myexe, myexe)", True),
        ("t.name == allof (myexe, bash)", False),
        ("t.name != oneof (myexe, myexe, bash)", True),
        ("t.name != oneof (bash, sh)", False),
        ("t.name != anyof (myexe, bash)", True),
        ("t.name != allof (bash, sh)", True),
        ("t.name != allof (myexe, bash)", False),
        ("t.name contains oneof (my, exe)", False),
        ("t.name contains allof (my, exe)", True),
        ("t.name icontains anyof (MYEX, BASH)", True),
        ("t.name startswith oneof (my, bash)", True),
        ("t.name startswith allof (my, mye)", True),
        ("t.name endswith oneof (exe, yexe)", False),
        ("t.name glob allof (my*, *exe)", True),
        ("t.name iglob oneof (MY*, BASH)", True),
        ("t.name regex oneof (my.*, .*exe)", False),
        ("t.name regex anyof (b.*, sh.*)", False),
        ("toupper(t.name) == oneof (MYEXE, BASH)", True),
        ("t.name == oneof (myexe) and t.name != allof (bash, sh)", True),
        ("not t.name == oneof (myexe)", False),
    ],
)
def test_modifier_semantics(cond: str, expected: bool) -> None:
    assert m(cond, name="myexe") is expected


@pytest.mark.parametrize("mod", ["oneof", "anyof", "allof"])
@pytest.mark.parametrize("op", ["==", "!=", "contains", "glob"])
def test_empty_list_is_false(op: str, mod: str) -> None:
    assert not m(f"t.name {op} {mod} ()", name="myexe")


@pytest.mark.parametrize("mod", ["oneof", "anyof", "allof"])
def test_missing_value_is_false(mod: str) -> None:
    assert not m(f"t.name != {mod} (a, b)")
    assert m(f"not t.name == {mod} (a)")


def test_numbers_ips_bytes_and_lists() -> None:
    assert m("t.num = oneof (1, 0x2)", num=2) and not m("t.num != allof (1, 2)", num=2)
    assert m("t.ip == anyof (10.0.0.1, 192.168.0.0/16)", ip=__import__("ipaddress").ip_address("192.168.1.1"))
    assert m("t.buf bcontains allof (CAFE, BABE)", buf=b"\xca\xfe\xba\xbe")
    # a multi-valued field: one value satisfying the modified comparison (as other operators)
    assert m("t.list startswith oneof (a, b)", list=("xa", "bz")) and not m("t.list = allof (a, b)", list=("a", "b"))
    assert m("t.name == oneof undefined_list", name="undefined_list")


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ("t.ip contains anyof (10.0.0.1)", "'contains' with modifier not supported for ip address"),
        ("t.num == oneof (x)", "not a valid number"),
        ("t.name regex anyof ('(')", "invalid regular expression"),
    ],
)
def test_modifier_compile_errors(cond: str, message: str) -> None:
    with pytest.raises(CompileError, match=message):
        compile_condition(parse_condition(cond), CAT)


# -- real catalogs ----------------------------------------------------------------------------


class _Thread:
    comm = "myexe"


def test_syscall_catalog() -> None:
    code = code_of("openat", "<")
    evt = SyscallEvent(1, 1_000, 100, 0, code, EVENTS[code], [], thread=_Thread())
    assert compile_filter("proc.name startswith oneof (my, zs)")(evt)
    assert compile_filter("evt.type == oneof (openat, open)")(evt)
    assert not compile_filter("evt.type == allof (openat, open)")(evt)


def test_k8s_audit_catalog() -> None:
    evt = AuditEvent(
        {
            "kind": "Event",
            "auditID": "a1",
            "verb": "create",
            "user": {"username": "system:admin"},
            "objectRef": {"resource": "pods", "namespace": "kube-system"},
            "requestObject": {"spec": {"containers": [{"image": "nginx:1"}, {"image": "busybox"}]}},
        },
        0,
    )
    assert compile_filter("ka.user.name startswith anyof (system:, kube)", "k8s_audit")(evt)
    assert compile_filter("ka.target.namespace != allof (default, prod)", "k8s_audit")(evt)
    assert not compile_filter("ka.verb == oneof (get, list)", "k8s_audit")(evt)
    # multi-valued: some image satisfies the modified comparison
    images = "ka.req.pod.containers.image"
    assert compile_filter(f"{images} startswith oneof (nginx, busy)", "k8s_audit")(evt)
    assert not compile_filter(f"{images} startswith allof (nginx, busy)", "k8s_audit")(evt)
    assert not compile_filter(f"{images} == anyof (alpine)", "k8s_audit")(evt)


# -- event-type analysis: conservative --------------------------------------------------------


def test_evttypes_do_not_use_modifier_checks() -> None:
    e = parse_condition("evt.type == anyof (open, openat)")
    assert event_types(e).is_all
    assert not key_determined(e)
    assert fold_key(e, "openat", "<") is e
    e2 = parse_condition("evt.type = openat and evt.type != allof (open)")
    assert event_types(e2).names == frozenset({"openat"})
    assert fold_key(e2, "open", "<") is False


def test_validate_accepts_rules_file(tmp_path: Path) -> None:
    f = tmp_path / "mods.yaml"
    f.write_text(
        "- list: shells\n  items: [bash, zsh]\n"
        "- rule: shell with modifiers\n  desc: d\n"
        "  condition: evt.type = execve and evt.dir = < and proc.name startswith oneof (shells)"
        " and proc.name != allof (sh, dash)\n"
        "  output: '%proc.name'\n  priority: WARNING\n"
    )
    assert rae_main(["validate", str(f)]) == 0
