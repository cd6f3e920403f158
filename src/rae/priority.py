"""Falco's eight priorities, their aliases and the two numberings peers use."""

from __future__ import annotations

import enum

__all__ = ["Priority"]


class Priority(enum.IntEnum):
    """Most to least severe, with Falco's enum values (syslog severities: Emergency = 0)."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6
    DEBUG = 7

    @classmethod
    def parse(cls, text: object) -> Priority:
        """Case-insensitive name, with Falco's aliases (``info``, ``warn``…); ValueError if unknown."""
        if not isinstance(text, str):
            raise ValueError(f"invalid priority {text!r}")
        key = text.strip().upper()
        key = _ALIASES.get(key, key)
        try:
            return cls[key]
        except KeyError:
            raise ValueError(f"invalid priority '{text}'") from None

    @property
    def title(self) -> str:
        """The form alerts use: ``Warning``, ``Informational``."""
        return self.name.capitalize()

    @property
    def short(self) -> str:
        """The form Falco's end-of-run statistics use: ``WARNING``, ``INFO``."""
        return "INFO" if self is Priority.INFORMATIONAL else self.name

    @property
    def sidekick_number(self) -> int:
        """falcosidekick's numbering: Debug = 1 … Emergency = 8."""
        return 8 - int(self)


_ALIASES = {
    "INFO": "INFORMATIONAL",
    "WARN": "WARNING",
    "ERR": "ERROR",
    "CRIT": "CRITICAL",
    "EMERG": "EMERGENCY",
}
