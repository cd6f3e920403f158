"""The long-lived engine behind ``rae run``: sources → state → rules → outputs, reload, shutdown.

Threads (details and rationale in docs/engine.md):

* ``rae-syscall``: reads the eBPF probe's ring buffer in batches, runs each record through the
  state engine and the rules, and hands alerts to the outputs; once a second it reads the
  probe's counters for the metrics and Falco's ``syscall_event_drops`` logic (:class:`DropMonitor`).
* ``rae-k8s-audit``: drains the audit webhook's bounded queue (the webhook serves from its own
  thread and asyncio loop) through the ``k8s_audit`` rules.
* ``rae-reload``: compiles a new ruleset aside when asked (SIGHUP, or ``rae-watch`` seeing a rules
  or config file change) and swaps it in with one assignment; a failed load leaves the running
  rules in place, logs one error line and counts ``rae_rules_reload_failures_total``.
* the outputs worker and the webserver threads belong to `OutputManager` and `EngineWebserver`.

No source thread ever waits on delivery: `OutputManager.submit` never blocks (a full queue drops
and counts). The main thread only waits for a signal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from rae import __version__
from rae import metrics as rae_metrics
from rae.alerts import Alert
from rae.config import Config, SyscallEventDrops
from rae.errors import RaeError
from rae.logs import setup_logging
from rae.outputs.ratelimit import TokenBucket
from rae.priority import Priority
from rae.rules import Ruleset
from rae.rules.ruleset import CompiledRule
from rae.runsetup import RunArgs, alert_hostname, load_options, load_ruleset, rules_entries
from rae.signals import SignalInbox

__all__ = [
    "BUF_SIZE_PRESETS",
    "DROP_RULE",
    "DropMonitor",
    "Engine",
    "K8sAuditPlan",
    "KernelCounts",
    "RunArgs",
    "SourcePlan",
    "alert_hostname",
    "exit_only_syscalls",
    "load_options",
    "plan_sources",
    "rules_entries",
    "syscall_selection",
]

log = logging.getLogger("rae.engine")

#: Falco's ``engine.modern_ebpf.buf_size_preset`` → ring buffer bytes (preset 4, 8 MiB, is the default)
BUF_SIZE_PRESETS = {1: 1 << 20, 2: 2 << 20, 3: 4 << 20, 4: 8 << 20, 5: 16 << 20, 6: 32 << 20,
                    7: 64 << 20, 8: 128 << 20, 9: 256 << 20, 10: 512 << 20}
#: the internal rule Falco raises when the kernel drops syscall events
DROP_RULE = "Falco internal: syscall event drop"
#: the k8saudit plugin's default ``sslCertificate``
DEFAULT_K8SAUDIT_CERT = "/etc/falco/falco.pem"
#: engine kinds that mean "the live syscall source" (rae has one driver: its CO-RE eBPF probe)
_LIVE_KINDS = ("modern_ebpf", "ebpf", "kmod")
#: records per ring-buffer batch: bounds the memory of one batch (records are copied out of the ring)
_BATCH = 8192
#: seconds between two scans for threads that died unseen (`_purge_dead_threads`)
_PURGE_EVERY = 5.0
_WEBHOOK_PLUGINS = ("k8saudit",)


# --------------------------------------------------------------------------- sources


def syscall_selection(ruleset: Ruleset, cfg: Config) -> set[str]:
    """The syscalls the probe must report: the rules' event types ∪ the ``base_syscalls`` set."""
    from rae.syscall.probe.layout import select_syscalls

    types = ruleset.event_types("syscall")
    bs = cfg.base_syscalls
    return select_syscalls(None if types.negated else types.names, custom_set=bs.custom_set,
                           repair=bs.repair, all_syscalls=bs.all)


def exit_only_syscalls(ruleset: Ruleset, selection: set[str]) -> set[str]:
    """The selected `layout.EXIT_COMPLETE` syscalls whose enter events no enabled rule can match:
    the probe leaves those enter events in the kernel (docs/ebpf.md, *Exit-only events*)."""
    from rae.syscall.probe.layout import EXIT_COMPLETE, event_name_of

    return {sc for sc in selection & EXIT_COMPLETE if not ruleset.candidates("syscall", event_name_of(sc), ">")}


@dataclass(frozen=True)
class K8sAuditPlan:
    """The audit webhook as the k8saudit plugin's config describes it."""

    url: str
    cert_file: str | None
    max_event_size: int
    max_batch_size: int


@dataclass(frozen=True)
class SourcePlan:
    """Which sources ``rae run`` opens, and why the others are not (``notes``, logged as warnings)."""

    syscall: bool
    ring_bytes: int
    k8s_audit: K8sAuditPlan | None
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [n for n, on in (("syscall", self.syscall), ("k8s_audit", self.k8s_audit is not None)) if on]


def _init_config(raw: Any, where: str) -> dict[str, Any]:
    """A plugin's ``init_config``: a mapping, or a JSON/YAML text of one (Falco accepts both)."""
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise RaeError(f"{where}: init_config is not valid JSON: {exc}") from None
        if raw is None:
            return {}
    if not isinstance(raw, dict):
        raise RaeError(f"{where}: init_config must be a mapping")
    return dict(raw)


