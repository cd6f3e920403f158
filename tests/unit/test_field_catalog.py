"""The field catalogs: every field the corpus rules use resolves, bad names and arguments do not."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rae import cli
from rae.fields import SOURCES, ArgMode, FieldCatalog, Kind, UnknownFieldError, catalog
from rae.fields.k8s_audit_catalog import SPECS as K8S_SPECS
from rae.fields.syscall_catalog import SPECS as SYSCALL_SPECS

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
UPSTREAM = CORPUS / "upstream-rules"
DECKHOUSE_K8S = CORPUS / "deckhouse" / "k8s_audit_rules.yaml"
DECKHOUSE_FSTEC = CORPUS / "deckhouse" / "fstec.far.yaml"
_CR_SOURCES = {"Syscall": "syscall", "K8sAudit": "k8s_audit"}

# conditions: a dotted name with an optional [argument], not part of a path, image or host name
# (quoted strings are removed first); outputs: the %-tokens
_FIELD_RX = re.compile(r"(?<![\w./\-])([a-z][a-z0-9_]*(?:\.[a-zA-Z0-9_]+)+)(\[[^\]]*\])?(?![\w/\-:@.])")
_OUTPUT_RX = re.compile(r"%([a-z][a-z0-9_]*(?:\.[a-zA-Z0-9_]+)+)(\[[^\]]*\])?")
_QUOTED_RX = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'")
# `%container.info` is not a field: Falco's loader replaces it in syscall outputs before formatting
_OUTPUT_PLACEHOLDERS = {"container.info"}


def _rule_items() -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """(where, item, source) of every rules-file item; source None: a macro of either source."""
    if not UPSTREAM.is_dir():
        pytest.skip(f"rules corpus not found at {UPSTREAM}")
    paths = sorted(UPSTREAM.glob("*.yaml"))
    files = [(p, "k8s_audit" if "k8s_audit" in p.name else "syscall") for p in paths]
    for path, default_source in [*files, (DECKHOUSE_K8S, "k8s_audit")]:
        for item in yaml.safe_load(path.read_text()) or []:
            if isinstance(item, dict):
                name = item.get("rule") or item.get("macro") or item.get("list")
                yield f"{path.name}: {name}", item, item.get("source", default_source)
    # Deckhouse's FalcoAuditRules CR: spec.rules[] = {macro|rule|list: {name, ...}}
    for entry in yaml.safe_load(DECKHOUSE_FSTEC.read_text())["spec"]["rules"]:
        for kind, body in entry.items():
            source = _CR_SOURCES[body.get("source", "Syscall")] if kind == "rule" else None
            yield f"{DECKHOUSE_FSTEC.name}: {body.get('name')}", body, source


def _field_prefixes(cat: FieldCatalog) -> set[str]:
    return {name.split(".", 1)[0] for name in cat.specs}


def _references(text: str, prefixes: set[str], *, output: bool) -> Iterator[tuple[str, str | None]]:
    """(name, bracket argument) of each field reference in a condition or an output."""
    matches = _OUTPUT_RX.finditer(text) if output else _FIELD_RX.finditer(_QUOTED_RX.sub(" ", text))
    for m in matches:
        name, bracket = m.group(1), m.group(2)
        if name.split(".", 1)[0] not in prefixes or name in _OUTPUT_PLACEHOLDERS:
            continue
        yield name, None if bracket is None else bracket[1:-1]


def _used_fields() -> list[tuple[str | None, str, str | None, str]]:
    """(source, name, argument, where) for every field in the corpus rules' texts."""
    found: dict[tuple[str | None, str, str | None], str] = {}
    for where, item, source in _rule_items():
        cats = [catalog(source)] if source else [catalog(s) for s in SOURCES]
        prefixes = set().union(*(_field_prefixes(c) for c in cats))
        texts = [(item.get("condition"), False), (item.get("output"), True)]
        for exc in item.get("exceptions") or []:
            flds = exc.get("fields") if isinstance(exc, dict) else None
            texts.extend((f, False) for f in ([flds] if isinstance(flds, str) else list(flds or [])))
        for text, is_output in texts:
            if isinstance(text, str):
                for name, arg in _references(text, prefixes, output=is_output):
                    found.setdefault((source, name, arg), where)
    return [(s, n, a, w) for (s, n, a), w in sorted(found.items(), key=str)]


