"""Compiled conditions: Falco's operator semantics on a small test catalog."""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace
from typing import Any

import pytest

from rae.fields import ArgMode, FieldCatalog, FieldSpec
from rae.rules.compiler import CompileError, compile_condition
from rae.rules.parser import parse_condition


def _catalog() -> FieldCatalog:
    cat = FieldCatalog("test")
    cat.add(
        [
            FieldSpec("evt.type", "CHARBUF"),
            FieldSpec("t.name", "CHARBUF"),
            FieldSpec("t.path", "CHARBUF"),
            FieldSpec("t.num", "INT64"),
            FieldSpec("t.flag", "BOOL"),
            FieldSpec("t.ip", "IPADDR"),
            FieldSpec("t.net", "IPNET"),
            FieldSpec("t.buf", "BYTEBUF"),
            FieldSpec("t.list", "CHARBUF", arg=ArgMode.INDEX_OPTIONAL, is_list=True),
            FieldSpec("proc.aname", "CHARBUF", arg=ArgMode.INDEX_OPTIONAL, is_list=True),
            FieldSpec("t.env", "CHARBUF", arg=ArgMode.KEY_REQUIRED),
            FieldSpec("t.label", "CHARBUF", arg=ArgMode.KEY_OPTIONAL, dotted_arg=True),
        ]
    )

    def attr(name: str) -> Any:
        def factory(spec: FieldSpec, arg: str | None) -> Any:
            if spec.is_list and arg is not None:
                i = int(arg)

                def pick(evt: Any) -> Any:
                    v = getattr(evt, name, None)
                    return v[i] if v is not None and i < len(v) else None

                return pick
            if arg is not None:
                return lambda evt: getattr(evt, name, {}).get(arg)
            return lambda evt: getattr(evt, name, None)

        return factory

    names = ("evt.type", "t.name", "t.path", "t.num", "t.flag", "t.ip", "t.net", "t.buf", "t.list", "t.env", "t.label")
    for f in names:
        cat.bind(f, attr(f.split(".", 1)[1] if f != "evt.type" else "evtype"))
    cat.bind("proc.aname", attr("anc"))
    return cat


CAT = _catalog()


def ev(**kw: Any) -> SimpleNamespace:
    return SimpleNamespace(**kw)


def m(cond: str, evt: SimpleNamespace) -> bool:
    return compile_condition(parse_condition(cond), CAT)(evt)


def test_missing_field_makes_every_comparison_false() -> None:
    e = ev()
    assert not m("t.name = x", e)
    assert not m("t.name != x", e)
    assert m("not t.name = x", e)
    assert not m("t.name exists", e)
    assert not m("t.num < 3", e)
    assert not m("t.name in (a, b)", e)
    assert not m("t.name contains a", e)


def test_string_operators() -> None:
    e = ev(name="SomeName", path="/usr/bin/bash")
    assert m("t.name = SomeName", e) and m("t.name == SomeName", e)
    assert m("t.name != other", e)
    assert m("t.name contains eNa", e) and not m("t.name contains ena", e)
    assert m("t.name icontains ENA", e)
    assert m("t.path startswith /usr/", e) and m("t.path endswith /bash", e)
    assert m("t.path glob /usr/*", e) and m("t.path glob '/usr/bin/ba?h'", e)
    assert m("t.path glob '/usr/bin/[ab]ash'", e) and not m("t.path glob '/usr/bin/[!b]ash'", e)
    assert m("t.path iglob /USR/*", e) and not m("t.path glob /USR/*", e)
    assert m("t.path regex '/usr/bin/b.*'", e) and not m("t.path regex 'bin'", e)
    # ordering operators take numbers only (libsinsp's grammar)
    from rae.rules.parser import ConditionSyntaxError

    with pytest.raises(ConditionSyntaxError):
        parse_condition("t.name < T")


def test_pmatch_components() -> None:
    assert m("t.path pmatch (/srv/hello)", ev(path="/srv/hello"))
    assert m("t.path pmatch (/srv/hello)", ev(path="/srv/hello/x"))
    assert not m("t.path pmatch (/srv/hello)", ev(path="/srv/hello_world"))
    assert m("t.path pmatch (/tmp, /srv/)", ev(path="/srv/a"))
    assert m("t.path pmatch (/srv/*/logs)", ev(path="/srv/app/logs/x"))


