"""The engine's Prometheus metrics, named and labelled as Falco exports them (``falcosecurity_*``).

Each part of rae registers its metrics on a ``prometheus_client`` registry with a
``register(registry)`` function (this module's :func:`register` for the engine core; outputs,
the probe or the reload logic add theirs the same way), and the webserver serves that registry.

Hot-path counts are not Prometheus counters: incrementing a locked counter per event would cost
more than the event. The engine keeps plain integers and hands a *provider* callable to
:meth:`EngineMetrics.set_stats_provider`; the values are read when Prometheus scrapes. Rule
matches use Falco's label shape ``{priority, rule_name, source, tag_<tag>="true"}``, whose
label set varies per rule, so they are emitted by a custom collector too.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import rae
from rae.priority import Priority

__all__ = ["EngineMetrics", "EngineStats", "OutputMetrics", "register", "register_outputs", "sha256_file"]

#: Falco's kernel-side drop categories: ``falcosecurity_scap_n_drops_buffer_total{drop,dir}``.
DROP_BUFFER_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("clone_fork", "enter"), ("clone_fork", "exit"), ("execve", "enter"), ("execve", "exit"),
    ("connect", "enter"), ("connect", "exit"), ("open", "enter"), ("open", "exit"),
    ("dir_file", "enter"), ("dir_file", "exit"), ("other_interest", "enter"),
    ("other_interest", "exit"), ("close", "exit"), ("proc", "exit"),
)


@dataclass(slots=True)
class EngineStats:
    """A snapshot of the engine's absolute counters, as the stats provider returns it.

    ``n_evts``: events received from the source (kernel ring buffer, capture, webhook);
    ``num_evts``: events the rules engine processed; ``n_drops_buffer`` maps
    ``(category, dir)`` (see :data:`DROP_BUFFER_CATEGORIES`) to kernel buffer drops;
    ``n_drops_user`` maps a cause to events dropped in user space (e.g. ``"queue_full"``).
    """

    n_evts: int = 0
    num_evts: int = 0
    n_drops: int = 0
    n_drops_buffer: Mapping[tuple[str, str], int] = field(default_factory=dict)
    n_drops_scratch_map: int = 0
    n_drops_page_faults: int = 0
    n_drops_bug: int = 0
    n_drops_user: Mapping[str, int] = field(default_factory=dict)


_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")


def _tag_label(tag: str) -> str:
    return "tag_" + _LABEL_BAD.sub("_", tag)


def _sums(paths: Iterable[str]) -> dict[str, str]:
    """sha256 of each readable file (a file removed during a reload is simply left out)."""
    out = {}
    for p in paths:
        try:
            out[p] = sha256_file(p)
        except OSError:
            continue
    return out


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


class _EngineCollector(Collector):
    def __init__(self, owner: EngineMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        o = self.owner
        yield _info("falcosecurity_falco_version_info", "rae version (Falco-compatible name)",
                    [{"version": rae.__version__}])
        yield _info("falcosecurity_falco_sha256_rules_files_info", "sha256 of each loaded rules file",
                    _file_labels(o.rules_files_sha256))
        yield _info("falcosecurity_falco_sha256_config_files_info", "sha256 of each loaded config file",
                    _file_labels(o.config_files_sha256))
        g = GaugeMetricFamily("rae_ruleset_checksum_info",
                              "sha256 over the loaded rules files, in load order", labels=["sha256"])
        if o.ruleset_checksum:
            g.add_metric([o.ruleset_checksum], 1)
        yield g
        yield GaugeMetricFamily("falcosecurity_falco_start_timestamp_nanoseconds", "engine start time",
                                value=o.start_ns)
        yield GaugeMetricFamily("falcosecurity_falco_reload_timestamp_nanoseconds",
                                "time of the last rules/config (re)load", value=o.reload_ns)
        yield CounterMetricFamily("falcosecurity_falco_duration_seconds", "seconds since the engine started",
                                  value=int((time.time_ns() - o.start_ns) // 1_000_000_000))
        yield from self._stats()
        yield self._rule_matches()
        yield from _process_metrics()

    def _stats(self) -> Iterator[Metric]:
        provider = self.owner._provider
        st = provider() if provider is not None else EngineStats()
        yield CounterMetricFamily("falcosecurity_scap_n_evts", "events received from the event source",
                                  value=st.n_evts)
        yield CounterMetricFamily("falcosecurity_falco_num_evts", "events processed by the rules engine",
                                  value=st.num_evts)
        yield CounterMetricFamily("falcosecurity_scap_n_drops", "events dropped by the kernel (all causes)",
                                  value=st.n_drops)
        buf = CounterMetricFamily("falcosecurity_scap_n_drops_buffer", "kernel ring-buffer drops by category",
                                  labels=["dir", "drop"])
        for cat, direction in DROP_BUFFER_CATEGORIES:
            buf.add_metric([direction, cat], st.n_drops_buffer.get((cat, direction), 0))
        yield buf
        yield CounterMetricFamily("falcosecurity_scap_n_drops_scratch_map", "drops: scratch map full",
                                  value=st.n_drops_scratch_map)
        yield CounterMetricFamily("falcosecurity_scap_n_drops_page_faults",
                                  "drops: page faults reading user memory", value=st.n_drops_page_faults)
        yield CounterMetricFamily("falcosecurity_scap_n_drops_bug", "drops: probe bugs", value=st.n_drops_bug)
        user = CounterMetricFamily("rae_user_drops", "events dropped in user space, by cause",
                                   labels=["cause"])
        for cause, n in sorted(st.n_drops_user.items()):
            user.add_metric([cause], n)
        yield user

    def _rule_matches(self) -> Metric:
        m = Metric("falcosecurity_falco_rules_matches", "alerts raised, by rule", "counter")
        with self.owner._lock:
            items = list(self.owner._matches.items())
        for (rule, prio, source, tags), n in items:
            labels = {"priority": str(prio), "rule_name": rule, "source": source}
            for t in tags:
                labels[_tag_label(t)] = "true"
            m.add_sample("falcosecurity_falco_rules_matches_total", labels, n)
        return m


def _file_labels(sums: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"file_name": os.path.basename(p), "sha256": s} for p, s in sums.items()]


def _info(name: str, doc: str, label_sets: Iterable[dict[str, str]]) -> Metric:
    m = Metric(name.removesuffix("_info"), doc, "info")
    for labels in label_sets:
        m.add_sample(name, labels, 1)
    return m


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _process_metrics() -> Iterator[Metric]:
    """Falco's resource metrics: CPU as a ratio of one CPU over the process's life, RSS and VSZ."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/self/statm") as f:
            vsz_pages, rss_pages = (int(x) for x in f.read().split()[:2])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except OSError:
        return
    # fields[] starts at stat field 3 (state): utime = 14, stime = 15, starttime = 22
    cpu_s = (int(fields[11]) + int(fields[12])) / _CLK_TCK
    elapsed = max(uptime - int(fields[19]) / _CLK_TCK, 1e-3)
    yield GaugeMetricFamily("falcosecurity_falco_cpu_usage_ratio", "CPU used, as a ratio of one CPU",
                            value=round(cpu_s / elapsed, 6))
    yield GaugeMetricFamily("falcosecurity_falco_memory_rss_bytes", "resident memory",
                            value=rss_pages * _PAGE)
    yield GaugeMetricFamily("falcosecurity_falco_memory_vsz_bytes", "virtual memory", value=vsz_pages * _PAGE)


