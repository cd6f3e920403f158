"""Output format strings: tokens, longest field names, <NA>, typed output_fields, sysdig's strict mode."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rae.alerts import Alert
from rae.fields import ArgMode, FieldCatalog, FieldSpec
from rae.priority import Priority
from rae.rules.formatter import FormatError, OutputFormat


def _catalog() -> FieldCatalog:
    cat = FieldCatalog("test")
    cat.add(
        [
            FieldSpec("proc.name", "CHARBUF"),
            FieldSpec("proc.name_x", "CHARBUF"),
            FieldSpec("proc.pid", "INT64"),
            FieldSpec("fd.name", "CHARBUF"),
            FieldSpec("evt.arg", "CHARBUF", arg=ArgMode.KEY_REQUIRED, dotted_arg=True),
            FieldSpec("proc.aname", "CHARBUF", arg=ArgMode.INDEX_OPTIONAL, is_list=True),
        ]
    )

    def attr(name: str) -> Any:
        def factory(spec: FieldSpec, arg: str | None) -> Any:
            if arg is not None and spec.name == "proc.aname":
                return lambda e: (getattr(e, name, None) or (None,) * 9)[int(arg)]
            if arg is not None:
                return lambda e: getattr(e, name, {}).get(arg)
            return lambda e: getattr(e, name, None)

        return factory

    for f, a in (("proc.name", "name"), ("proc.name_x", "namex"), ("proc.pid", "pid"), ("fd.name", "fd"),
                 ("evt.arg", "args"), ("proc.aname", "anc")):
        cat.bind(f, attr(a))
    return cat


CAT = _catalog()


def test_tokens_and_punctuation() -> None:
    f = OutputFormat("*cmd=%proc.name) pid=%proc.pid, file=%fd.name. x=%proc.name_x", CAT)
    text, fields = f.render(SimpleNamespace(name="cat", pid=42, fd=None, namex="y"))
    assert text == "cmd=cat) pid=42, file=<NA>. x=y"
    assert fields == {"proc.name": "cat", "proc.pid": 42, "fd.name": None, "proc.name_x": "y"}


def test_args_dotted_and_bracket_and_width() -> None:
    f = OutputFormat("*%evt.arg.flags %evt.arg[mode] %proc.aname[1] [%5proc.name]", CAT)
    e = SimpleNamespace(args={"flags": "O_RDONLY", "mode": "0644"}, anc=("a", "b"), name="bashing")
    assert f.render_text(e) == "O_RDONLY 0644 b [bashi]"
    assert f.field_keys == ["evt.arg.flags", "evt.arg[mode]", "proc.aname[1]", "proc.name"]


def test_transformer_in_output() -> None:
    f = OutputFormat("*%toupper(proc.name)", CAT)
    text, fields = f.render(SimpleNamespace(name="cat"))
    assert text == "CAT" and fields == {"toupper(proc.name)": "CAT"}


def test_strict_mode_like_sysdig() -> None:
    strict = OutputFormat("%proc.name %fd.name", CAT)
    assert strict.render_strict(SimpleNamespace(name="cat", fd=None)) is None
    assert strict.render_strict(SimpleNamespace(name="cat", fd="/etc")) == "cat /etc"
    lax = OutputFormat("*%proc.name %fd.name", CAT)
    assert lax.render_strict(SimpleNamespace(name="cat", fd=None)) == "cat <NA>"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [("x %not_a_real_field", "invalid formatting token not_a_real_field"), ("trailing %", "cannot end with a %")],
)
def test_errors(fmt: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        OutputFormat(fmt, CAT)


def test_alert_text_and_json_forms() -> None:
    a = Alert(
        time_ns=1470327477881781397,
        rule="r",
        priority=Priority.WARNING,
        source="syscall",
        output="An open was seen (command=cat /dev/null)",
        output_fields={"proc.cmdline": "cat /dev/null"},
        tags=("b", "a"),
        hostname="h",
        iso8601=True,
    )
    assert a.text_line() == "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)"
    j = a.to_json()
    assert j.startswith('{"hostname":"h","output":"2016-08-04T16:17:57.881781397+0000: Warning')
    assert j.endswith(', "output_fields": {"evt.time.iso8601":1470327477881781397,"proc.cmdline":"cat /dev/null"}}')
    assert '"time":"2016-08-04T16:17:57.881781397Z"' in j
    assert '"tags"' not in a.to_json(include_tags=False) and '"output"' not in a.to_json(include_output=False)
    assert Priority.parse("info") is Priority.INFORMATIONAL and Priority.INFORMATIONAL.short == "INFO"
    assert Priority.DEBUG.sidekick_number == 1 and Priority.EMERGENCY.sidekick_number == 8
