"""Field specifications, the per-source catalog, and the contract between rules and event sources.

The rules compiler only knows *names and types* of fields (from the catalogs in
`rae.fields.syscall_catalog` and `rae.fields.k8s_audit_catalog`); the event sources bind the
extractors that pull values out of their events. Keeping the two apart lets `rae validate`
check every field Falco knows without any event source loaded.

Extraction contract (what a bound extractor returns for one event):

* ``None`` when the field cannot be extracted for this event (Falco's "no value"): every
  comparison on it is false, ``exists`` is false, outputs render ``<NA>``;
* for single-valued fields, one value of the Python type of its `Kind`:
  STRING → ``str``, NUMBER → ``int``, DOUBLE → ``float``, BOOL → ``bool``,
  BYTES → ``bytes``, IPADDR → ``ipaddress.IPv4Address | IPv6Address``,
  IPNET → also the *address* (``ipaddress.IPv4Address | IPv6Address``): an IPNET field such as
  ``fd.net`` is compared by testing that address for membership in the right-hand networks;
* for multi-valued (``is_list``) fields, a non-empty ``tuple`` of such values (an empty list
  of values is ``None``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "EVT_TIME_SPECS",
    "ArgMode",
    "Binding",
    "ExtractorFactory",
    "FieldCatalog",
    "FieldSpec",
    "Kind",
    "ResolvedField",
    "UnknownFieldError",
    "kind_of",
]

#: An extractor: event → value (see the module docstring for the value contract).
Extractor = Callable[[Any], Any]
#: Builds the extractor for one use of a field, given its argument (``None`` without one).
ExtractorFactory = Callable[["FieldSpec", "str | None"], Extractor]


class Kind(enum.Enum):
    """How values of a field compare: the classes of libsinsp types the operators care about."""

    STRING = "string"
    NUMBER = "number"
    DOUBLE = "double"
    BOOL = "bool"
    BYTES = "bytes"
    IPADDR = "ipaddr"
    IPNET = "ipnet"


_KINDS: dict[str, Kind] = {
    "CHARBUF": Kind.STRING,
    "FSPATH": Kind.STRING,
    "FSRELPATH": Kind.STRING,
    "STRING": Kind.STRING,
    "DYNAMIC": Kind.STRING,
    "BYTEBUF": Kind.BYTES,
    "INT8": Kind.NUMBER,
    "INT16": Kind.NUMBER,
    "INT32": Kind.NUMBER,
    "INT64": Kind.NUMBER,
    "UINT8": Kind.NUMBER,
    "UINT16": Kind.NUMBER,
    "UINT32": Kind.NUMBER,
    "UINT64": Kind.NUMBER,
    "RELTIME": Kind.NUMBER,
    "ABSTIME": Kind.NUMBER,
    "PORT": Kind.NUMBER,
    "PID": Kind.NUMBER,
    "FD": Kind.NUMBER,
    "ERRNO": Kind.NUMBER,
    "SYSCALLID": Kind.NUMBER,
    "SIGSET": Kind.NUMBER,
    "UID": Kind.NUMBER,
    "GID": Kind.NUMBER,
    "MODE": Kind.NUMBER,
    "SIGTYPE": Kind.NUMBER,
    "L4PROTO": Kind.NUMBER,
    "SOCKFAMILY": Kind.NUMBER,
    "FLAGS8": Kind.NUMBER,
    "FLAGS16": Kind.NUMBER,
    "FLAGS32": Kind.NUMBER,
    "ENUMFLAGS8": Kind.NUMBER,
    "ENUMFLAGS16": Kind.NUMBER,
    "ENUMFLAGS32": Kind.NUMBER,
    "DOUBLE": Kind.DOUBLE,
    "BOOL": Kind.BOOL,
    "IPADDR": Kind.IPADDR,
    "IPV4ADDR": Kind.IPADDR,
    "IPV6ADDR": Kind.IPADDR,
    "IPNET": Kind.IPNET,
    "IPV4NET": Kind.IPNET,
    "IPV6NET": Kind.IPNET,
}


def kind_of(type_name: str) -> Kind:
    """The comparison kind of a Falco/plugin type name (``CHARBUF``, ``uint64``, …)."""
    return _KINDS.get(type_name.upper(), Kind.STRING)


class ArgMode(enum.Enum):
    """Whether and how a field takes an argument (``field[arg]`` or ``field.arg``)."""

    NONE = "none"
    INDEX_OPTIONAL = "index, optional"  # proc.aname[2]; without it: any/all values
    INDEX_REQUIRED = "index, required"
    KEY_OPTIONAL = "key, optional"  # proc.env[HOME], evt.abspath.src (dotted)
    KEY_REQUIRED = "key, required"  # jevt.value[/a/b], ka.uri.param[x], k8s.pod.label.app
    INDEX_OR_KEY = "index or key"  # proc.aenv[2] or proc.aenv[HOME]
    INDEX_OR_KEY_REQUIRED = "index or key, required"  # container.mount.dest[0|/proc*], evt.arg


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field as Falco lists it: name, type, argument form, description.

    ``dotted_arg`` means the argument may also follow the name after a dot
    (``evt.arg.flags``, ``k8s.pod.label.app``, ``container.label.io.kubernetes.pod.name``).
    ``is_list`` means the field yields several values (``in``/``intersects`` semantics).
    ``bracket_arg`` (default true) means the argument may be written in brackets; false for the
    fields libsinsp only parses in dotted form (``evt.rawarg.res``, ``evt.type.is.open``,
    ``thread.cgroup.cpu``). ``bracket_index_only`` means the bracketed form takes an index and
    the dotted form a key (``evt.arg[0]`` vs ``evt.arg.flags``). ``param_arg`` means the key
    names an event parameter: `FieldCatalog.resolve` checks it against the catalog's
    ``event_params`` and gives a ``DYNAMIC`` field the parameter's type (``evt.rawarg.res``).
    """

    name: str
    type: str
    desc: str = ""
    arg: ArgMode = ArgMode.NONE
    is_list: bool = False
    dotted_arg: bool = False
    deprecated: bool = False
    category: str = ""
    bracket_arg: bool = True
    bracket_index_only: bool = False
    param_arg: bool = False

    @property
    def kind(self) -> Kind:
        return kind_of(self.type)

    @property
    def takes_arg(self) -> bool:
        return self.arg is not ArgMode.NONE

    @property
    def arg_required(self) -> bool:
        return self.arg in (ArgMode.INDEX_REQUIRED, ArgMode.KEY_REQUIRED, ArgMode.INDEX_OR_KEY_REQUIRED)

    @property
    def index_arg(self) -> bool:
        return self.arg in (ArgMode.INDEX_OPTIONAL, ArgMode.INDEX_REQUIRED)


