"""The transformers of Falco 0.44: ``join(sep, list)``, ``concat(a, b, …)``, ``getopt(args, opts)[c]``.

Facts from libsinsp (``sinsp_filtercheck_multivalue_transformer.cpp``, parser and
``filter.cpp``): arguments are fields, transformers, quoted strings, numbers and ``(…)`` lists
of those; a ``[arg]`` may follow the ``)``, taken only by ``getopt``. ``join`` needs a single
separator and a list; ``concat`` two or more single strings; ``getopt`` a list of strings and an
optstring, and gives a list (options, their values, ``?`` for unknown ones) or, with ``[c]``, the
value of the last ``-c``. A missing argument value makes the result missing.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from attr_catalog import attr_catalog

from rae.cli import main as rae_main
from rae.errors import RaeError
from rae.fields import ArgMode, FieldSpec
from rae.k8s_audit.events import AuditEvent
from rae.rules import compile_filter, compile_format
from rae.rules.ast import BinaryCheck, CallTransformer, FieldRef, Transformer, TransformerList, Value, to_text
from rae.rules.compiler import CompileError, compile_condition, getopt_scan
from rae.rules.evttypes import event_types, fold_key, key_determined
from rae.rules.parser import ConditionSyntaxError, parse_condition
from rae.syscall.event_table import EVENTS, code_of
from rae.syscall.events import SyscallEvent

CAT = attr_catalog(
    (FieldSpec("fd.name", "CHARBUF"), "name"),
    (FieldSpec("fd.directory", "CHARBUF"), "dir"),
    (FieldSpec("evt.num", "UINT64"), "num"),
    (FieldSpec("t.buf", "BYTEBUF"), "buf"),
    (FieldSpec("t.args", "CHARBUF", arg=ArgMode.INDEX_OPTIONAL, is_list=True), "args"),
)
FILE = {"name": "/tmp/file_to_run", "dir": "/tmp", "num": 1}


def m(cond: str, **kw: Any) -> bool:
    return compile_condition(parse_condition(cond), CAT)(SimpleNamespace(**kw))


# -- parsing ---------------------------------------------------------------------------------


def test_parse_tree() -> None:
    e = parse_condition('join("-", (fd.name, "x", 12, tolower(fd.directory))) = v')
    assert isinstance(e, BinaryCheck) and isinstance(e.left, CallTransformer)
    assert e.left.name == "join" and e.left.arg is None
    sep, lst = e.left.args
    assert sep == Value("-", sep.pos) and isinstance(lst, TransformerList)
    assert [type(i) for i in lst.items] == [FieldRef, Value, Value, Transformer]
    g = parse_condition('getopt(t.args, "nt:")["t"] = value')
    assert isinstance(g, BinaryCheck) and isinstance(g.left, CallTransformer) and g.left.arg == "t"
    # a one-argument transformer of a field keeps its old node
    t = parse_condition("toupper(join(\",\", t.args)) = A")
    assert isinstance(t, BinaryCheck) and isinstance(t.left, Transformer)
    assert isinstance(t.left.child, CallTransformer)


@pytest.mark.parametrize(
    "text",
    [
        'join("-", (fd.name, fd.directory)) = /tmp/test',
        "join('-->', (fd.name, fd.directory)) = /tmp/test",
        'join("-", ( fd.name , fd.directory )) = /tmp',
        'join( "-" , (fd.name, fd.directory)) = /tmp',
        'join("-", ()) = /tmp',
        'join("-", (proc.pid, 123)) contains 123',
        'join("-", (fd.name, fd.directory)) in (a, b, c)',
        'not join("-", (fd.name, fd.directory)) = /tmp',
        'evt.type = tolower(join("-", (fd.name, fd.directory)))',
        'len(toupper(join("-", (fd.name, fd.directory)))) >= 5',
        'concat(fd.name, "aaa", fd.directory) = x',
        'getopt(proc.args, "nt:")[t] = value',
        'getopt(proc.args, "nt:")[""] = value',
        'getopt(("-n", "-t"), "nt:") intersects (n)',
        "proc.name = val(fd.name)[x]",
        'concat(fd.name, 0x1F, -2.5e+3) startswith oneof (a, b)',
    ],
)
def test_parses_and_round_trips(text: str) -> None:
    e = parse_condition(text)
    assert to_text(parse_condition(to_text(e))) == to_text(e)


@pytest.mark.parametrize(
    ("text", "message", "idx"),
    [
        ('join("-", (fd.name, fd.directory) = /tmp', "expected a ')' token closing the transformer", 34),
        ('join("-", fd.name, fd.directory)) = /tmp', "expected a valid check operator", 32),
        ('join("-", (,)) = /tmp', "expected transformer list argument: field, transformer, quoted string, or num", 11),
        ('join("-", (fd.name,)) = /tmp', "expected transformer list argument", 19),
        ('join("-", (fd.name,,fd.directory)) = /tmp', "expected transformer list argument", 19),
        ('join("-", ((fd.name))) = /tmp', "expected transformer list argument", 11),
        ('join("-", (macro)) = /tmp', "expected transformer list argument", 11),
        ('join("-", (fd.name fd.directory)) = /tmp', "expected ')'", 19),
        ("tolower() = x", "expected field transformer argument: field, transformer, quoted string, number, or "
         "transformer list", 8),
        ("concat(fd.name, bare) = x", "expected field transformer argument", 16),
        ('getopt(proc.args, "nt:")[] = value', "expected a valid field argument: a quoted string or a bare string", 25),
        ('getopt(proc.args, "nt:")["t" = value', "expected a ']' token", 28),
        ("proc.name = val(fd.name", "expected a ')' token closing the transformer", 23),
        # hex numbers are 0x and hex digits only (libsinsp since 2024): "0" is the number here
        ("concat(fd.name, 0xg) = x", "expected a ')' token closing the transformer", 17),
        ("evt.num > 0xzz", "unexpected token after '0', expecting 'or', 'and'", 11),
    ],
)
def test_parse_errors(text: str, message: str, idx: int) -> None:
    with pytest.raises(ConditionSyntaxError) as exc:
        parse_condition(text)
    assert exc.value.message.startswith(message)
    assert exc.value.pos.idx == idx


# -- join and concat (cases of libsinsp's filter_transformer tests) ---------------------------


@pytest.mark.parametrize(
    "cond",
    [
        "join(fd.name, (fd.name,fd.directory)) = /tmp/file_to_run/tmp/file_to_run/tmp",
        'join("-", (fd.name,fd.directory)) = /tmp/file_to_run-/tmp',
        'join("->", ("aaa")) = aaa',
        'join("->", (fd.name, "aaa", fd.directory)) = /tmp/file_to_run->aaa->/tmp',
        'join("->", ( "aaa", toupper(fd.name))) = aaa->/TMP/FILE_TO_RUN',
        'join(",", (evt.num, evt.num)) = "1,1"',
        'join(",", ()) = ""',
        'not join(",", ()) = ","',
        'len(join("-", (fd.name, fd.directory))) = 21',
        'b64(join("W", ("YWFhL", "JiYg"))) = "aaa-bbb"',
        'join("-", (fd.directory, join("->", ("aaa", fd.name)))) = /tmp-aaa->/tmp/file_to_run',
        "concat(fd.name, fd.directory) = /tmp/file_to_run/tmp",
        'concat("aaa", "bbb", "ccc") = aaabbbccc',
        'concat(fd.directory, concat("aaa", toupper(fd.name))) = /tmpaaa/TMP/FILE_TO_RUN',
        'len(concat(fd.name, fd.directory)) = 20',
        'b64(concat("YWFh", "YmJi")) = "aaabbb"',
        'concat(fd.name, 42) endswith run42',
        'fd.name = concat("/tmp/", "file_to_run")',
        'fd.name startswith concat(fd.directory, "/")',
        'join("/", t.args) = a/b',
        'join("-", (t.args, "c")) = a-b-c',
    ],
)
def test_join_concat_values(cond: str) -> None:
    assert m(cond, args=("a", "b"), **FILE)


def test_missing_values() -> None:
    # a missing field anywhere makes the result missing: every comparison false, exists false
    assert not m('concat(fd.name, fd.directory) exists', name="/x")
    assert not m('concat(fd.name, "x") != y')
    assert m('not concat(fd.name, "x") = y')
    assert not m('join("-", (fd.name, fd.directory)) exists', name="/x")
    assert not m('join(fd.name, ("a", "b")) exists')
    assert not m('join("-", t.args) exists')  # an empty or missing list field has no value
    assert not m('getopt(t.args, "n") exists')
    assert m('getopt(t.args, "n") exists', args=("x",))  # no options: an empty list, but a value
    assert not m('getopt(t.args, "n") intersects (n)', args=("x",))
    assert not m('getopt(t.args, "nt:")[t] exists', args=("-n",))


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ('join("-") = foo', "join() requires exactly 2 arguments: separator and list"),
        ('join("-", "a", "b") = foo', "join() requires exactly 2 arguments"),
        ('join(t.args, ("a", "b")) = foo', "join() first argument (separator) must be a single value, not a list"),
        ('join(("a", "b"), "a") = foo', "join() first argument (separator) must be a single value"),
        ('join("a", "b") = foo', "join() second argument must be a list"),
        ('concat("aaa") = foo', "concat() requires at least 2 arguments"),
        ('concat(t.args, "a") = foo', "concat() arguments must be strings"),
        ('concat("a", ("a", "b")) = foo', "concat() arguments must be strings"),
        ('concat(evt.num, "a") = foo', "concat() arguments must be strings"),
        ('getopt(("a")) intersects (n)', "getopt() requires exactly 2 arguments: args list and optstring"),
        ('getopt("not_a_list", "n") intersects (n)', "getopt() first argument must be a list"),
        ('getopt(("-n"), ("n")) intersects (n)', "getopt() second argument (optstring) must be a single value"),
        ('getopt(("-n"), "n")[nt] = n', "getopt() field argument must be a single option character"),
        ('join("-", t.args)[1] = a', "transformer 'join' does not support field arguments"),
        ("tolower(fd.name)[1] = a", "transformer 'tolower' does not support field arguments"),
        ("tolower(fd.name, fd.directory) = a", "unknown multivalue transformer 'tolower'"),
        ("fd.name = val(fd.directory)[x]", "transformer 'val' does not support field arguments"),
        ('concat(fd.name, fd.nope) = x', "filter_check called with nonexistent field fd.nope"),
    ],
)
def test_compile_errors(cond: str, message: str) -> None:
    with pytest.raises(CompileError) as exc:
        compile_condition(parse_condition(cond), CAT)
    assert exc.value.message.startswith(message)


# -- getopt ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ('getopt(("-n",""), "n") intersects ("n")', True),
        ('getopt(("-nt", "hello"), "nt:") intersects ("n", "t", "hello")', True),
        ('getopt(("-thello"), "t:") intersects ("t", "hello")', True),
        ('getopt(("-n", "--", "-t"), "nt:") intersects ("t")', False),
        ('getopt(("-x", "-n"), "n") intersects ("?", "n")', True),
        ('getopt(("-x", "-n"), "n") intersects ("x")', False),
        ('getopt(("-lpe", "/bin/sh"), "lp:e:") intersects ("l","p","e")', True),  # "e" is -p's value
        ('getopt(("-lpe", "/bin/sh"), "lp:e:") intersects ("/bin/sh")', False),
        ('getopt(("-lpe", "/bin/sh"), "lpe:") intersects ("/bin/sh")', True),
        ('getopt(("-n", "-t"), "") intersects ("n")', False),
        ('getopt(("arg1", "-n", "arg2"), "n") intersects ("n")', False),
        ('getopt(("-", "-n"), "n") intersects ("n")', False),
        ('getopt(("-t"), "t:") intersects ("")', True),
        ('getopt(("-t"), "t:") intersects ("t")', False),
        ('getopt(("-t"), ":t:") intersects (":")', False),
        ('getopt(("--exec", "-n"), "n") intersects ("n")', True),
        ('getopt(("-p", "22", "-i", "keyfile", "user@host"), "p:i:") in ("p", "22", "i", "keyfile")', True),
        ('getopt(("-n", "-t", "hello"), "nt:")[t] = hello', True),
        ('getopt(("-n", "-t", "hello"), "nt:")[t] = n', False),
        ('getopt(("-n", "-t", "hello"), "nt:")[n] = n', True),
        ('getopt(("-t", "a", "-t", "b"), "t:")[t] = b', True),
        ('getopt(("-t"), "t:")[t] = ""', True),
        ('len(getopt(("-ab", "-c", "v"), "abc:")) = 4', True),
        ('getopt(t.args, "p:")[p] = 8080', True),
    ],
)
def test_getopt(cond: str, expected: bool) -> None:
    assert m(cond, args=("-p", "8080", "x")) is expected


def test_getopt_scan_direct() -> None:
    assert getopt_scan(("-it", "-p", "8080:80", "image", "-v", "x"), "itp:v:", None) == ("i", "t", "p", "8080:80")
    assert getopt_scan(("-a1b2c3",), "a1b2c3", None) == ("a", "1", "b", "2", "c", "3")
    assert getopt_scan(("-abcvalue",), "abc:", "c") == "value"
    assert getopt_scan(("-n",), "n", "x") is None


# -- real catalogs, modifiers, index ---------------------------------------------------------


class _Thread:
    comm = "myexe"


def test_syscall_catalog() -> None:
    code = code_of("openat", "<")
    evt = SyscallEvent(1, 1_000, 100, 0, code, EVENTS[code], [], thread=_Thread())
    assert compile_filter('join(":", (proc.name, evt.type)) = "myexe:openat"')(evt)
    assert compile_filter('concat(proc.name, "-", evt.type) startswith oneof (myexe-, x)')(evt)
    with pytest.raises(Exception, match="concat"):
        compile_filter('concat(proc.pid, "x") = 1')


def test_k8s_audit_catalog() -> None:
    obj = {
        "kind": "Event",
        "auditID": "a1",
        "verb": "create",
        "user": {"username": "bob"},
        "objectRef": {"resource": "pods", "namespace": "default"},
        "requestObject": {
            "spec": {"containers": [{"image": "nginx", "args": ["-p", "8080", "-v"]}, {"image": "redis"}]}
        },
    }
    evt = AuditEvent(obj, 0)
    assert compile_filter('join(",", ka.req.pod.containers.image) = "nginx,redis"', "k8s_audit")(evt)
    assert compile_filter('concat(ka.user.name, "@", ka.target.namespace) = bob@default', "k8s_audit")(evt)
    assert compile_filter('getopt(("-u", ka.user.name, "-v"), "u:v")[u] = bob', "k8s_audit")(evt)
    assert compile_filter('getopt(("-u", ka.user.name, "-v"), "u:v") intersects (v)', "k8s_audit")(evt)
    assert not compile_filter('getopt(("-u", ka.user.name), "u:")[v] exists', "k8s_audit")(evt)
    # a list item without a value: the list, and so the result, has none
    assert not compile_filter('getopt(("-u", ka.req.role.rules), "u:") exists', "k8s_audit")(evt)


def test_evttypes_are_conservative() -> None:
    e = parse_condition('join("", (evt.type)) = openat')
    assert event_types(e).is_all and not key_determined(e)
    assert fold_key(e, "openat", "<") is e
    e2 = parse_condition('evt.type = openat and concat(evt.type, evt.dir) = "openat<"')
    assert event_types(e2).names == frozenset({"openat"})
    folded = fold_key(e2, "openat", "<")
    assert isinstance(folded, BinaryCheck) and isinstance(folded.left, CallTransformer)


def test_validate_accepts_rules_file(tmp_path: Path) -> None:
    f = tmp_path / "tr.yaml"
    f.write_text(
        "- rule: transformers\n  desc: d\n"
        "  condition: >\n"
        "    evt.type = execve and evt.dir = < and\n"
        "    concat(proc.name, \":\", user.name) != \"a:b\" and\n"
        "    join(\"/\", (proc.name, evt.type)) startswith anyof (bash, sh)\n"
        "  output: '%proc.name %concat(proc.name, \"@\", user.name) %join(\",\", (evt.type, proc.name))'\n"
        "  priority: WARNING\n"
    )
    assert rae_main(["validate", str(f)]) == 0


# -- output formats (libsinsp eventformatter: keys as its AST text) ----------------------------


@pytest.mark.parametrize(
    ("fmt", "text", "key"),
    [
        ('start %join("->", (proc.name, evt.type)) end', "start myexe->openat end", "join(->,(proc.name,evt.type))"),
        ("%concat(proc.name, evt.type)!", "myexeopenat!", "concat(proc.name,evt.type)"),
        ("%toupper(concat(proc.name, evt.type))", "MYEXEOPENAT", "toupper(concat(proc.name,evt.type))"),
        ("%concat(toupper(proc.name), evt.type)", "MYEXEopenat", "concat(toupper(proc.name),evt.type)"),
        ('%getopt(("-t", proc.name), "t:")[t]', "myexe", "getopt((-t,proc.name),t:)[t]"),
        ('%getopt(("-a", "-t", "x"), "at:")', "(a,t,x)", "getopt((-a,-t,x),at:)"),
    ],
)
def test_output_formats(fmt: str, text: str, key: str) -> None:
    code = code_of("openat", "<")
    evt = SyscallEvent(1, 1_000, 100, 0, code, EVENTS[code], [], thread=_Thread())
    of = compile_format(fmt)
    assert [t.key for t in of.tokens] == [key]
    rendered, fields = of.render(evt)
    assert rendered == text and key in fields


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("%concat(proc.name)", "concat() requires at least 2 arguments"),
        ('%join("-", (proc.name)', "expected a ')' token closing the transformer"),
        ("%concat(proc.name, nope.field)", "nonexistent field nope.field"),
    ],
)
def test_output_format_errors(fmt: str, message: str) -> None:
    with pytest.raises(RaeError, match=re.escape(message)):
        compile_format(fmt)


def test_validate_rejects_bad_transformer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        "- rule: bad\n  desc: d\n  condition: evt.type = open and concat(proc.name) = x\n"
        "  output: o\n  priority: WARNING\n"
    )
    assert rae_main(["validate", str(f)]) != 0
    out = capsys.readouterr().out
    assert "LOAD_ERR_COMPILE_CONDITION" in out and "concat() requires at least 2 arguments" in out
