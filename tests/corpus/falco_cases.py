"""Reading Falco's regression cases (falco_tests*.yaml) and mapping their paths to the corpus.

Shared by the harnesses of every issue: validation cases here, capture and k8s-audit cases in
their own test modules. A case is a dict as written in the YAML (the ``!mux`` tag is ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REGRESSION = "falco-regression"
#: tests/conftest.py's corpus directory, computed here: ``from conftest import`` finds whichever
#: conftest.py pytest loaded last (tests/k8s_audit's, when that directory is collected first)
CORPUS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus").resolve()
SUITES = ("falco_tests.yaml", "falco_tests_exceptions.yaml")

_BUILD_PATHS = {
    "BUILD_DIR/falcosecurity-rules-falco-prefix/src/falcosecurity-rules-falco/falco_rules.yaml": (
        "upstream-rules/falco_rules-1.0.1.yaml"
    ),
    "BUILD_DIR/k8saudit-rules-prefix/src/k8saudit-rules/k8s_audit_rules.yaml": (
        "upstream-rules/k8s_audit_rules-0.6.0.yaml"
    ),
}


class _Loader(yaml.SafeLoader):
    pass


def _ignore_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _ignore_tag)


def load_cases(corpus: Path, name: str) -> dict[str, dict[str, Any]]:
    """The cases of one suite file (``falco_tests.yaml``…), by case name."""
    with open(corpus / REGRESSION / name, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=_Loader)
    return dict(doc["trace_files"])


def select_cases(keep: Callable[[str, dict[str, Any]], bool]) -> list[tuple[str, str, dict[str, Any]]]:
    """(suite, name, case) of every case of SUITES that ``keep(name, case)`` accepts, for a parametrize
    list; none when the corpus is missing (the ``corpus_dir`` fixture then skips)."""
    if not CORPUS.is_dir():
        return []
    return [(suite, name, case) for suite in SUITES for name, case in load_cases(CORPUS, suite).items()
            if keep(name, case)]


def corpus_path(corpus: Path, path: str) -> Path:
    """A path as written in a case → the file in the corpus (build-tree paths mapped)."""
    if path in _BUILD_PATHS:
        return corpus / _BUILD_PATHS[path]
    if path.startswith("BUILD_DIR/test/"):
        return corpus / REGRESSION / path[len("BUILD_DIR/test/") :]
    return corpus / REGRESSION / path


def as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]