def _resolves(source: str | None, name: str, arg: str | None) -> str | None:
    """None when the reference resolves (in its source, or in any source for a shared macro)."""
    errors = []
    for src in [source] if source else SOURCES:
        try:
            catalog(src).resolve(name, arg)
            return None
        except UnknownFieldError as exc:
            errors.append(str(exc))
    return "; ".join(errors)


def test_corpus_fields_resolve() -> None:
    used = _used_fields()
    # the extraction must really see the rules' fields, in both sources and in dotted/bracket forms
    names = {(s, n, a) for s, n, a, _ in used}
    for probe in [
        ("syscall", "proc.aname", "2"),
        ("syscall", "evt.arg.flags", None),
        ("syscall", "container.mount.dest", "/proc*"),
        ("k8s_audit", "jevt.value", "/stage"),
        ("k8s_audit", "ka.req.pod.ephemeralContainers.image", None),
    ]:
        assert probe in names
    assert len(used) > 100
    errors = [f"{where}: {err}" for source, name, arg, where in used if (err := _resolves(source, name, arg))]
    assert errors == []


def test_all_reference_fields_present() -> None:
    # spot checks across classes of falco-fields.md, including the 0.33-era ones
    syscall = catalog("syscall").specs
    for name in [
        "evt.is_open_create", "evt.dir", "evt.latency.human", "evt.wait_latency", "proc.exe_ino.ctime",
        "proc.pidns_init_start_ts", "proc.stderr.name", "user.loginname", "group.name", "fd.types",
        "fs.path.targetraw", "fdlist.sports", "container.cni.json", "k8s.deployment.labels",
        "syslog.message", "marathon.group.id", "span.duration.human", "evtin.span.m.arg",
    ]:  # fmt: skip
        assert name in syscall, name
    k8s = catalog("k8s_audit").specs
    for name in [
        "evt.hostname", "evt.asynctype", "ka.cluster.name", "ka.sourceips", "ka.target.pod.name",
        "ka.req.pod.initContainers.host_port", "ka.req.pod.ephemeralContainers.eff_run_as_group",
        "json.value", "json.rawtime", "jevt.obj", "jevt.time", "jevt.time.iso8601",
    ]:  # fmt: skip
        assert name in k8s, name
    assert "ka.req.pod.ephemeralContainers.host_port" not in k8s
    assert sum(1 for s in K8S_SPECS if s.name.startswith("ka.")) == 71 + 15 + 14


def test_rawarg_takes_the_parameter_type() -> None:
    cat = catalog("syscall")
    assert cat.specs["evt.rawarg"].type == "DYNAMIC"
    res = cat.resolve("evt.rawarg.res")
    assert (res.spec.name, res.spec.type, res.spec.kind) == ("evt.rawarg", "ERRNO", Kind.NUMBER)
    assert cat.resolve("evt.rawarg.flags").spec.kind is Kind.NUMBER
    assert cat.resolve("evt.rawarg.name").spec.kind is Kind.STRING
    assert cat.resolve("evt.arg.res").spec.type == "CHARBUF"  # rendered form stays a string
    assert cat.resolve("evt.arg", "7").arg == "7"  # an index is not a parameter name


def test_syscall_event_types() -> None:
    types = catalog("syscall").event_types
    assert {"open", "openat", "execve", "connect", "madvise", "container", "procexit"} <= types
    assert "list_a" not in types and "ka.verb" not in types
    assert catalog("k8s_audit").event_types == frozenset()


def test_specs_are_well_formed() -> None:
    for source, specs in (("syscall", SYSCALL_SPECS), ("k8s_audit", K8S_SPECS)):
        names = [s.name for s in specs]
        assert len(names) == len(set(names)), f"duplicate names in {source}"
        for spec in specs:
            assert spec.type == spec.type.upper() and spec.type != "STRING", spec
            assert spec.category and spec.desc, spec
            if spec.dotted_arg or not spec.bracket_arg or spec.bracket_index_only:
                assert spec.takes_arg, spec
    assert catalog("syscall").specs["proc.tty"].type == "UINT32"
    assert catalog("syscall").specs["user.loginuid"].type == "INT64"
    assert catalog("k8s_audit").specs["ka.verb"].type == "CHARBUF"


