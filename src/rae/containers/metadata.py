"""Live container metadata for the state engine: a bounded cache and a lookup thread over CRI.

The syscall thread must never wait on a container runtime. As libsinsp's asynchronous container
engines do, the state engine hands every container id it meets for the first time (in a
process's cgroups) to :meth:`ContainerMetadata.request`, which returns at once: events seen
before the answer get what is known (the id and the runtime type of the cgroup layout), later
events get the full record, which the ``rae-containers`` thread puts into the state's container
table by replacing the placeholder entry (one dict assignment: readers see the old or the new
object, never a half-filled one).

Implementations: :class:`CriMetadata` (a CRI socket exists) and :class:`DisabledMetadata` (no
socket, or switched off), chosen by :func:`open_metadata` from the ``container_engines.cri.*``
settings (docs/containers.md). Failures (timeouts, a vanished socket, ids the runtime does not
know, such as containers started by hand with runc) are counted in ``stats`` and logged once;
they never reach the syscall thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TypeVar

from rae.containers.cri import DEFAULT_SOCKETS, ContainerRecord, CriClient, CriError, find_socket
from rae.syscall.state import Container

__all__ = [
    "ContainerMetadata",
    "CriMetadata",
    "DisabledMetadata",
    "TtlLru",
    "container_from_record",
    "open_metadata",
]

log = logging.getLogger("rae.containers")

V = TypeVar("V")

#: cache defaults: enough for a busy node (a few hundred containers) many times over
DEFAULT_CACHE_SIZE = 4096
DEFAULT_TTL_S = 600.0
DEFAULT_TIMEOUT_S = 1.0
#: pending lookups; past it requests are dropped (counted) rather than queued without bound
QUEUE_SIZE = 1024
#: a container the runtime does not know (yet) is asked again after these delays, then given up
RETRY_DELAYS = (0.2, 1.0)


class TtlLru(MutableMapping[str, V]):
    """A mapping with a size cap (least recently used entries go first) and a time to live.

    ``clock`` is injectable for tests; an entry older than ``ttl`` seconds reads as absent.
    """

    def __init__(self, maxsize: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, key: str) -> V:
        with self._lock:
            born, value = self._data[key]
            if self._clock() - born > self.ttl:
                del self._data[key]
                raise KeyError(key)
            self._data.move_to_end(key)
            return value

    def __setitem__(self, key: str, value: V) -> None:
        with self._lock:
            self._data[key] = (self._clock(), value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __delitem__(self, key: str) -> None:
        with self._lock:
            del self._data[key]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._data))

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


def container_from_record(rec: ContainerRecord) -> Container:
    """The state engine's `Container` for a record (what capture container events would give)."""
    c = Container(rec.id, rec.type)
    for attr in ("full_id", "name", "image", "imageid", "imagerepo", "imagetag", "imagedigest", "ip",
                 "privileged", "created_time"):
        setattr(c, attr, getattr(rec, attr))
    c.labels = dict(rec.labels)
    c.mounts = [dict(m) for m in rec.mounts]
    c.pod_labels = dict(rec.pod_labels)
    return c


class ContainerMetadata:
    """The interface the state engine and ``rae run`` use; this base is the disabled one."""

    enabled = False
    #: why it is disabled, or the socket in use
    description = "disabled"

    def __init__(self) -> None:
        self.stats: dict[str, int] = {"requested": 0, "resolved": 0, "failed": 0, "dropped": 0,
                                      "cache_hits": 0}

    def attach(self, state: Any) -> None:
        """Make ``state`` ask for new container ids and receive the records."""
        state.container_lookup = self.request
        self._containers = state.containers

    def request(self, container: Any) -> None:
        """A container id seen for the first time (its placeholder `Container`); never blocks."""

    def close(self) -> None:
        """Stop the lookup thread (pending lookups are abandoned)."""


class DisabledMetadata(ContainerMetadata):
    """No runtime socket (or ``container_engines.cri.enabled: false``): ids only."""

    def __init__(self, why: str = "disabled") -> None:
        super().__init__()
        self.description = why