@dataclass(frozen=True, slots=True)
class Binding:
    """How a source extracts one field: a factory per use, and an optional renderer.

    ``render`` turns an extracted value into the text that outputs show; the default renders
    per kind (numbers in decimal, booleans ``true``/``false``, lists as ``(a,b)``).
    """

    factory: ExtractorFactory
    render: Callable[[Any], str] | None = None


class UnknownFieldError(ValueError):
    """A field name or argument that the catalog does not accept; the message says why."""


@dataclass(frozen=True, slots=True)
class ResolvedField:
    """A field reference as written in a rule, checked against the catalog."""

    spec: FieldSpec
    arg: str | None
    text: str  # as written: "proc.aname[2]", "evt.arg.flags"

    @property
    def is_list(self) -> bool:
        """Multi-valued for comparison: list fields used without an index argument."""
        if not self.spec.is_list:
            return False
        return self.arg is None or self.spec.arg in (ArgMode.KEY_OPTIONAL, ArgMode.KEY_REQUIRED)


#: the ``evt.*`` number and time fields that every source's catalog lists alike (category unset)
EVT_TIME_SPECS: tuple[FieldSpec, ...] = tuple(
    FieldSpec(name=n, type=t, desc=d)
    for n, t, d in (
        ("evt.num", "UINT64", "sequence number of the event"),
        ("evt.time", "CHARBUF", "event time as a string with nanoseconds (HH:MM:SS.nnnnnnnnn)"),
        ("evt.time.s", "CHARBUF", "event time as a string, seconds only (HH:MM:SS)"),
        ("evt.time.iso8601", "CHARBUF", "event time in ISO 8601 form, nanoseconds, UTC"),
        ("evt.datetime", "CHARBUF", "event date and time with nanoseconds"),
        ("evt.datetime.s", "CHARBUF", "event date and time, seconds only"),
        ("evt.rawtime", "ABSTIME", "event time in nanoseconds since the epoch"),
        ("evt.rawtime.s", "ABSTIME", "seconds part of evt.rawtime"),
        ("evt.rawtime.ns", "ABSTIME", "nanoseconds part of evt.rawtime"),
    )
)