def _positive_int(conf: dict[str, Any], key: str, default: int, where: str) -> int:
    v = conf.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise RaeError(f"{where}: init_config.{key}: expected a positive integer, got {v!r}")
    return v


def _k8s_plan(cfg: Config) -> tuple[K8sAuditPlan | None, list[str]]:
    from rae.k8s_audit.events import MAX_EVENT_SIZE, WEBHOOK_MAX_BATCH_SIZE

    notes: list[str] = []
    for plugin in cfg.active_plugins:
        if plugin.name.startswith("k8saudit-"):
            notes.append(f"plugin {plugin.name}: cloud audit log sources are not read live by rae run")
        if plugin.name not in _WEBHOOK_PLUGINS:
            continue
        # only with the webhook on: it brings aiohttp (several MB of RSS) into the engine
        from rae.k8s_audit.webhook import parse_listen_url

        where = f"plugins[{plugin.name}]"
        url = plugin.open_params.strip()
        if not url.startswith(("http://", "https://")):
            raise RaeError(f"{where}: open_params {url!r}: rae run serves the audit webhook only"
                           " (an http(s)://host:port/path URL); replay audit files with rae replay")
        tls, _host, _port, _path = parse_listen_url(url)
        conf = _init_config(plugin.init_config, where)
        cert = conf.get("sslCertificate")
        if cert is not None and not isinstance(cert, str):
            raise RaeError(f"{where}: init_config.sslCertificate: expected a path")
        if cert and not os.path.isfile(cert):
            raise RaeError(f"{where}: init_config.sslCertificate: {cert}: no such file")
        if tls and not cert:
            if not os.path.exists(DEFAULT_K8SAUDIT_CERT):
                notes.append(f"k8s_audit source disabled: {url} needs a TLS certificate and none is"
                             f" configured (plugins[k8saudit].init_config.sslCertificate) nor at"
                             f" {DEFAULT_K8SAUDIT_CERT}")
                return None, notes
            cert = DEFAULT_K8SAUDIT_CERT
        plan = K8sAuditPlan(
            url=url,
            cert_file=cert if tls else None,
            max_event_size=_positive_int(conf, "maxEventSize", MAX_EVENT_SIZE, where),
            max_batch_size=_positive_int(conf, "webhookMaxBatchSize", WEBHOOK_MAX_BATCH_SIZE, where),
        )
        return plan, notes
    return None, notes


def plan_sources(cfg: Config) -> SourcePlan:
    """The sources ``cfg`` enables: syscalls unless ``engine.kind: nodriver``; the audit webhook when
    the k8saudit plugin is configured and active (``load_plugins``)."""
    kind = cfg.engine.kind
    notes: list[str] = []
    if kind in ("gvisor", "replay"):
        hint = " (use rae replay for capture files)" if kind == "replay" else ""
        raise RaeError(f"engine.kind: {kind} is not supported by rae run{hint};"
                       " use modern_ebpf, or nodriver for no syscall source")
    if kind in ("ebpf", "kmod"):
        notes.append(f"engine.kind {kind}: rae has one driver, its CO-RE eBPF probe (modern_ebpf); using it")
    preset = cfg.engine.buf_size_preset
    if preset not in BUF_SIZE_PRESETS:
        raise RaeError(f"engine.modern_ebpf.buf_size_preset: expected 1 to 10, got {preset}")
    k8s, k8s_notes = _k8s_plan(cfg)
    notes.extend(k8s_notes)
    plan = SourcePlan(kind in _LIVE_KINDS, BUF_SIZE_PRESETS[preset], k8s, tuple(notes))
    if not plan.names:
        why = notes[-1] if notes else "the k8saudit plugin is not active (load_plugins)"
        raise RaeError(f"no event source enabled: engine.kind is {kind} and {why}")
    return plan


# --------------------------------------------------------------------------- syscall_event_drops


@dataclass(frozen=True, slots=True)
class KernelCounts:
    """The probe's counters in Falco's ``scap_stats`` terms (absolute values)."""

    n_evts: int = 0  # events the kernel tried to write (written + dropped), as scap's n_evts
    n_drops: int = 0
    n_drops_buffer: int = 0
    n_drops_scratch_map: int = 0
    n_drops_pf: int = 0
    n_drops_bug: int = 0
    #: ring-full drops by libscap category, in `rae.metrics.DROP_BUFFER_CATEGORIES` order
    n_drops_buffer_by_category: tuple[int, ...] = (0,) * len(rae_metrics.DROP_BUFFER_CATEGORIES)

    @classmethod
    def from_probe(cls, st: dict[str, int]) -> KernelCounts:
        full, noaux = st.get("drops_full", 0), st.get("drops_noaux", 0)
        cats = tuple(st.get(f"drops_full_{cat}_{d}", 0) for cat, d in rae_metrics.DROP_BUFFER_CATEGORIES)
        return cls(n_evts=st.get("events", 0) + full + noaux, n_drops=full + noaux, n_drops_buffer=full,
                   n_drops_scratch_map=noaux, n_drops_buffer_by_category=cats)

    def minus(self, o: KernelCounts) -> KernelCounts:
        cats = tuple(a - b for a, b in zip(self.n_drops_buffer_by_category, o.n_drops_buffer_by_category,
                                           strict=True))
        return KernelCounts(*(a - b for a, b in zip(self._values(), o._values(), strict=True)), cats)

    def _values(self) -> tuple[int, ...]:
        return (self.n_evts, self.n_drops, self.n_drops_buffer, self.n_drops_scratch_map, self.n_drops_pf,
                self.n_drops_bug)

    def by_category(self) -> dict[tuple[str, str], int]:
        """``(category, dir)`` → ring-full drops, for ``EngineStats.n_drops_buffer``."""
        return dict(zip(rae_metrics.DROP_BUFFER_CATEGORIES, self.n_drops_buffer_by_category, strict=True))


