"""Where the built-in rules live: the repository's ``rules/`` folder, or an installed copy."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_rules_paths", "rules_dir"]


def rules_dir() -> Path:
    """``$RAE_RULES_DIR``, else ``rules/`` beside the source tree, else ``/etc/rae/rules``."""
    env = os.environ.get("RAE_RULES_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2] / "rules"
    if here.is_dir():
        return here
    return Path("/etc/rae/rules")


def default_rules_paths() -> list[str]:
    """The built-in rules files, in load order (syscall rules, then Kubernetes audit rules)."""
    d = rules_dir()
    return [str(p) for p in sorted(d.glob("*.yaml"))]
