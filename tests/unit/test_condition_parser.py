"""The condition parser: grammar, precedence, quoting, positions, and robustness on any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rae.rules.ast import (
    And,
    BinaryCheck,
    FieldRef,
    Identifier,
    ListValue,
    Not,
    Or,
    Transformer,
    UnaryCheck,
    Value,
    to_text,
)
from rae.rules.parser import ConditionSyntaxError, parse_condition


def test_precedence_not_and_or() -> None:
    e = parse_condition("not a and b or c")
    assert isinstance(e, Or)
    left, right = e.children
    assert isinstance(left, And) and isinstance(left.children[0], Not)
    assert left.children[0].child == Identifier("a", left.children[0].child.pos)
    assert right == Identifier("c", right.pos)


def test_double_not_cancels() -> None:
    e = parse_condition("not not proc.name=cat")
    assert isinstance(e, BinaryCheck)


def test_field_args_and_operators() -> None:
    e = parse_condition("proc.aname[2]=bash and evt.arg.flags contains O_TRUNC and jevt.value[/a/b] exists")
    assert isinstance(e, And)
    c0, c1, c2 = e.children
    assert isinstance(c0, BinaryCheck) and c0.left == FieldRef("proc.aname", "2", c0.left.pos) and c0.op == "="
    assert isinstance(c1, BinaryCheck) and c1.left.name == "evt.arg.flags" and c1.op == "contains"  # type: ignore[union-attr]
    assert isinstance(c2, UnaryCheck) and c2.left == FieldRef("jevt.value", "/a/b", c2.left.pos)


def test_quoted_arg_and_values() -> None:
    e = parse_condition('container.label["io.kubernetes.pod.name"] = "my pod" and a.b = \'x\\\'y\'')
    assert isinstance(e, And)
    c0, c1 = e.children
    assert isinstance(c0, BinaryCheck) and c0.left.arg == "io.kubernetes.pod.name"  # type: ignore[union-attr]
    assert c0.right == Value("my pod", c0.right.pos)  # type: ignore[union-attr]
    assert isinstance(c1, BinaryCheck) and c1.right.value == "x'y"  # type: ignore[union-attr]


def test_list_values_mixed_and_empty() -> None:
    e = parse_condition('proc.name in (cat, "a b", /usr/bin/x) or fd.name in ()')
    assert isinstance(e, Or)
    c0, c1 = e.children
    assert isinstance(c0, BinaryCheck) and isinstance(c0.right, ListValue)
    assert c0.right.values == ("cat", "a b", "/usr/bin/x")
    assert isinstance(c1, BinaryCheck) and c1.right == ListValue((), c1.right.pos)


def test_no_blank_needed_around_symbols() -> None:
    e = parse_condition("(evt.type=open)and(fd.num>=0)")
    assert isinstance(e, And) and len(e.children) == 2


def test_transformers_and_val() -> None:
    e = parse_condition("tolower(proc.name) = bash and proc.name = val(proc.pname) and len(proc.args) > 3")
    assert isinstance(e, And)
    c0, c1, c2 = e.children
    assert isinstance(c0, BinaryCheck) and isinstance(c0.left, Transformer) and c0.left.name == "tolower"
    assert isinstance(c1, BinaryCheck) and isinstance(c1.right, Transformer)
    assert c1.right.name == "val" and c1.right.child == FieldRef("proc.pname", None, c1.right.child.pos)
    assert isinstance(c2, BinaryCheck) and c2.left.name == "len" and c2.right.value == "3"  # type: ignore[union-attr]


def test_escapes() -> None:
    e = parse_condition(r'a.b = "x\"y\\z\n\/"')
    assert isinstance(e, BinaryCheck) and e.right.value == 'x"y\\z\n/'  # type: ignore[union-attr]
    with pytest.raises(ConditionSyntaxError, match="unsupported string escape"):
        parse_condition(r'a.b = "\q"')
    with pytest.raises(ConditionSyntaxError, match=r"invalid \\' escape"):
        parse_condition(r'a.b = "\'"')


@pytest.mark.parametrize(
    ("text", "message", "idx"),
    [
        ("", "filter input string is empty", 0),
        ("evt.type=open and", "expected blank or '(' after 'and'", 17),
        ("evt.type=open and ", "expected a '(' token, a field check, or an identifier", 18),
        ("evt.type=open andx", "expected blank or '(' after 'and'", 17),
        ("evt.type = execve foo", "unexpected token after 'execve', expecting 'or', 'and'", 18),
        ("(proc.name=cat", "expected a ')' token", 14),
        ("proc.name", "expected a valid check operator", 9),
        ("proc.name in (a,", "expected a string value", 16),
        ("fd.num > abc", "expected a number value", 9),
        ("proc.aname[2 = x", "expected a ']' token", 12),
    ],
)
def test_errors_name_the_position(text: str, message: str, idx: int) -> None:
    with pytest.raises(ConditionSyntaxError) as exc:
        parse_condition(text)
    assert message in exc.value.message
    assert exc.value.pos.idx == idx
    assert "\n" not in str(exc.value)


def test_positions_count_lines() -> None:
    with pytest.raises(ConditionSyntaxError) as exc:
        parse_condition("evt.type=open\n  and (proc.name=cat\n")
    assert exc.value.pos.line == 3


def test_depth_cap() -> None:
    deep = "(" * 5000 + "a.b=1" + ")" * 5000
    with pytest.raises(ConditionSyntaxError, match="exceeded max depth"):
        parse_condition(deep)
    ok = "(" * 50 + "a.b=1" + ")" * 50
    assert isinstance(parse_condition(ok), BinaryCheck)


def test_round_trip_text() -> None:
    text = 'not (a.b in (x, "y z") and c.d[3] startswith "/tmp") or m or tolower(e.f) exists'
    e = parse_condition(text)
    assert parse_condition(to_text(e)) == e or to_text(parse_condition(to_text(e))) == to_text(e)


_TOKENS = st.sampled_from(
    [
        "evt.type", "proc.name", "fd.name", "proc.aname[2]", "=", "!=", "<", ">=", " in ", " contains ",
        " startswith ", " exists", " and ", " or ", "not ", "(", ")", ",", '"', "'", "\\", "cat", "/etc",
        "tolower(", "val(", " ", "\n", "[", "]", "0x1f", "-3", "macro_x",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS, max_size=30).map("".join))
def test_property_token_soup(text: str) -> None:
    try:
        e = parse_condition(text)
    except ConditionSyntaxError as exc:
        assert 0 <= exc.pos.idx <= len(text)
        assert "\n" not in str(exc)
        return
    # anything that parses renders to text that parses to an equivalent tree
    assert to_text(parse_condition(to_text(e))) == to_text(e)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_property_arbitrary_text(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionSyntaxError as exc:
        assert 0 <= exc.pos.idx <= len(text)


_FIELD_TOKENS = st.sampled_from(
    [
        "evt.type", "proc.name", "fd.name", "proc.aname[2]", "fd.num", "fd.sip", "fd.net", "evt.arg.flags",
        "proc.env[HOME]", "=", "!=", "<", ">=", " in ", " contains ", " pmatch ", " glob ", " exists", " and ",
        " or ", "not ", "(", ")", ",", '"', "open", "/etc", "0x1f", "-3", "10.0.0.0/8", "true", "tolower(",
        "val(", " ", "[", "]", "nosuch.field", "'",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FIELD_TOKENS, max_size=25).map("".join))
def test_property_compile_or_one_line_error(text: str) -> None:
    """Through the real syscall catalog: a compiled filter, or one RaeError line — nothing else."""
    from rae.errors import RaeError
    from rae.rules import compile_filter

    try:
        fn = compile_filter(text, "syscall")
    except RaeError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert callable(fn)
