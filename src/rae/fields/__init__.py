"""Field catalogs per event source, with the extractors the sources bind to them.

`catalog(source)` returns the `FieldCatalog` for ``syscall`` or ``k8s_audit``: the field
specs come from ``rae.fields.<source>_catalog`` (``SPECS``), the extractors from the source's
binder module (``rae.syscall.fields`` / ``rae.k8s_audit.fields``, a ``bind(catalog)``
function), when that module exists.
"""

from __future__ import annotations

import importlib
from functools import cache

from rae.fields.base import (
    ArgMode,
    Binding,
    FieldCatalog,
    FieldSpec,
    Kind,
    ResolvedField,
    UnknownFieldError,
    kind_of,
)

__all__ = [
    "SOURCES",
    "ArgMode",
    "Binding",
    "FieldCatalog",
    "FieldSpec",
    "Kind",
    "ResolvedField",
    "UnknownFieldError",
    "catalog",
    "kind_of",
]

#: source name → (catalog module, binder module)
_MODULES: dict[str, tuple[str, str]] = {
    "syscall": ("rae.fields.syscall_catalog", "rae.syscall.fields"),
    "k8s_audit": ("rae.fields.k8s_audit_catalog", "rae.k8s_audit.fields"),
}
SOURCES: tuple[str, ...] = tuple(_MODULES)


@cache
def catalog(source: str) -> FieldCatalog:
    """The catalog of one source; raises KeyError for a source rae does not implement."""
    spec_mod, binder_mod = _MODULES[source]
    mod = importlib.import_module(spec_mod)
    cat = FieldCatalog(source)
    cat.add(mod.SPECS)
    cat.event_types = frozenset(getattr(mod, "EVENT_TYPES", ()))
    cat.event_params = dict(getattr(mod, "EVENT_PARAMS", {}))
    try:
        binder = importlib.import_module(binder_mod)
    except ModuleNotFoundError as exc:
        if exc.name != binder_mod:
            raise
    else:
        binder.bind(cat)
    return cat
