"""A small field catalog for the rules tests: each field reads one attribute of the event."""

from __future__ import annotations

from rae.fields import FieldCatalog, FieldSpec


def attr_catalog(*fields: tuple[FieldSpec, str]) -> FieldCatalog:
    """A "test" catalog of the given specs, each extracting the event attribute paired with it
    (None when the event has none)."""
    cat = FieldCatalog("test")
    cat.add([spec for spec, _ in fields])
    for spec, attr in fields:
        cat.bind(spec.name, lambda _spec, _arg, attr=attr: (lambda evt: getattr(evt, attr, None)))
    return cat