def _noval(_evt: Any) -> None:
    return None


def _no_extractor(_spec: FieldSpec, _arg: str | None) -> Extractor:
    return _noval


@dataclass
class FieldCatalog:
    """The fields of one event source, looked up the way libsinsp does (longest name first)."""

    source: str
    specs: dict[str, FieldSpec] = field(default_factory=dict)
    bindings: dict[str, Binding] = field(default_factory=dict)
    #: event type names this source knows (for ``evt.type`` validation); empty = not checked
    event_types: frozenset[str] = frozenset()
    #: event parameter name → type of its first definition (evt.arg.NAME); empty = not checked
    event_params: dict[str, str] = field(default_factory=dict)

    def add(self, specs: Iterable[FieldSpec]) -> None:
        for spec in specs:
            self.specs[spec.name] = spec

    def bind(self, name: str, factory: ExtractorFactory, render: Callable[[Any], str] | None = None) -> None:
        """Attach a source's extractor to a catalog field (the field must exist)."""
        if name not in self.specs:
            raise KeyError(f"cannot bind unknown {self.source} field {name!r}")
        self.bindings[name] = Binding(factory, render)

    def resolve(self, text: str, bracket_arg: str | None = None) -> ResolvedField:
        """Check a field reference: ``text`` is the dotted name, ``bracket_arg`` the ``[...]`` part.

        Raises `UnknownFieldError` with Falco-like wording.
        """
        spec = self.specs.get(text)
        arg = bracket_arg
        shown = text if bracket_arg is None else f"{text}[{bracket_arg}]"
        if spec is None:
            # dotted arguments: the longest known prefix that accepts one
            parts = text.split(".")
            for cut in range(len(parts) - 1, 1, -1):
                prefix = ".".join(parts[:cut])
                cand = self.specs.get(prefix)
                if cand is not None and cand.dotted_arg:
                    if bracket_arg is not None:
                        raise UnknownFieldError(f"filter_check called with nonexistent field {shown}")
                    spec = cand
                    arg = ".".join(parts[cut:])
                    break
            if spec is None:
                raise UnknownFieldError(f"filter_check called with nonexistent field {text}")
        if arg is None and spec.arg_required:
            raise UnknownFieldError(f"filter {spec.name} requires an argument")
        if arg is not None:
            if not spec.takes_arg:
                raise UnknownFieldError(f"filter {spec.name} does not accept an argument")
            if bracket_arg is not None and not spec.bracket_arg:
                raise UnknownFieldError(f"filter {spec.name}: the argument must follow a dot, not brackets")
            by_index = spec.index_arg or (bracket_arg is not None and spec.bracket_index_only)
            if by_index and not _is_index(arg):
                raise UnknownFieldError(f"filter {spec.name}: invalid index argument '{arg}'")
            if not arg:
                raise UnknownFieldError(f"filter {spec.name}: empty argument")
            if spec.param_arg and self.event_params and not by_index:
                ptype = self.event_params.get(arg)
                if ptype is None:
                    raise UnknownFieldError(f"unknown event argument {arg}")
                if spec.type == "DYNAMIC":
                    spec = replace(spec, type=ptype)
        return ResolvedField(spec, arg, shown)

    def extractor(self, ref: ResolvedField) -> Extractor:
        binding = self.bindings.get(ref.spec.name)
        if binding is None:
            return _no_extractor(ref.spec, ref.arg)
        return binding.factory(ref.spec, ref.arg)

    def renderer(self, ref: ResolvedField) -> Callable[[Any], str] | None:
        binding = self.bindings.get(ref.spec.name)
        return None if binding is None else binding.render


def _is_index(arg: str) -> bool:
    return arg.isdigit()
