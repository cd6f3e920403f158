"""Container ids from cgroup paths: docker, containerd, CRI-O, kubepods (cgroupfs and systemd)."""

from __future__ import annotations

import pytest

from rae.containers.cgroup import container_from_cgroups, match_cgroup_path, parse_cgroups

CID = "5ea733068030c1fbd6fbd9a1b3d7ae5bc2c12f40d2b3fa66cea3e9fc7a8bf1ab"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (f"/docker/{CID}", "docker"),
        (f"/system.slice/docker-{CID}.scope", "docker"),
        (f"/kubepods/besteffort/pod1f2e3d4c-0000-1111-2222-333344445555/{CID}", "docker"),
        (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e.slice/cri-containerd-{CID}.scope",
         "containerd"),
        (f"/kubepods-besteffort-pod1f2e.slice:cri-containerd:{CID}", "containerd"),
        (f"/kubepods.slice/kubepods-pod1f2e.slice/crio-{CID}.scope", "cri-o"),
        (f"/kubepods/pod1f2e/crio-{CID}", "cri-o"),
    ],
)
def test_layouts(path: str, kind: str) -> None:
    m = match_cgroup_path(path)
    assert m is not None
    assert m.id == CID[:12]
    assert m.full_id == CID
    assert m.type == kind


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/user.slice/user-1000.slice/session-1.scope",
        "/system.slice/docker.service",
        f"/docker/{CID[:-1]}",  # 63 characters
        f"/docker/{CID}x",  # 65 characters
        f"/docker/{CID[:-1]}g",  # not hex
        f"/system.slice/docker-{CID}.service",
    ],
)
def test_host_paths(path: str) -> None:
    assert match_cgroup_path(path) is None


def test_parse_forms() -> None:
    entries = ["cpuset=/docker/" + CID, "12:memory:/user.slice", "0::/init.scope", "", "weird"]
    assert parse_cgroups(entries) == [
        ("cpuset", "/docker/" + CID),
        ("memory", "/user.slice"),
        ("", "/init.scope"),
        ("", "weird"),
    ]


def test_first_matching_controller_wins() -> None:
    cg = [("cpuset", "/"), ("cpu", "/user.slice"), ("memory", f"/docker/{CID}")]
    m = container_from_cgroups(cg)
    assert m is not None and m.id == CID[:12] and m.cgroup == f"/docker/{CID}"
    assert container_from_cgroups([("cpu", "/user.slice")]) is None
    assert container_from_cgroups([]) is None
