"""CRI answers → metadata records, the TTL/LRU cache, the lookup thread and the state hook (no runtime)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rae.containers import cri_pb2 as pb
from rae.containers.cri import CriClient, CriError, record_from_status, split_image
from rae.containers.metadata import CriMetadata, DisabledMetadata, TtlLru, open_metadata
from rae.syscall.state import Container, State

SRC = Path(__file__).resolve().parents[2] / "src" / "rae" / "containers"
CID = "3f" * 32
SID = "5a" * 32


def _status(privileged: bool = True, image: str = "registry.local/feas/busybox:1",
            image_ref: str = "sha256:" + "ab" * 32) -> Any:
    st = pb.ContainerStatus(id=CID, metadata=pb.ContainerMetadata(name="web"), image=pb.ImageSpec(image=image),
                            image_ref=image_ref, created_at=1_700_000_000_123_456_789,
                            labels={"io.kubernetes.container.name": "web", "io.kubernetes.pod.name": "shop-1",
                                    "io.kubernetes.pod.namespace": "shop"},
                            mounts=[pb.Mount(container_path="/host/proc", host_path="/proc", readonly=True,
                                             propagation=pb.PROPAGATION_HOST_TO_CONTAINER),
                                    pb.Mount(container_path="/data", host_path="/srv/data")])
    info = {"sandboxID": SID, "config": {"linux": {"security_context": {"privileged": privileged}}}}
    return pb.ContainerStatusResponse(status=st, info={"info": json.dumps(info)})


def _sandbox() -> Any:
    sb = pb.PodSandboxStatus(id=SID, metadata=pb.PodSandboxMetadata(name="shop-1", uid="u-1", namespace="shop"),
                             labels={"app": "shop", "tier": "web", "io.kubernetes.pod.name": "shop-1"},
                             network=pb.PodSandboxNetworkStatus(ip="10.1.2.3"))
    return pb.PodSandboxStatusResponse(status=sb)


def test_committed_pb2_describes_the_proto(tmp_path: Path) -> None:
    """cri_pb2.py was generated from proto/cri.proto as it is now (compare the descriptors)."""
    pytest.importorskip("grpc_tools")
    res = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{SRC / 'proto'}", f"--python_out={tmp_path}",
                          str(SRC / "proto" / "cri.proto")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "cri_pb2.py").read_text()
    # the fresh module would clash with the loaded one in the default pool: compare serialized files
    start = text.index("AddSerializedFile(") + len("AddSerializedFile(")
    fresh = eval(text[start:text.index(")\n", start)])  # a bytes literal written by protoc
    assert fresh == pb.DESCRIPTOR.serialized_pb


@pytest.mark.parametrize(("image", "want"), [
    ("registry.local/feas/busybox:1", ("registry.local/feas/busybox", "1", "")),
    ("localhost:5000/app", ("localhost:5000/app", "", "")),
    ("localhost:5000/app:v2@sha256:00", ("localhost:5000/app", "v2", "sha256:00")),
    ("nginx", ("nginx", "", "")),
    ("docker.io/library/nginx@sha256:ff", ("docker.io/library/nginx", "", "sha256:ff")),
])
def test_split_image(image: str, want: tuple[str, str, str]) -> None:
    assert split_image(image) == want


def test_record_from_container_and_sandbox_status() -> None:
    rec = record_from_status(CID[:12], _status(), "containerd", _sandbox())
    assert (rec.id, rec.full_id, rec.type, rec.name) == (CID[:12], CID, "containerd", "web")
    assert (rec.image, rec.imagerepo, rec.imagetag) == ("registry.local/feas/busybox:1",
                                                        "registry.local/feas/busybox", "1")
    assert rec.imageid == "ab" * 32 and rec.imagedigest == "sha256:" + "ab" * 32
    assert rec.privileged is True
    assert rec.created_time == 1_700_000_000_123_456_789
    assert rec.mounts == [
        {"Source": "/proc", "Destination": "/host/proc", "Mode": "", "RW": False,
         "Propagation": "PROPAGATION_HOST_TO_CONTAINER"},
        {"Source": "/srv/data", "Destination": "/data", "Mode": "", "RW": True, "Propagation": "PROPAGATION_PRIVATE"},
    ]
    assert (rec.pod_name, rec.pod_namespace, rec.pod_uid, rec.pod_sandbox_id) == ("shop-1", "shop", "u-1", SID)
    assert rec.pod_labels["app"] == "shop" and rec.ip == "10.1.2.3"
    assert rec.labels["io.kubernetes.sandbox.id"] == SID
    assert rec.labels["io.kubernetes.pod.uid"] == "u-1"  # filled from the sandbox for k8s.pod.uid


def test_record_without_sandbox_and_with_an_image_id_as_name() -> None:
    resp = _status(privileged=False, image="sha256:" + "cd" * 32, image_ref="docker.io/x/y@sha256:" + "ef" * 32)
    resp.status.annotations["io.kubernetes.cri.image-name"] = "docker.io/x/y:3"
    rec = record_from_status(CID, resp)
    assert rec.privileged is False
    assert (rec.image, rec.imagerepo, rec.imagetag, rec.imagedigest) == (
        "docker.io/x/y:3", "docker.io/x/y", "3", "sha256:" + "ef" * 32)
    assert rec.imageid == ""
    assert (rec.pod_name, rec.pod_namespace) == ("shop-1", "shop")  # from the container's labels


def test_crio_privileged_key() -> None:
    resp = _status(privileged=False)
    resp.info["info"] = json.dumps({"privileged": True, "sandboxID": SID})
    assert record_from_status(CID, resp).privileged is True


def test_ttl_lru_bounds() -> None:
    now = [0.0]
    c: TtlLru[int] = TtlLru(3, ttl=10.0, clock=lambda: now[0])
    for i in range(5):
        c[f"k{i}"] = i
    assert len(c) == 3 and "k0" not in c and "k1" not in c
    assert c["k2"] == 2  # touched: now the most recent
    c["k5"] = 5
    assert set(c) == {"k2", "k4", "k5"}
    now[0] = 10.5
    c["k6"] = 6
    assert c.get("k2") is None and c.get("k6") == 6
    with pytest.raises(ValueError):
        TtlLru(0, 1.0)


class FakeClient:
    """Answers lookups like CriClient.lookup, after an optional gate (to see the 'before' state)."""

    socket_path = "/fake.sock"

    def __init__(self, known: dict[str, Any], gate: threading.Event | None = None) -> None:
        self.known = known
        self.gate = gate
        self.calls: list[str] = []

    def lookup(self, cid: str, sandboxes: Any = None) -> Any:
        self.calls.append(cid)
        if self.gate is not None:
            self.gate.wait(5)
        if cid not in self.known:
            raise CriError("ContainerStatus: NOT_FOUND: no such container")
        return record_from_status(cid, self.known[cid], "containerd", _sandbox())

    def close(self) -> None:
        pass


def _wait(pred: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def test_async_lookup_fills_the_state_table_later() -> None:
    gate = threading.Event()
    client = FakeClient({CID: _status()}, gate)
    meta = CriMetadata(client, retry_delays=())
    state = State()
    meta.attach(state)
    try:
        placeholder = Container(CID[:12], "docker")
        placeholder.full_id = CID
        state.containers[CID[:12]] = placeholder
        t0 = time.monotonic()
        state.container_lookup(placeholder)  # type: ignore[misc]
        assert time.monotonic() - t0 < 0.5  # never waits for the runtime (the gate is closed)
        assert state.containers[CID[:12]] is placeholder and placeholder.name == ""
        gate.set()
        assert _wait(lambda: state.containers[CID[:12]].name == "web")
        c = state.containers[CID[:12]]
        assert c.privileged is True and c.mounts[0]["Source"] == "/proc"
        assert c.pod_labels["tier"] == "web" and c.labels["io.kubernetes.pod.namespace"] == "shop"
        assert meta.stats["resolved"] == 1
        # a second request for the same id comes from the cache, at once, on the caller's thread
        state.container_lookup(placeholder)  # type: ignore[misc]
        assert meta.stats["cache_hits"] == 1 and client.calls == [CID]
    finally:
        meta.close()


def test_unknown_container_is_counted_and_negative_cached(caplog: pytest.LogCaptureFixture) -> None:
    client = FakeClient({})
    meta = CriMetadata(client, retry_delays=(0.01,))
    state = State()
    meta.attach(state)
    try:
        for i in range(2):
            c = Container(f"{i:x}" * 12, "docker")
            c.full_id = f"{i:x}" * 64
            state.containers[c.id] = c
            meta.request(c)
        assert _wait(lambda: meta.stats["failed"] == 2)
        assert client.calls.count("0" * 64) == 2  # one retry, then given up
        assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1  # logged once
        meta.request(state.containers["0" * 12])
        assert meta.stats["cache_hits"] == 1 and client.calls.count("0" * 64) == 2
        assert state.containers["0" * 12].name == ""  # the id only
    finally:
        meta.close()


def test_sync_mode_resolves_on_the_callers_thread() -> None:
    meta = CriMetadata(FakeClient({CID: _status()}), sync=True)
    state = State()
    meta.attach(state)
    c = Container(CID[:12], "docker")
    c.full_id = CID
    state.containers[c.id] = c
    meta.request(c)
    assert state.containers[c.id].name == "web" and meta._thread is None


def test_open_metadata_choices(tmp_path: Path) -> None:
    assert isinstance(open_metadata(), (DisabledMetadata, CriMetadata))
    off = open_metadata(lambda k, d: False if k == "container_engines.cri.enabled" else d)
    assert isinstance(off, DisabledMetadata) and "enabled: false" in off.description
    none = open_metadata(lambda k, d: [str(tmp_path / "nope.sock")] if k.endswith(".sockets") else d)
    assert isinstance(none, DisabledMetadata) and "nope.sock" in none.description
    state = State()
    none.attach(state)
    none.request(Container("x", "docker"))  # a no-op, like the state without a lookup


def test_missing_socket_is_a_cri_error(tmp_path: Path) -> None:
    client = CriClient(str(tmp_path / "none.sock"), timeout=0.3)
    try:
        with pytest.raises(CriError):
            client.lookup(CID)
    finally:
        client.close()


def test_state_asks_once_per_new_container(tmp_path: Path) -> None:
    """The state engine's hook: a thread whose cgroups name a container → one request, then none."""
    seen: list[str] = []
    state = State()
    state.container_lookup = lambda c: seen.append(c.full_id)
    from rae.syscall.state import Thread

    for tid in (10, 11):
        t = Thread(state, tid)
        t.cgroups = [("cpu", f"/kubepods/besteffort/pod1/{CID}")]
        state._resolve_container(t)
        assert t.container_id == CID[:12]
    assert seen == [CID]
