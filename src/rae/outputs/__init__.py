"""Alert delivery from the engine: Falco's outputs behind one bounded queue (docs/outputs.md)."""

from rae.outputs.base import MessageFormat, Sink
from rae.outputs.manager import OutputCounters, OutputManager, build_sinks

__all__ = ["MessageFormat", "OutputCounters", "OutputManager", "Sink", "build_sinks"]