def test_numbers() -> None:
    e = ev(num=-5)
    assert m("t.num < 0", e) and m("t.num >= -5", e) and m("t.num = -5", e) and m("t.num != 3", e)
    assert m("t.num in (1, -5)", e)
    assert m("t.num > -10", e) and m("t.num < 0x10", e)
    with pytest.raises(CompileError, match="not a valid number"):
        compile_condition(parse_condition("t.num = abc"), CAT)


def test_bool() -> None:
    assert m("t.flag = true", ev(flag=True)) and m("t.flag = false", ev(flag=False))
    assert not m("t.flag = true", ev(flag=False))
    with pytest.raises(CompileError):
        compile_condition(parse_condition("t.flag = maybe"), CAT)


def test_ip_and_networks() -> None:
    e = ev(ip=ipaddress.ip_address("10.1.2.3"), net=ipaddress.ip_address("127.0.0.1"))
    assert m("t.ip = 10.1.2.3", e) and not m("t.ip = 10.1.2.4", e)
    assert m('t.ip in ("10.0.0.0/8", 1.1.1.1)', e)
    assert m('t.net = "127.0.0.0/8"', e) and not m('t.net != "127.0.0.0/8"', e)
    assert m('not t.net in ("192.168.0.0/16", "172.16.0.0/12")', e)


def test_bytes() -> None:
    e = ev(buf=b"\xca\xfe\xba\xbe rest")
    assert m("t.buf bcontains CAFEBABE", e) and m("t.buf bstartswith CAFE", e)
    assert not m("t.buf bstartswith BABE", e)
    with pytest.raises(CompileError, match="hex"):
        compile_condition(parse_condition("t.buf bcontains XYZ"), CAT)


def test_multivalued_in_intersects_and_any() -> None:
    e = ev(list=("a", "b"))
    assert m("t.list in (a, b, c)", e) and not m("t.list in (a)", e)
    assert m("t.list intersects (b, z)", e) and not m("t.list intersects (z)", e)
    assert m("t.list = b", e) and m("t.list contains a", e)
    assert m("t.list[1] = b", e) and not m("t.list[0] = b", e)
    assert not m("t.list[5] exists", e)


def test_ancestors_any_semantics() -> None:
    e = ev(anc=("bash", "sshd", "systemd"))
    assert m("proc.aname = sshd", e) and m("proc.aname[1] = sshd", e) and not m("proc.aname[2] = sshd", e)
    assert m("proc.aname in (sshd, nothing)", e)  # any ancestor in the set
    assert m("proc.aname != bash", e)  # some ancestor is not bash


def test_transformers_and_field_comparison() -> None:
    e = ev(name="Bash", path="/bin/bash", list=("x", "y", "z"))
    assert m("tolower(t.name) = bash", e) and m("toupper(t.name) = BASH", e)
    assert m("basename(t.path) = bash", e) and m("len(t.list) = 3", e) and m("len(t.name) > 3", e)
    assert m("tolower(t.name) = val(t.path) or basename(t.path) = tolower(t.name)", e)
    assert not m("t.name = val(t.path)", e)
    assert m('b64(t.env[X]) = "hello"', ev(env={"X": "aGVsbG8="}))


def test_keys_and_dotted_args() -> None:
    e = ev(label={"app": "web"}, env={"HOME": "/root"})
    assert m("t.label.app = web and t.label[app] = web and t.env[HOME] = /root", e)
    assert not m("t.label.other exists", e)


def test_unknown_field_errors() -> None:
    with pytest.raises(CompileError, match=r"nonexistent field t\.nope"):
        compile_condition(parse_condition("t.nope = 1"), CAT)
    with pytest.raises(CompileError, match="requires an argument"):
        compile_condition(parse_condition("t.env = 1"), CAT)


def test_compiled_code_has_no_tree_walk() -> None:
    fn = compile_condition(parse_condition("evt.type in (open, openat) and t.name = cat"), CAT)
    assert fn.__doc__ and "def _match(evt)" in fn.__doc__
    assert fn(ev(evtype="open", name="cat")) and not fn(ev(evtype="close", name="cat"))


def test_indexed_list_field_yielding_several_values() -> None:
    """An indexed list field may give a tuple (k8saudit's rules.verbs[0]): compared as a list."""
    e = ev(list=(("get", "list"), "x"))
    assert m("t.list[0] startswith li", e) and m("t.list[0] in (get, list, watch)", e)
    assert not m("t.list[0] in (get)", e) and m("t.list[1] = x", e)