@pytest.mark.parametrize(
    ("text", "arg", "spec", "value", "is_list"),
    [
        ("evt.arg.flags", None, "evt.arg", "flags", False),
        ("evt.arg", "0", "evt.arg", "0", False),
        ("evt.rawarg.res", None, "evt.rawarg", "res", False),
        ("evt.type.is.open", None, "evt.type.is", "open", False),
        ("evt.abspath", None, "evt.abspath", None, False),
        ("evt.abspath.dst", None, "evt.abspath", "dst", False),
        ("evt.around", "1000", "evt.around", "1000", False),
        ("thread.cgroup.cpuacct", None, "thread.cgroup", "cpuacct", False),
        ("thread.cgroups", None, "thread.cgroups", None, False),
        ("evt.args", None, "evt.args", None, False),
        ("k8s.pod.label.app", None, "k8s.pod.label", "app", False),
        ("k8s.pod.label", "app.kubernetes.io/name", "k8s.pod.label", "app.kubernetes.io/name", False),
        ("k8s.ns.label.team", None, "k8s.ns.label", "team", False),
        ("container.label.io.kubernetes.pod.name", None, "container.label", "io.kubernetes.pod.name", False),
        ("container.label", "maintainer", "container.label", "maintainer", False),
        ("container.mount.dest", "/proc*", "container.mount.dest", "/proc*", False),
        ("container.mount.source", "0", "container.mount.source", "0", False),
        ("proc.aname", None, "proc.aname", None, True),
        ("proc.aname", "3", "proc.aname", "3", False),
        ("proc.apid", None, "proc.apid", None, True),
        ("proc.aexepath", "2", "proc.aexepath", "2", False),
        ("proc.acmdline", None, "proc.acmdline", None, True),
        ("proc.aargs", None, "proc.aargs", None, True),
        ("proc.args", None, "proc.args", None, False),
        ("proc.args", "1", "proc.args", "1", False),
        ("proc.env", None, "proc.env", None, False),
        ("proc.env", "HOME", "proc.env", "HOME", False),
        ("proc.aenv", None, "proc.aenv", None, True),
        ("proc.aenv", "HOME", "proc.aenv", "HOME", False),
        ("proc.aenv", "2", "proc.aenv", "2", False),
        ("fd.types", None, "fd.types", None, True),
        ("fd.types", "0", "fd.types", "0", False),
        ("span.arg.foo", None, "span.arg", "foo", False),
    ],
)
def test_syscall_argument_forms(
    text: str, arg: str | None, spec: str, value: str | None, is_list: bool
) -> None:
    ref = catalog("syscall").resolve(text, arg)
    assert (ref.spec.name, ref.arg, ref.is_list) == (spec, value, is_list)


@pytest.mark.parametrize(
    ("text", "arg", "spec", "is_list"),
    [
        ("ka.req.pod.containers.image", None, "ka.req.pod.containers.image", True),
        ("ka.req.pod.containers.image", "0", "ka.req.pod.containers.image", False),
        ("ka.req.pod.initContainers.privileged", "1", "ka.req.pod.initContainers.privileged", False),
        ("ka.user.groups", None, "ka.user.groups", True),
        ("ka.req.role.rules", None, "ka.req.role.rules", True),
        ("ka.uri.param", "command", "ka.uri.param", False),
        ("ka.req.volume.hostpath", "/var/run/docker.sock", "ka.req.volume.hostpath", False),
        ("jevt.value", "/requestObject/spec/volumes", "jevt.value", False),
        ("json.value", "/stage", "json.value", False),
        ("ka.verb", None, "ka.verb", False),
        ("evt.time.iso8601", None, "evt.time.iso8601", False),
    ],
)
def test_k8s_audit_argument_forms(text: str, arg: str | None, spec: str, is_list: bool) -> None:
    ref = catalog("k8s_audit").resolve(text, arg)
    assert (ref.spec.name, ref.arg, ref.is_list) == (spec, arg, is_list)


