"""`FalcoAuditRules` ``.spec`` → the items of a Falco rules file, as Deckhouse's rules-loader does.

Order: ``required_engine_version``, ``required_plugin_versions`` (k8saudit), then each
``spec.rules[]`` entry in order — the first of ``rule``/``macro``/``list`` present wins; an
entry with none is skipped. Rule keys are kept as written except ``name`` → ``rule`` and the
CRD's CamelCase ``source`` (``Syscall``, ``K8sAudit``) → Falco's snake case; priorities are
upper-cased like the 2025 converter (Falco parses them case-insensitively).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["convert_spec", "dump_rules", "snake_case"]


def snake_case(text: str) -> str:
    """``K8sAudit`` → ``k8s_audit``, ``Syscall`` → ``syscall`` (what stringcase.snakecase gives)."""
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", text)
    return s.lower()


def convert_spec(spec: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if spec.get("requiredEngineVersion") is not None:
        items.append({"required_engine_version": spec["requiredEngineVersion"]})
    if spec.get("requiredK8sAuditPluginVersion") is not None:
        items.append(
            {"required_plugin_versions": [{"name": "k8saudit", "version": spec["requiredK8sAuditPluginVersion"]}]}
        )
    for entry in spec.get("rules") or ():
        if not isinstance(entry, dict):
            continue
        if entry.get("rule") is not None:
            r = dict(entry["rule"])
            out: dict[str, Any] = {"rule": r.pop("name", None)}
            out.update(r)
            if out.get("source") is not None:
                out["source"] = snake_case(str(out["source"]))
            if isinstance(out.get("priority"), str):
                out["priority"] = out["priority"].upper()
            items.append(out)
        elif entry.get("macro") is not None:
            m = entry["macro"]
            items.append({"macro": m.get("name"), "condition": m.get("condition")})
        elif entry.get("list") is not None:
            li = entry["list"]
            items.append({"list": li.get("name"), "items": li.get("items")})
    return items


def dump_rules(items: list[dict[str, Any]]) -> str:
    """The rules file text (block style, keys sorted, as the rules-loader writes it)."""
    return yaml.safe_dump(items, sort_keys=True, default_flow_style=False, allow_unicode=True)