#: the per-category buffer-drop fields of Falco's drop alert: its exit categories, in its order
_ALERT_DROP_CATEGORIES = tuple(cat for cat, d in rae_metrics.DROP_BUFFER_CATEGORIES if d == "exit")


class DropMonitor:
    """Falco's ``syscall_event_drops``: once a second, compare the kernel's drop counters with the
    last check; if the share of dropped events exceeds ``threshold`` and the token bucket (``rate``,
    ``max_burst``) has a token, run the actions (``ignore``, ``log``, ``alert``, ``exit``).
    ``check`` returns False when ``exit`` fired."""

    def __init__(self, settings: SyscallEventDrops, emit: Callable[[Alert], None], hostname: str,
                 start: KernelCounts | None = None) -> None:
        self.settings = settings
        self.actions = settings.actions
        self.threshold = 0.0 if settings.simulate_drops else settings.threshold
        self.emit = emit
        self.hostname = hostname
        self.bucket = TokenBucket(settings.rate, max(settings.max_burst, 1))
        self.last = start
        self.occurrences = 0
        self.actions_taken = 0

    def check(self, now: KernelCounts, now_ns: int | None = None) -> bool:
        if self.last is None:
            self.last = now
            return True
        delta = now.minus(self.last)
        self.last = now
        n_drops = delta.n_drops
        if self.settings.simulate_drops:
            log.info("Simulating syscall event drop")
            n_drops += 1
            delta = dataclasses.replace(delta, n_drops=n_drops)
        if n_drops <= 0:
            return True
        ratio = n_drops / delta.n_evts if delta.n_evts > 0 else float("inf")
        if ratio <= self.threshold:
            return True
        self.occurrences += 1
        if not self.bucket.claim():
            log.debug("Syscall event drop but token bucket depleted, skipping actions")
            return True
        self.actions_taken += 1
        return self._act(delta, time.time_ns() if now_ns is None else now_ns)

    def _act(self, delta: KernelCounts, now_ns: int) -> bool:
        msg = f"{DROP_RULE}. {delta.n_drops} system calls dropped in last second."
        keep_running = True
        for action in self.actions:
            if action == "log":
                log.warning("%s", msg)
            elif action == "alert":
                self.emit(self.alert(delta, now_ns, msg))
            elif action == "exit":
                log.critical("%s", msg)
                log.critical("Exiting.")
                keep_running = False
        return keep_running

    def alert(self, delta: KernelCounts, now_ns: int, msg: str) -> Alert:
        fields: dict[str, Any] = {
            "n_evts": str(delta.n_evts),
            "n_drops": str(delta.n_drops),
            "n_drops_buffer_total": str(delta.n_drops_buffer),
        }
        by_cat = delta.by_category()
        for cat in _ALERT_DROP_CATEGORIES:
            fields[f"n_drops_buffer_{cat}_exit"] = str(by_cat[(cat, "exit")])
        fields.update({
            "n_drops_scratch_map": str(delta.n_drops_scratch_map),
            "n_drops_page_faults": str(delta.n_drops_pf),
            "n_drops_bug": str(delta.n_drops_bug),
            "ebpf_enabled": "1",
        })
        return Alert(time_ns=now_ns, rule=DROP_RULE, priority=Priority.DEBUG, source="internal", output=msg,
                     output_fields=fields, hostname=self.hostname)

    def summary(self) -> str:
        return ("Syscall event drop monitoring:\n"
                f"   - event drop detected: {self.occurrences} occurrences\n"
                f"   - num times actions taken: {self.actions_taken}\n")


# --------------------------------------------------------------------------- the engine


def _fingerprint(roots: list[str], relevant: Callable[[Any, str], bool]) -> frozenset[tuple[str, int, int]]:
    """The watched paths that matter, with their mtime and size: what a reload would read."""
    out: set[tuple[str, int, int]] = set()
    for root in roots:
        try:
            names = os.listdir(root)
        except OSError:
            continue
        for name in names:
            path = os.path.join(root, name)
            if relevant(None, path):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                out.add((path, st.st_mtime_ns, st.st_size))
    return frozenset(out)


