"""``rae sidekick``: a falcosidekick 2.30-compatible fan-out service for Falco JSON alerts.

Parts: :mod:`event` (the input schema), :mod:`config` (YAML + environment), :mod:`enrich`
(custom/templated fields, tags, brackets), :mod:`metrics` (Prometheus), :mod:`dispatcher`
(routing, retry buffers, de-duplication), :mod:`outputs` (one module per destination),
:mod:`server` (the HTTP API) and :mod:`service` (wiring). See docs/sidekick.md.
"""

from __future__ import annotations

__all__: list[str] = []