class CriMetadata(ContainerMetadata):
    """Container metadata from a CRI socket, resolved on the ``rae-containers`` thread."""

    enabled = True

    def __init__(self, client: Any, *, cache_size: int = DEFAULT_CACHE_SIZE, ttl: float = DEFAULT_TTL_S,
                 sync: bool = False, retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        super().__init__()
        self.client = client
        self.description = f"cri ({getattr(client, 'socket_path', '?')})"
        self.sync = sync
        self.retry_delays = retry_delays
        #: full container id → record, or None for "the runtime does not know it" (negative entry)
        self.cache: TtlLru[ContainerRecord | None] = TtlLru(cache_size, ttl)
        #: sandbox id → PodSandboxStatusResponse: one call per pod, not per container
        self.sandboxes: TtlLru[Any] = TtlLru(cache_size, ttl)
        self._containers: dict[str, Any] = {}
        self._queue: queue.Queue[tuple[str, int] | None] = queue.Queue(QUEUE_SIZE)
        self._pending: set[str] = set()
        self._retries: list[tuple[float, str, int]] = []
        self._logged: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- the syscall thread's side
    def request(self, container: Any) -> None:
        full = container.full_id or container.id
        self.stats["requested"] += 1
        try:
            rec = self.cache[full]
        except KeyError:
            pass
        else:
            self.stats["cache_hits"] += 1
            if rec is not None:
                self._apply(rec)
            return
        if self.sync:
            self._resolve(full, 0)
            return
        if full in self._pending:
            return
        self._ensure_thread()
        self._pending.add(full)
        try:
            self._queue.put_nowait((full, 0))
        except queue.Full:
            self._pending.discard(full)
            self.stats["dropped"] += 1
            self._log_once("dropped", "container metadata: lookup queue full, container %s keeps its id only",
                           full[:12])

    # -- the lookup thread's side
    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rae-containers", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = 0.5
            if self._retries:
                self._retries.sort()
                wait = max(0.0, min(wait, self._retries[0][0] - time.monotonic()))
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is not None:
                self._resolve(*item)
                self._pending.discard(item[0])
            now = time.monotonic()
            while self._retries and self._retries[0][0] <= now and not self._stop.is_set():
                _due, full, attempt = self._retries.pop(0)
                self._resolve(full, attempt)

    def _resolve(self, full: str, attempt: int) -> None:
        try:
            rec = self.client.lookup(full, self.sandboxes)
        except CriError as exc:
            if attempt < len(self.retry_delays) and not self.sync:
                self._retries.append((time.monotonic() + self.retry_delays[attempt], full, attempt + 1))
                return
            self.stats["failed"] += 1
            self.cache[full] = None
            self._log_once("failed", "container metadata: no answer for %s from %s (%s); such containers "
                           "keep their id only (counted, logged once)", full[:12], self.description, exc)
            return
        except Exception as exc:  # never let a bad answer kill the lookup thread
            self.stats["failed"] += 1
            self.cache[full] = None
            self._log_once("error", "container metadata: lookup of %s failed: %s: %s", full[:12],
                           type(exc).__name__, exc)
            return
        self.cache[full] = rec
        self.stats["resolved"] += 1
        self._apply(rec)

    def _apply(self, rec: ContainerRecord) -> None:
        self._containers[rec.id] = container_from_record(rec)

    def _log_once(self, kind: str, msg: str, *args: Any) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning(msg, *args)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


def _setting(get: Callable[[str, Any], Any], key: str, default: Any, kind: type) -> Any:
    v = get(key, default)
    if kind is bool:
        if isinstance(v, str):
            return v.strip().lower() in ("true", "1", "yes", "on")
        return bool(v)
    try:
        return kind(v)
    except (TypeError, ValueError):
        log.warning("container_engines: %s=%r is not a %s; using %r", key, v, kind.__name__, default)
        return default


def open_metadata(get: Callable[[str, Any], Any] | None = None) -> ContainerMetadata:
    """The implementation the settings ask for (``get``: `rae.config.Config.get`-like).

    Keys (Falco's ``container_engines.cri`` plus rae's own): ``enabled`` (default true),
    ``sockets`` (default :data:`rae.containers.cri.DEFAULT_SOCKETS`), ``disable_async``
    (default false: lookups on the syscall thread, each bounded by ``timeout_ms``),
    ``timeout_ms`` (1000), ``cache_size`` (4096), ``cache_ttl_s`` (600).
    """
    g: Callable[[str, Any], Any] = get if get is not None else (lambda _k, d: d)
    p = "container_engines.cri."
    if not _setting(g, p + "enabled", True, bool):
        return DisabledMetadata("disabled (container_engines.cri.enabled: false)")
    sockets = g(p + "sockets", None)
    if isinstance(sockets, str):
        sockets = [sockets]
    if not isinstance(sockets, (list, tuple)) or not sockets:
        sockets = DEFAULT_SOCKETS
    path = find_socket(str(s) for s in sockets)
    if path is None:
        return DisabledMetadata(f"disabled (no CRI socket among {', '.join(str(s) for s in sockets)})")
    timeout = _setting(g, p + "timeout_ms", 1000, int) / 1000.0
    client = CriClient(path, timeout=timeout)
    return CriMetadata(client, cache_size=max(1, _setting(g, p + "cache_size", DEFAULT_CACHE_SIZE, int)),
                       ttl=_setting(g, p + "cache_ttl_s", DEFAULT_TTL_S, float),
                       sync=_setting(g, p + "disable_async", False, bool))
