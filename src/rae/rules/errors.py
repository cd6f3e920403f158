"""Load errors and warnings with Falco's codes, and where they happened.

Every message carries a chain of locations from the outermost (the rules content of a file)
to the innermost (a condition expression), each with the item type and name Falco reports and
a position (file, line, column, offset). `LoadMessage.one_line()` is what `rae validate`
prints; `LoadResult.to_json()` is Falco's ``falco_load_results`` shape.

    RaeError
     └── RulesLoadError           loading stopped on an error; .results holds every message
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rae.errors import RaeError

__all__ = [
    "ERRORS",
    "WARNINGS",
    "LoadMessage",
    "LoadResult",
    "Location",
    "RuleLoadException",
    "RulesLoadError",
]

#: error code → short description (Falco's codedesc)
ERRORS: dict[str, str] = {
    "LOAD_ERR_FILE_READ": "File read error",
    "LOAD_ERR_YAML_PARSE": "YAML parse error",
    "LOAD_ERR_YAML_VALIDATE": "Error validating internal structure of YAML file",
    "LOAD_ERR_COMPILE_CONDITION": "Error compiling condition",
    "LOAD_ERR_COMPILE_OUTPUT": "Error compiling output",
    "LOAD_ERR_VALIDATE": "Error validating rule/macro/list/exception objects",
    "LOAD_ERR_EXTENSION": "Error in extension item",
}

#: warning code → short description
WARNINGS: dict[str, str] = {
    "LOAD_UNKNOWN_SOURCE": "Unknown event source",
    "LOAD_UNSAFE_NA_CHECK": "Unsafe <NA> comparison in condition",
    "LOAD_NO_EVTTYPE": "Condition has no event-type restriction",
    "LOAD_UNKNOWN_FILTER": "Unknown field or event-type in condition or output",
    "LOAD_UNUSED_MACRO": "Unused macro",
    "LOAD_UNUSED_LIST": "Unused list",
    "LOAD_UNKNOWN_ITEM": "Unknown rules file item",
    "LOAD_DEPRECATED_ITEM": "Used deprecated item",
    "LOAD_WARNING_EXTENSION": "Warning in extension item",
    "LOAD_APPEND_NO_VALUES": "Overriding/appending with no values",
    "LOAD_EXCEPTION_NAME_NOT_UNIQUE": "Multiple exceptions defined with the same name",
    "LOAD_INVALID_MACRO_NAME": "Invalid macro name",
    "LOAD_INVALID_LIST_NAME": "Invalid list name",
    "LOAD_COMPILE_CONDITION": "Warning in rule condition",
    "LOAD_UNKNOWN_KEY": "Unknown key in item definition",
}


@dataclass(frozen=True, slots=True)
class Location:
    """One step of a location chain: what item, which name, and where (1-based line/column)."""

    item_type: str
    item_name: str
    file: str
    line: int = 0
    column: int = 0
    offset: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "item_type": self.item_type,
            "item_name": self.item_name,
            "position": {"name": self.file, "line": self.line, "column": self.column, "offset": self.offset},
        }


@dataclass(slots=True)
class LoadMessage:
    code: str
    message: str
    locations: tuple[Location, ...]
    snippet: str = ""

    @property
    def is_error(self) -> bool:
        return self.code in ERRORS

    @property
    def item(self) -> Location:
        """The item the message is about: the outermost location naming a rule/macro/list/…"""
        for loc in self.locations:
            if loc.item_type not in ("rules content",):
                return loc
        return self.locations[-1]

    @property
    def where(self) -> Location:
        """The innermost location: the most precise position."""
        return self.locations[-1]

    def one_line(self) -> str:
        w = self.where
        it = self.item
        kind = "error" if self.is_error else "warning"
        what = f"{it.item_type} '{it.item_name}'" if it.item_name else it.item_type
        pos = f"{w.file}:{w.line}:{w.column}" if w.line else w.file
        return f"{pos}: {kind}: {what}: {self.code}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        desc = ERRORS.get(self.code) or WARNINGS.get(self.code, "")
        return {
            "code": self.code,
            "codedesc": desc,
            "message": self.message,
            "context": {"locations": [loc.to_json() for loc in self.locations], "snippet": self.snippet},
        }


@dataclass(slots=True)
class LoadResult:
    """What loading one rules file produced."""

    name: str
    errors: list[LoadMessage] = field(default_factory=list)
    warnings: list[LoadMessage] = field(default_factory=list)

    @property
    def successful(self) -> bool:
        return not self.errors

    def add(self, msg: LoadMessage) -> None:
        (self.errors if msg.is_error else self.warnings).append(msg)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "successful": self.successful,
            "errors": [e.to_json() for e in self.errors],
            "warnings": [w.to_json() for w in self.warnings],
        }


class RuleLoadException(Exception):
    """Raised inside the loader to stop at the first error of a file (Falco's behaviour)."""

    def __init__(self, code: str, message: str, locations: tuple[Location, ...], snippet: str = "") -> None:
        super().__init__(message)
        self.msg = LoadMessage(code, message, locations, snippet)


class RulesLoadError(RaeError):
    """Loading failed: ``results`` holds every file's errors and warnings."""

    def __init__(self, results: list[LoadResult]) -> None:
        self.results = results
        lines = [e.one_line() for r in results for e in r.errors]
        super().__init__("; ".join(lines) if lines else "rules loading failed")

    @property
    def errors(self) -> list[LoadMessage]:
        return [e for r in self.results for e in r.errors]