class EngineMetrics:
    """The engine core's metrics; the engine updates it, the webserver exports it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._matches: dict[tuple[str, int, str, tuple[str, ...]], int] = {}
        self._provider: Callable[[], EngineStats] | None = None
        self.start_ns = time.time_ns()
        self.reload_ns = self.start_ns
        self.rules_files_sha256: dict[str, str] = {}
        self.config_files_sha256: dict[str, str] = {}
        self.ruleset_checksum = ""
        self.reload_failures = Counter("rae_rules_reload_failures", "rules/config reloads that failed",
                                       registry=None)

    def set_stats_provider(self, provider: Callable[[], EngineStats]) -> None:
        """``provider()`` returns the engine's current absolute counters; called on each scrape."""
        self._provider = provider

    def rule_matched(self, rule: str, priority: Priority, source: str, tags: Iterable[str] = ()) -> None:
        """Count one alert (Falco's numeric priority label: Emergency = 0 … Debug = 7)."""
        key = (rule, int(priority), source, tuple(tags))
        with self._lock:
            self._matches[key] = self._matches.get(key, 0) + 1

    def set_loaded_files(self, rules_files: Iterable[str], config_files: Iterable[str] = ()) -> None:
        """Record the checksums of the files of the ruleset now in force (call after each (re)load)."""
        rules = _sums(rules_files)
        configs = _sums(config_files)
        total = hashlib.sha256()
        for p, s in rules.items():
            total.update(f"{p}\0{s}\n".encode())
        with self._lock:
            self.rules_files_sha256 = rules
            self.config_files_sha256 = configs
            self.ruleset_checksum = total.hexdigest()
            self.reload_ns = time.time_ns()


@dataclass(slots=True)
class OutputMetrics:
    """Alert-delivery metrics (the outputs queue, the rate limiter, each sink)."""

    queue_drops: Counter
    rate_limited: Counter
    delivered: Counter
    errors: Counter
    queue_length: Gauge


# One set per registry: a config reload that rebuilds the outputs (or the engine) must reuse the
# registered metrics rather than register the same names twice.
_ENGINE: weakref.WeakKeyDictionary[CollectorRegistry, EngineMetrics] = weakref.WeakKeyDictionary()
_OUTPUTS: weakref.WeakKeyDictionary[CollectorRegistry, OutputMetrics] = weakref.WeakKeyDictionary()


def register(registry: CollectorRegistry) -> EngineMetrics:
    """The engine core's metrics on ``registry`` (created on the first call, then the same object)."""
    m = _ENGINE.get(registry)
    if m is None:
        m = _ENGINE[registry] = EngineMetrics()
        registry.register(_EngineCollector(m))
        registry.register(m.reload_failures)
    return m


def register_outputs(registry: CollectorRegistry | None) -> OutputMetrics:
    """The alert-delivery metrics on ``registry`` (None: unregistered, e.g. in tests); idempotent."""
    if registry is not None and registry in _OUTPUTS:
        return _OUTPUTS[registry]
    m = _new_output_metrics(registry)
    if registry is not None:
        _OUTPUTS[registry] = m
    return m


def _new_output_metrics(registry: CollectorRegistry | None) -> OutputMetrics:
    return OutputMetrics(
        queue_drops=Counter("falcosecurity_falco_outputs_queue_num_drops",
                            "alerts dropped because the outputs queue was full", registry=registry),
        rate_limited=Counter("rae_outputs_rate_limited", "alerts suppressed by the outputs rate limiter",
                             ["source"], registry=registry),
        delivered=Counter("rae_outputs_delivered", "alerts written by each output", ["output"],
                          registry=registry),
        errors=Counter("rae_outputs_errors", "failed alert deliveries by output", ["output"],
                       registry=registry),
        queue_length=Gauge("rae_outputs_queue_length", "alerts waiting in the outputs queue",
                           registry=registry),
    )
