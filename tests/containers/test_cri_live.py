"""Live: a private containerd (CRI plugin) runs a privileged pod with a host mount; rae's CRI lookup
returns what was created (name, image, privileged, mounts, pod name/namespace/uid/labels), and the
metadata thread replaces the state engine's placeholder for the container's real cgroup id."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rae.containers.cgroup import container_from_cgroups, parse_cgroups
from rae.containers.cri import CriClient
from rae.containers.metadata import CriMetadata, open_metadata
from rae.syscall.state import State, Thread

sys.path.insert(0, str(Path(__file__).resolve().parent))
from private_containerd import IMAGE, PrivateContainerd, why_no_containerd

pytestmark = [
    pytest.mark.live,
    pytest.mark.timeout(90),
    pytest.mark.skipif(why_no_containerd() is not None, reason=why_no_containerd() or ""),
]

LABELS = {"app": "shop", "tier": "web", "pod-template-hash": "7c5ddbdf54"}


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateContainerd, str, str, str, Path]]:
    base = tmp_path_factory.mktemp("ctd")
    shared = base / "shared-dir"
    shared.mkdir()
    with PrivateContainerd(base) as ctd:
        sid, cid, uid = ctd.run_pod("shop-7c5ddbdf54-x2k9p", "shop", LABELS, "web",
                                    [("/proc", "/host/proc", True), (str(shared), "/data", False)], privileged=True)
        yield ctd, sid, cid, uid, shared


def _container_pid(ctd: PrivateContainerd, cid: str) -> int:
    res = ctd._ctr("-n", "k8s.io", "task", "ls")
    for line in res.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == cid:
            return int(parts[1])
    raise AssertionError(res.stdout)


def test_lookup_returns_the_pod_and_container(pod: tuple[PrivateContainerd, str, str, str, Path]) -> None:
    ctd, sid, cid, uid, shared = pod
    client = CriClient(ctd.socket, timeout=2.0)
    try:
        assert client.runtime_type == "containerd"
        rec = client.lookup(cid)
    finally:
        client.close()
    assert (rec.id, rec.full_id, rec.name) == (cid[:12], cid, "web")
    assert (rec.image, rec.imagerepo, rec.imagetag) == (IMAGE, IMAGE.rsplit(":", 1)[0], "1")
    assert rec.imageid and rec.imagedigest.startswith("sha256:")
    assert rec.privileged is True
    by_dest = {m["Destination"]: m for m in rec.mounts}
    assert by_dest["/host/proc"]["Source"] == "/proc" and by_dest["/host/proc"]["RW"] is False
    assert by_dest["/data"]["Source"] == str(shared) and by_dest["/data"]["RW"] is True
    assert by_dest["/data"]["Propagation"] == "PROPAGATION_PRIVATE"
    assert (rec.pod_name, rec.pod_namespace, rec.pod_uid, rec.pod_sandbox_id) == (
        "shop-7c5ddbdf54-x2k9p", "shop", uid, sid)
    assert {k: rec.pod_labels[k] for k in LABELS} == LABELS
    assert rec.labels["io.kubernetes.container.name"] == "web"
    assert rec.created_time > 1_600_000_000 * 10**9


def test_state_gets_the_metadata_for_the_cgroup_id(pod: tuple[PrivateContainerd, str, str, str, Path]) -> None:
    """The path rae run takes: the container's process cgroups → placeholder → CRI record in the table."""
    ctd, _sid, cid, uid, _shared = pod
    pid = _container_pid(ctd, cid)
    cgroups = parse_cgroups(Path(f"/proc/{pid}/cgroup").read_text().splitlines())
    m = container_from_cgroups(cgroups)
    assert m is not None and m.full_id == cid, cgroups
    meta = open_metadata(lambda k, d: [ctd.socket] if k == "container_engines.cri.sockets" else d)
    assert isinstance(meta, CriMetadata)
    state = State()
    meta.attach(state)
    try:
        t = Thread(state, pid)
        t.cgroups = cgroups
        state._resolve_container(t)
        assert state.containers[cid[:12]].id == cid[:12]  # at once: the id (the placeholder)
        end = time.monotonic() + 10
        while state.containers[cid[:12]].name != "web" and time.monotonic() < end:
            time.sleep(0.01)
        c = state.containers[cid[:12]]
        assert (c.name, c.image, c.privileged, c.type) == ("web", IMAGE, True, "containerd")
        assert any(mt["Source"] == "/proc" and mt["Destination"] == "/host/proc" for mt in c.mounts)
        assert c.labels["io.kubernetes.pod.namespace"] == "shop" and c.labels["io.kubernetes.pod.uid"] == uid
        assert c.pod_labels["app"] == "shop"
        assert meta.stats["resolved"] == 1 and meta.stats["failed"] == 0
    finally:
        meta.close()
