"""runtime-audit-engine: Falco-compatible runtime threat detection in Python."""

__version__ = "0.1.0"

#: The Falco rules-engine version whose language rae implements (Falco 0.44).
ENGINE_VERSION = (0, 62, 0)
