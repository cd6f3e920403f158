"""What every output (sink) implements, and the one place an alert becomes its message text."""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

from rae.alerts import Alert
from rae.config import Config

__all__ = ["MessageFormat", "Sink"]


@runtime_checkable
class Sink(Protocol):
    """An alert destination. ``emit`` runs on the outputs worker thread, never on the engine's.

    ``message`` is the rendered alert (a JSON object or Falco's text line, without a newline);
    sinks that need the structured alert (syslog's severity) read ``alert``. ``emit`` may raise:
    the manager counts and logs the failure and goes on with the next sink.
    """

    name: str

    def emit(self, alert: Alert, message: str) -> None: ...

    def reopen(self) -> None:
        """Re-open files/connections (SIGUSR1, for log rotation); a no-op for most sinks."""

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class MessageFormat:
    """The ``json_output``/``json_include_*``/``time_format_iso_8601`` settings, applied to an alert."""

    json_output: bool = False
    include_output: bool = True
    include_tags: bool = True
    include_message: bool = False
    include_output_fields: bool = True
    iso8601: bool = False

    @classmethod
    def from_config(cls, cfg: Config) -> MessageFormat:
        return cls(
            json_output=cfg.json_output,
            include_output=cfg.json_include_output_property,
            include_tags=cfg.json_include_tags_property,
            include_message=cfg.json_include_message_property,
            include_output_fields=cfg.json_include_output_fields_property,
            iso8601=cfg.time_format_iso_8601,
        )

    def render(self, alert: Alert) -> str:
        """Falco's JSON object or text line for ``alert`` (byte-exact forms from rae.alerts)."""
        if alert.iso8601 != self.iso8601:
            alert = dataclasses.replace(alert, iso8601=self.iso8601)
        if not self.json_output:
            return alert.text_line()
        return alert.to_json(
            include_output=self.include_output,
            # Falco's internal alerts (drops, metrics snapshots) carry no "tags" key
            include_tags=self.include_tags and alert.source != "internal",
            include_message=self.include_message,
            include_output_fields=self.include_output_fields,
        )