def _purge_dead_threads(state: Any, suspects: set[int]) -> set[int]:
    """Remove the threads missing from /proc at this scan and at the previous one; return the tids
    missing at this scan only (the next scan's suspects).

    A vfork child (``posix_spawn``) can exec and exit before its parent's clone exit is read; that
    exit then adds the child back after its procexit removed it. Without this scan (libsinsp's
    inactive-thread purge, for the live engine) such entries pile up, each with a copy of its
    parent's fd table (bench/live: the RSS grew by ~1 MB per 2,000 spawns). Two scans ``_PURGE_EVERY``
    apart: the events of a thread that just died, still in the ring, still find it."""
    gone = {tid for tid in state.threads if tid > 0 and not os.path.exists(f"/proc/{tid}")}
    for tid in gone & suspects:
        state.remove_thread(tid, True)
    return gone - suspects


class _Throttle:
    """At most one log line per ``every`` seconds for a repeated problem (the rest are counted)."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.next_at = 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now >= self.next_at:
            self.next_at = now + self.every
            return True
        return False


@dataclass
class _Counters:
    """Plain integers bumped by the source threads, read by the metrics provider on scrape."""

    records: int = 0  # syscall records read from the ring
    syscall_processed: int = 0
    audit_processed: int = 0
    undecodable: int = 0
    state_errors: int = 0
    alert_errors: int = 0
    alerts: int = 0
    kernel: KernelCounts = field(default_factory=KernelCounts)


class Engine:
    """``rae run``: `start` opens everything (RaeError on any problem, nothing left running), `wait`
    blocks until `request_stop`, `shutdown` stops in order and flushes the outputs."""

    def __init__(self, args: RunArgs, *, registry: CollectorRegistry | None = None) -> None:
        self.args = args
        self.registry = registry if registry is not None else CollectorRegistry()
        self.cfg: Config | None = None
        self.ruleset: Ruleset | None = None  # swapped whole on reload; threads read it per batch
        self.plan: SourcePlan | None = None
        self.hostname = alert_hostname()
        self.counters = _Counters()
        self.metrics = rae_metrics.register(self.registry)
        self.outputs: Any = None  # rae.outputs.manager.OutputManager
        self.drops: DropMonitor | None = None
        self.exit_code = 0
        self.rules_files: list[str] = []
        self._iso8601 = False
        self._probe: Any = None
        self._state: Any = None
        self._containers: Any = None  # rae.containers.metadata.ContainerMetadata (live CRI metadata)
        self._selection: set[str] = set()
        self._skip_enter: set[str] = set()
        #: exit codes the state engine must treat as exit-only once the ring holds no older event
        self._exit_only_next: set[int] | None = None
        self._webhook: Any = None  # rae.k8s_audit.webhook.AuditWebhook
        self._webserver: Any = None
        self._threads: list[threading.Thread] = []
        self._vital: list[threading.Thread] = []  # the threads /healthz checks (not the file watcher)
        self._stop = threading.Event()  # the engine should stop (signal, exit action, fatal error)
        self._signals = SignalInbox()
        self._sources_stop = threading.Event()
        self._reload_wanted = threading.Event()
        self._reload_lock = threading.Lock()
        self._loaded_fingerprint: frozenset[tuple[str, int, int]] = frozenset()
        self._state_log = _Throttle()
        self._alert_log = _Throttle()

    # ------------------------------------------------------------------ start

    def prepare(self) -> None:
        """Load the config and the rules and decide the sources (no probe, no sockets): ``--dry-run``."""
        cfg = self.args.load_config()
        setup_logging(cfg.log_level, iso8601=cfg.time_format_iso_8601, stderr=cfg.log_stderr)
        log.info("rae version: %s (run)", __version__)
        for f in cfg.loaded_files:
            log.info("Loaded configuration file %s", f)
        for entry in rules_entries(self.args, cfg):
            if self.args.rules or os.path.exists(entry):
                log.info("Loading rules from %s", entry)
            else:
                log.info("Skipping rules path %s: not found", entry)
        ruleset, files = load_ruleset(self.args, cfg)
        for w in ruleset.warnings:
            log.warning("%s", w.one_line())
        plan = plan_sources(cfg)
        for note in plan.notes:
            log.warning("%s", note)
        self.cfg, self.ruleset, self.plan, self.rules_files = cfg, ruleset, plan, files
        if cfg.watch_config_files:  # what these rules were loaded from, for the watcher (`_watch`)
            self._loaded_fingerprint = _fingerprint(*self._watch_roots())
        self._iso8601 = cfg.time_format_iso_8601
        self._selection = syscall_selection(ruleset, cfg) if plan.syscall else set()
        self._skip_enter = exit_only_syscalls(ruleset, self._selection)

    def describe(self) -> list[str]:
        """What would run (``--dry-run``), one ``key: value`` line each."""
        assert self.cfg is not None and self.ruleset is not None and self.plan is not None
        rs, plan, cfg = self.ruleset, self.plan, self.cfg
        by_source: dict[str, int] = {}
        for r in rs.enabled_rules:
            by_source[r.source] = by_source.get(r.source, 0) + 1
        lines = [
            f"config: {', '.join(cfg.loaded_files) or '(defaults)'}",
            f"rules files: {len(self.rules_files)} ({', '.join(self.rules_files)})",
            f"rules: {len(rs.enabled_rules)} enabled of {len(rs.rules)} loaded ("
            + ", ".join(f"{s}: {n}" for s, n in sorted(by_source.items())) + ")",
            f"sources: {', '.join(plan.names)}",
        ]
        if plan.syscall:
            lines.append(f"syscall: engine {cfg.engine.kind}, ring buffer {plan.ring_bytes >> 20} MiB,"
                         f" {len(self._selection)} syscalls selected,"
                         f" {len(self._skip_enter)} of them without enter events")
        if plan.k8s_audit is not None:
            k = plan.k8s_audit
            lines.append(f"k8s_audit: webhook {k.url}" + (f" (TLS: {k.cert_file})" if k.cert_file else ""))
        ws = cfg.webserver
        if ws.enabled:
            lines.append(f"webserver: {ws.listen_address}:{ws.listen_port}"
                         f" ({ws.k8s_healthz_endpoint}, /versions"
                         + (", /metrics" if ws.prometheus_metrics_enabled else "") + ")")
        lines.append(f"outputs: {', '.join(self._output_names()) or 'none'}")
        lines.extend(f"note: {n}" for n in plan.notes)
        return lines

    def _output_names(self) -> list[str]:
        assert self.cfg is not None
        c = self.cfg
        pairs = (("file", c.file_output.enabled), ("stdout", c.stdout_output.enabled),
                 ("syslog", c.syslog_output.enabled), ("program", c.program_output.enabled),
                 ("http", c.http_output.enabled))
        return [n for n, on in pairs if on]

    def start(self) -> None:
        """Open the outputs, the webhook, the probe (then the /proc scan), the threads, the webserver
        (last, so a healthy /healthz means everything is running); on failure close what was opened."""
        from prometheus_client import disable_created_metrics

        from rae.outputs.manager import OutputManager

        if self.cfg is None:
            self.prepare()
        assert self.cfg is not None and self.plan is not None and self.ruleset is not None
        cfg, plan = self.cfg, self.plan
        disable_created_metrics()
        try:
            self.outputs = OutputManager(cfg, registry=self.registry)
            self.metrics.set_stats_provider(self._stats)
            self.metrics.set_loaded_files(self.rules_files, cfg.loaded_files)
            log.info("Enabled event sources: %s", ", ".join(plan.names))
            if plan.k8s_audit is not None:  # first: cheap, and its port or certificate may fail
                self._open_webhook(plan.k8s_audit)
            if plan.syscall:
                self._open_probe(plan.ring_bytes)
                self._spawn("rae-syscall", self._syscall_loop)
            if plan.k8s_audit is not None:
                self._spawn("rae-k8s-audit", self._audit_loop)
            self._spawn("rae-reload", self._reload_loop)
            if cfg.watch_config_files:
                self._spawn("rae-watch", self._watch_loop, vital=False)
            if cfg.webserver.enabled:
                from rae.webserver import EngineWebserver

                self._webserver = EngineWebserver(cfg.webserver, self.registry, health=self.healthy)
                self._webserver.start()
        except BaseException:
            self.shutdown()
            raise
        log.info("Starting the engine: %d rules enabled", len(self.ruleset.enabled_rules))

    def _spawn(self, name: str, target: Callable[[], None], vital: bool = True) -> None:
        t = threading.Thread(target=self._guard, args=(name, target), name=name, daemon=True)
        self._threads.append(t)
        if vital:
            self._vital.append(t)
        t.start()

    def _guard(self, name: str, target: Callable[[], None]) -> None:
        try:
            target()
        except Exception as exc:  # a dead source thread must stop the engine loudly, never silently
            log.critical("%s thread failed: %s: %s", name, type(exc).__name__, exc)
            self.exit_code = 1
            self._stop.set()

    def _open_probe(self, ring_bytes: int) -> None:
        from rae.syscall.ebpf import Probe, ProbeError
        from rae.syscall.probe.layout import exit_codes
        from rae.syscall.procscan import lookup_thread, scan_proc
        from rae.syscall.state import State

        sel = self._selection
        rules_types = self.ruleset.event_types("syscall") if self.ruleset is not None else None
        n_rules = "all" if rules_types is None or rules_types.negated else str(len(rules_types.names))
        log.info("The chosen syscall buffer dimension is: %d bytes (%d MB)", ring_bytes, ring_bytes >> 20)
        log.info("%d syscalls selected in total (event types of the rules: %s); %d report exit events only",
                 len(sel), n_rules, len(self._skip_enter))
        probe = Probe(selected=sel, ring_bytes=ring_bytes, skip_enter=self._skip_enter)
        try:
            probe.open()
        except ProbeError as exc:
            raise RaeError(f"{exc} (-o engine.kind=nodriver runs without the syscall source)") from None
        self._probe = probe
        state = State()
        state.set_exit_only(exit_codes(self._skip_enter))
        self._open_containers(state)
        state.load_header(scan_proc())  # after attaching: what happens meanwhile waits in the ring
        state.thread_lookup = lookup_thread  # threads missed (drops, the scan's race) are read from /proc
        self._state = state
        self.counters.kernel = KernelCounts.from_probe(probe.stats())
        assert self.cfg is not None
        self.drops = DropMonitor(self.cfg.syscall_event_drops, self._submit, self.hostname,
                                 start=self.counters.kernel)

    def _open_containers(self, state: Any) -> None:
        """Container metadata from a CRI socket (``container_engines.cri.*``, docs/containers.md)."""
        from rae.containers.metadata import open_metadata

        assert self.cfg is not None
        self._containers = open_metadata(self.cfg.get)
        self._containers.attach(state)
        log.info("Container metadata: %s", self._containers.description)

    def _open_webhook(self, plan: K8sAuditPlan) -> None:
        from rae.k8s_audit import webhook as wh

        for c in (wh.REQUESTS, wh.REJECTED, wh.EVENTS, wh.DROPPED):  # also on the engine's registry
            with contextlib.suppress(ValueError):
                self.registry.register(c)
        config = wh.WebhookConfig(url=plan.url, cert_file=plan.cert_file, max_event_size=plan.max_event_size,
                                  max_batch_size=plan.max_batch_size)
        hook = wh.AuditWebhook(config)
        hook.start_in_thread()
        self._webhook = hook

    # ------------------------------------------------------------------ hot paths

    def _submit(self, alert: Alert) -> None:
        self.outputs.submit(alert)

    def _alert(self, rule: CompiledRule, evt: Any) -> None:
        try:
            alert = rule.make_alert(evt, hostname=self.hostname, iso8601=self._iso8601)
        except Exception as exc:  # a formatting bug must not stop the source
            self.counters.alert_errors += 1
            if self._alert_log.ready():
                log.error("rule %r: cannot render the alert: %s: %s", rule.name, type(exc).__name__, exc)
            return
        self.counters.alerts += 1
        self.metrics.rule_matched(rule.name, rule.priority, rule.source, rule.tags)
        self.outputs.submit(alert)

    def _syscall_loop(self) -> None:
        from rae.syscall.ebpf import record_to_event

        probe, state = self._probe, self._state
        process = state.process
        c = self.counters
        pending: list[Any] = []  # events, None for an undecodable record
        append = pending.append

        def grab(rec: memoryview) -> None:
            # the event copies the record's parameters out of the ring (the state keeps some events)
            append(record_to_event(rec))

        num = 0
        next_check = time.monotonic() + 1.0
        next_purge = next_check + _PURGE_EVERY
        suspects: set[int] = set()
        drain_until = 0.0
        while True:
            stopping = self._sources_stop.is_set()
            if stopping and not drain_until:
                drain_until = time.monotonic() + 1.0
            exit_only_next = self._exit_only_next
            n = probe.read_batch(grab, _BATCH)
            if pending:
                c.records += len(pending)
                match = self.ruleset.matcher("syscall")  # type: ignore[union-attr]
                alert = self._alert
                for evt in pending:
                    num += 1
                    if evt is None:
                        c.undecodable += 1
                        continue
                    evt.num = num
                    try:
                        process(evt)
                    except Exception as exc:
                        c.state_errors += 1
                        if self._state_log.ready():
                            log.error("state engine: event %d (%s): %s: %s (counted, event skipped)",
                                      num, evt.info.name, type(exc).__name__, exc)
                        continue
                    c.syscall_processed += 1
                    for rule in match(evt):
                        alert(rule, evt)
                pending.clear()
            elif not stopping:
                probe.wait(0.05)
            if exit_only_next is not None and n < _BATCH:
                # the ring was empty at that read: no event emitted under the old selection is left
                state.set_exit_only(exit_only_next)
                if self._exit_only_next is exit_only_next:
                    self._exit_only_next = None
            now = time.monotonic()
            if now >= next_check or stopping:
                next_check = now + 1.0
                c.kernel = KernelCounts.from_probe(probe.stats())
                if not stopping and self.drops is not None and not self.drops.check(c.kernel):
                    self.exit_code = 1
                    self._stop.set()
                if now >= next_purge and not stopping:
                    next_purge = now + _PURGE_EVERY
                    suspects = _purge_dead_threads(state, suspects)
            # after a stop request, drain what the ring holds (bounded: other processes keep writing)
            if stopping and (n < _BATCH or time.monotonic() >= drain_until):
                return

    def _audit_loop(self) -> None:
        q = self._webhook.queue
        c = self.counters
        while True:
            batch = q.get_batch(512, timeout=0.5)
            if not batch:
                if q.closed and not len(q):
                    return
                continue
            match = self.ruleset.match  # type: ignore[union-attr]
            alert = self._alert
            for evt in batch:
                c.audit_processed += 1
                for rule in match(evt, "k8s_audit"):
                    alert(rule, evt)

    def _stats(self) -> rae_metrics.EngineStats:
        c = self.counters
        k = c.kernel
        user = {"undecodable": c.undecodable, "state_error": c.state_errors, "alert_error": c.alert_errors}
        return rae_metrics.EngineStats(
            n_evts=c.records,
            num_evts=c.syscall_processed + c.audit_processed,
            n_drops=k.n_drops,
            n_drops_buffer=k.by_category(),
            n_drops_scratch_map=k.n_drops_scratch_map,
            n_drops_page_faults=k.n_drops_pf,
            n_drops_bug=k.n_drops_bug,
            n_drops_user=user,
        )

    def healthy(self) -> bool:
        """The webserver's /healthz: the source and reload threads alive and no stop under way."""
        return not self._stop.is_set() and all(t.is_alive() for t in self._vital)

    # ------------------------------------------------------------------ reload

    def request_reload(self) -> None:
        """Ask the reload thread to reload (SIGHUP, a watched file changed); requests coalesce."""
        self._reload_wanted.set()

    def _reload_loop(self) -> None:
        while not self._stop.is_set():
            if not self._reload_wanted.wait(0.5):
                continue
            self._reload_wanted.clear()
            if not self._stop.is_set():
                self.reload()

    def reload(self) -> bool:
        """Compile the config and rules aside and swap them in; on failure keep the running ones."""
        with self._reload_lock:
            try:
                cfg = self.args.load_config()
                ruleset, files = load_ruleset(self.args, cfg)
            except RaeError as exc:
                self._reload_failed(str(exc))
                return False
            except Exception as exc:  # a loader bug must not take the engine down
                self._reload_failed(f"internal error: {type(exc).__name__}: {exc}")
                return False
            try:
                self._apply(cfg, ruleset, files)
            except Exception as exc:
                self._reload_failed(f"while applying the new settings: {type(exc).__name__}: {exc}")
                return False
            return True

    def _reload_failed(self, why: str) -> None:
        self.metrics.reload_failures.inc()
        log.error("reload failed, the running rules stay in force: %s", _one_line(why))

    def _apply(self, cfg: Config, ruleset: Ruleset, files: list[str]) -> None:
        """Swap in a loaded config and ruleset: selection, outputs, drop settings, metrics."""
        old_cfg = self.cfg
        assert old_cfg is not None
        self._warn_restart_needed(old_cfg, cfg)
        selection = syscall_selection(ruleset, cfg) if self._probe is not None else set()
        skip = exit_only_syscalls(ruleset, selection)
        changed = bool(selection) and (selection, skip) != (self._selection, self._skip_enter)
        if changed:
            from rae.syscall.probe.layout import exit_codes

            # widen before the swap, narrow after it: the new rules never miss their syscalls nor
            # the enter events they match; the state engine takes an exit as exit-only as soon as
            # either ruleset skips its enter (harmless for these syscalls when the enter does come)
            self._state.set_exit_only(exit_codes(self._skip_enter | skip))
            self._probe.set_selection(selection | self._selection, skip & self._skip_enter)
        if (cfg.log_level, cfg.time_format_iso_8601, cfg.log_stderr) != (
                old_cfg.log_level, old_cfg.time_format_iso_8601, old_cfg.log_stderr):
            setup_logging(cfg.log_level, iso8601=cfg.time_format_iso_8601, stderr=cfg.log_stderr)
        self.ruleset = ruleset  # the swap: one assignment, read by the source threads per batch
        self.cfg = cfg
        self._iso8601 = cfg.time_format_iso_8601
        self.rules_files = files
        if changed:
            self._probe.set_selection(selection, skip)
            log.info("syscall selection updated: %d syscalls, %d of them without enter events", len(selection),
                     len(skip))
            self._selection, self._skip_enter = selection, skip
            self._exit_only_next = exit_codes(skip)  # once the ring holds no older event
        if self.drops is not None and cfg.syscall_event_drops != old_cfg.syscall_event_drops:
            self.drops = DropMonitor(cfg.syscall_event_drops, self._submit, self.hostname,
                                     start=self.counters.kernel)
        if _outputs_settings(cfg) != _outputs_settings(old_cfg):
            self._replace_outputs(cfg)
        self.metrics.set_loaded_files(files, cfg.loaded_files)
        for w in ruleset.warnings:
            log.warning("%s", w.one_line())
        log.info("Rules reloaded: %d rules enabled of %d loaded from %d files",
                 len(ruleset.enabled_rules), len(ruleset.rules), len(files))

    def _replace_outputs(self, cfg: Config) -> None:
        from rae.outputs.manager import OutputManager

        try:
            new = OutputManager(cfg, registry=self.registry)
        except RaeError as exc:
            log.error("outputs not changed: %s", exc)
            return
        old, self.outputs = self.outputs, new
        log.info("outputs reconfigured: %s", ", ".join(s.name for s in new.sinks) or "none")
        time.sleep(0.2)  # a source thread may still hold the old manager for one alert
        old.close(timeout=max(cfg.output_timeout_ms / 1000, 1.0))

    def _warn_restart_needed(self, old: Config, new: Config) -> None:
        changed = [name for name, a, b in (
            ("webserver", old.webserver, new.webserver),
            ("engine", old.engine, new.engine),
            ("plugins", old.active_plugins, new.active_plugins),
        ) if a != b]
        if changed:
            log.warning("config changes to %s take effect after a restart", ", ".join(changed))

    def _watch_roots(self) -> tuple[list[str], Callable[[Any, str], bool]]:
        """Directories to watch (non-recursively) and the filter for the paths that matter."""
        assert self.cfg is not None
        files: set[str] = set()
        dirs: set[str] = set()
        missing: set[str] = set()
        entries = [os.path.abspath(e) for e in rules_entries(self.args, self.cfg)]
        entries += [os.path.abspath(f) for f in self.cfg.loaded_files]
        for item in self.cfg.raw.get("config_files") or ():
            path = item.get("path") if isinstance(item, dict) else item
            if isinstance(path, str) and path:
                entries.append(os.path.abspath(path))
        for e in entries:
            if os.path.isdir(e):
                dirs.add(e)
            elif os.path.exists(e):
                files.add(e)
            else:
                missing.add(e)
        roots: set[str] = set(dirs) | {os.path.dirname(f) for f in files}
        for m in missing:
            p = Path(m).parent
            while not p.exists() and p != p.parent:
                p = p.parent
            roots.add(str(p))

        def relevant(_change: Any, path: str) -> bool:
            if path in files or path in dirs or path in missing:
                return True
            parent = os.path.dirname(path)
            if parent in dirs and path.endswith((".yaml", ".yml")):
                return True
            return any(m.startswith(path + os.sep) for m in missing)

        return sorted(roots), relevant

    def _watch_loop(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # e.g. the inotify watch limit: reloads still work on SIGHUP
            log.error("watching rules and config files stopped: %s: %s (SIGHUP still reloads)",
                      type(exc).__name__, exc)

    def _watch(self) -> None:
        import watchfiles

        roots, relevant = self._watch_roots()
        seen = self._loaded_fingerprint  # what the rules loaded at start saw
        while not self._stop.is_set():
            if not roots:
                return
            armed = False
            for changes in watchfiles.watch(*roots, watch_filter=relevant, debounce=400, step=50,
                                            stop_event=self._stop, recursive=False, raise_interrupt=False,
                                            rust_timeout=1000, yield_on_timeout=True,
                                            ignore_permission_denied=True):
                if not changes:
                    if not armed:
                        # the first timeout: the watch is armed. What changed between the last reload
                        # request and now (a file written into a directory that just appeared, before
                        # it was watched) has not been seen: reload for it
                        armed = True
                        if _fingerprint(roots, relevant) != seen:
                            log.info("change detected while the watch was re-armed: reloading")
                            self.request_reload()
                    continue
                log.info("change detected in %s: reloading", ", ".join(sorted({p for _c, p in changes})))
                new_roots, new_relevant = self._watch_roots()
                seen = _fingerprint(new_roots, new_relevant)  # before the request: the reload sees it all
                self.request_reload()
                if new_roots != roots:
                    roots, relevant = new_roots, new_relevant
                    break  # an entry appeared or vanished: watch the new set of directories
            else:
                return  # the stop event ended the watch

    # ------------------------------------------------------------------ stop

    def request_stop(self) -> None:
        self._stop.set()

    def wait(self) -> None:
        """Block until a stop is requested, acting on the signals `install_signals` took meanwhile
        (here, not in their handler: see `rae.signals`)."""
        while True:
            for sig in self._signals.take():
                self._on_signal(sig)
            if self._stop.wait(0.2):
                return

    def _on_signal(self, sig: int) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.request_stop()
        elif sig == signal.SIGHUP:
            log.info("SIGHUP received: reloading")
            self.request_reload()
        elif sig == signal.SIGUSR1 and self.outputs is not None:
            self.outputs.reopen()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop in order: reload/watch, webhook (its queue drains), syscall thread (last ring drain),
        probe detach, outputs flush, webserver."""
        self._stop.set()
        if self._webhook is not None:
            self._webhook.stop_thread()
        self._sources_stop.set()
        for t in self._threads:
            t.join(timeout)
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        if self._containers is not None:
            self._containers.close()
            self._containers = None
        if self.outputs is not None:
            out_timeout = self.cfg.output_timeout_ms / 1000 if self.cfg else 0.0
            lost = self.outputs.close(timeout=max(timeout, out_timeout))
            if lost:
                log.error("%d alert(s) could not be delivered before exit", lost)
        if self._webserver is not None:
            self._webserver.stop()
            self._webserver = None

    def summary(self) -> str:
        """Falco's end-of-run lines on stderr."""
        c = self.counters
        out = f"Events detected: {c.alerts}\n"
        out += f"Events processed: {c.syscall_processed + c.audit_processed}\n"
        if self.drops is not None:
            out += self.drops.summary()
        return out

    def install_signals(self) -> None:
        """SIGTERM/SIGINT stop, SIGHUP reloads, SIGUSR1 re-opens the outputs (call from the main
        thread; `wait` acts on them)."""
        self._signals.install((signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1))


def _outputs_settings(cfg: Config) -> tuple[Any, ...]:
    return (cfg.stdout_output, cfg.file_output, cfg.syslog_output, cfg.program_output, cfg.http_output,
            cfg.json_output, cfg.json_include_output_property, cfg.json_include_tags_property,
            cfg.json_include_message_property, cfg.json_include_output_fields_property,
            cfg.time_format_iso_8601, cfg.buffered_outputs, cfg.outputs_queue_capacity, cfg.outputs,
            cfg.output_timeout_ms)


def _one_line(text: str) -> str:
    return " ".join(text.split("\n"))


def run(args: RunArgs) -> int:
    """Start, wait for SIGTERM/SIGINT (or the drop ``exit`` action), stop cleanly; the exit code."""
    engine = Engine(args)
    engine.prepare()
    engine.install_signals()
    engine.start()
    try:
        engine.wait()
    finally:
        log.info("Stopping the engine")
        engine.shutdown()
        sys.stderr.write(engine.summary())
    return engine.exit_code