@pytest.mark.parametrize(
    ("source", "text", "arg"),
    [
        ("syscall", "proc.nobody", None),  # unknown name
        ("syscall", "proc", None),
        ("syscall", "proc.name.foo", None),  # not a dotted-argument field
        ("syscall", "proc.name", "1"),  # takes no argument
        ("syscall", "evt.arg", None),  # argument required
        ("syscall", "evt.arg", "flags"),  # brackets hold an index; names go after a dot
        ("syscall", "evt.rawarg", "0"),  # only the dotted form
        ("syscall", "evt.rawarg", None),
        ("syscall", "evt.arg.nosuch", None),  # not a parameter of any event
        ("syscall", "evt.rawarg.nosuch", None),
        ("syscall", "evt.type.is", None),
        ("syscall", "evt.type.is", "open"),
        ("syscall", "thread.cgroup", None),
        ("syscall", "evt.around", None),
        ("syscall", "evt.around", "x"),
        ("syscall", "proc.aname", "x"),  # index must be a number
        ("syscall", "proc.aname", "-1"),
        ("syscall", "proc.aname", ""),
        ("syscall", "container.mount.dest", None),  # index or key required
        ("syscall", "k8s.pod.label", None),
        ("syscall", "k8s.pod.label.app", "x"),  # both forms at once
        ("syscall", "container.info", None),  # an output placeholder, not a field
        ("syscall", "ka.verb", None),  # other source
        ("k8s_audit", "proc.name", None),
        ("k8s_audit", "ka.nobody", None),
        ("k8s_audit", "ka.req.pod.containers.image", "first"),
        ("k8s_audit", "ka.verb", "0"),
        ("k8s_audit", "ka.uri.param", None),
        ("k8s_audit", "jevt.value", None),
        ("k8s_audit", "jevt.value", ""),
        ("k8s_audit", "ka.user.groups", "0"),
        ("k8s_audit", "ka.req.pod.ephemeralContainers.host_port", None),
    ],
)
def test_bad_references_are_rejected(source: str, text: str, arg: str | None) -> None:
    with pytest.raises(UnknownFieldError):
        catalog(source).resolve(text, arg)


def test_unknown_field_message_is_falco_like() -> None:
    with pytest.raises(UnknownFieldError, match=r"nonexistent field proc\.nobody"):
        catalog("syscall").resolve("proc.nobody")


def test_list_fields_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list-fields", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["source"] for r in records} == {"syscall", "k8s_audit"}
    keys = {"name", "type", "desc", "source", "category", "arg", "is_list", "deprecated"}
    assert all(set(r) == keys for r in records)
    by_key = {(r["source"], r["name"]): r for r in records}
    assert len(by_key) == len(SYSCALL_SPECS) + len(K8S_SPECS)
    aname = by_key[("syscall", "proc.aname")]
    assert (aname["type"], aname["arg"], aname["is_list"]) == ("CHARBUF", ArgMode.INDEX_OPTIONAL.value, True)
    assert by_key[("syscall", "evt.dir")]["deprecated"] is True
    assert by_key[("k8s_audit", "ka.uri.param")]["arg"] == ArgMode.KEY_REQUIRED.value
    assert by_key[("k8s_audit", "ka.req.pod.containers.privileged")]["is_list"] is True


def test_list_fields_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list-fields", "--source", "syscall"]) == 0
    out = capsys.readouterr().out
    assert "Field Class:    process" in out and "Field Class:    container (plugin)" in out
    assert "ka.verb" not in out
    line = next(ln for ln in out.splitlines() if ln.startswith("evt.arg "))
    assert "CHARBUF" in line and "[N] or .KEY, required" in line
    line = next(ln for ln in out.splitlines() if ln.startswith("proc.aname "))
    assert "LIST(CHARBUF)" in line and "[N], optional" in line

    assert cli.main(["list-fields", "--source", "k8s_audit", "-N"]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == len(K8S_SPECS) and "ka.verb" in names and "proc.name" not in names
