"""`rae run` without the audit webhook must not load aiohttp (13 MB of RSS against the 80 MB goal)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from rae.cli import _build_parser
from rae.config import load_config
from rae.engine import plan_sources
parser, modules = _build_parser("run")
assert set(modules) == {"run"}, modules
args = parser.parse_args(["run", "-o", "load_plugins=[]"])
plan_sources(load_config(None, ["load_plugins=[]"]))
print(sorted(m for m in ("aiohttp", "rae.k8s_audit.webhook", "rae.sidekick") if m in sys.modules))
"""


def test_run_does_not_import_aiohttp() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_other_verbs_still_parse() -> None:
    code = ("from rae.cli import _build_parser; p, m = _build_parser('k8s-audit'); "
            "import sys; print(sorted(m), 'aiohttp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['k8s-audit'] True"


def test_no_cri_socket_means_no_grpc() -> None:
    """Container metadata without a runtime socket must not load grpc/protobuf (~20 MB of RSS)."""
    code = (
        "import sys\n"
        "from rae.containers.metadata import open_metadata\n"
        "get = lambda key, default=None: ['/nonexistent/cri.sock'] if key.endswith('sockets') else default\n"
        "m = open_metadata(get)\n"
        "print(type(m).__name__, 'grpc' in sys.modules, 'google.protobuf' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["DisabledMetadata", "False", "False"]
