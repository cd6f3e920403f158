"""A private containerd 1.6 with the CRI plugin under a temporary directory, for the live tests.

Set-up as ../shared/reference/platform-notes.md §4 describes: own root, state, socket and runc
root; the cgroupfs driver (no systemd here); ``restrict_oom_score_adj = true`` (CAP_SYS_RESOURCE
is missing); host-network pods (no CNI). The pod image is a hand-made docker archive holding
busybox-static (§4.3), imported into the ``k8s.io`` namespace; it is also the sandbox ("pause")
image. Use ``with PrivateContainerd(base) as ctd:``: the exit stops and removes every pod sandbox
through CRI BEFORE stopping containerd (or shims and containers outlive the test), then removes
the pods' cgroup directories.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

from cgroup_cleanup import remove_cgroup_tree
from rae.containers import cri_pb2 as pb
from rae.containers.cri import CriClient, CriError

IMAGE = "registry.local/rae/busybox:1"
APPLETS = ("sh", "ls", "cat", "sleep", "echo", "id", "mount", "true")
#: relative cgroup parent: pods stay under this job's memory cgroup (platform-notes §1)
CGROUP_PARENT = "kubepods/besteffort"


def why_no_containerd() -> str | None:
    """Why a private containerd cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "a private containerd needs root"
    for tool in ("containerd", "ctr", "runc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian containerd/runc, tools/apt-packages.txt)"
    if _busybox() is None:
        return "busybox-static is not installed (tools/apt-packages.txt)"
    return None


def _busybox() -> str | None:
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(p):
            return p
    return None


def _config(base: Path) -> str:
    runc = shutil.which("runc") or "/usr/sbin/runc"
    return f"""version = 2
root = "{base}/root"
state = "{base}/state"
plugin_dir = ""
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{base}/containerd.sock"
[ttrpc]
  address = "{base}/containerd.sock.ttrpc"
[debug]
  address = "{base}/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{base}/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{IMAGE}"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    restrict_oom_score_adj = true
    tolerate_missing_hugetlb_controller = true
    netns_mounts_under_state_dir = true
    disable_hugetlb_controller = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "{runc}"
          Root = "{base}/runc"
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{base}/cni/net.d"
"""


def _tar_add(tar: tarfile.TarFile, name: str, *, data: bytes | None = None, link: str | None = None,
             mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.mode = mode
    if link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = link
        tar.addfile(info)
    elif data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def build_image(path: Path) -> None:
    """A docker-archive tarball of one layer: busybox-static, applet links, /etc/passwd."""
    bb = _busybox()
    assert bb is not None
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run", "host"):
            _tar_add(t, d)
        _tar_add(t, "bin/busybox", data=Path(bb).read_bytes())
        for a in APPLETS:
            _tar_add(t, f"bin/{a}", link="busybox")
        _tar_add(t, "etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n", mode=0o644)
        _tar_add(t, "etc/group", data=b"root:x:0:\n", mode=0o644)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sleep", "3600"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "rae tests: busybox-static"}],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = diff_id[7:] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [IMAGE], "Layers": [layer_name]}]).encode()
    with tarfile.open(path, "w") as t:
        _tar_add(t, diff_id[7:])
        _tar_add(t, layer_name, data=layer_bytes, mode=0o644)
        _tar_add(t, config_name, data=config, mode=0o644)
        _tar_add(t, "manifest.json", data=manifest, mode=0o644)


class PrivateContainerd:
    """One containerd process, its CRI client, and the pods created through `run_pod`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.socket = str(base / "containerd.sock")
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: CriClient | None = None
        self.sandboxes: list[str] = []
        self.pod_uids: list[str] = []
        #: containerd 1.6 puts shim sockets in /run/containerd/s whatever its config (platform-notes §4.8)
        self._made_run_dirs = [d for d in ("/run/containerd", "/run/containerd/s") if not os.path.exists(d)]

    def start(self) -> None:
        for d in ("root", "state", "opt", "runc", "cni/net.d", "logs"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        (self.base / "config.toml").write_text(_config(self.base))
        log = open(self.base / "containerd.log", "wb")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(["containerd", "--config", str(self.base / "config.toml")],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        end = time.monotonic() + 20
        while not os.path.exists(self.socket) or self._ctr("version").returncode != 0:
            assert self.proc.poll() is None, self.log_tail()
            assert time.monotonic() < end, "containerd did not answer in 20 s: " + self.log_tail()
            time.sleep(0.02)
        build_image(self.base / "busybox.tar")
        res = self._ctr("-n", "k8s.io", "images", "import", str(self.base / "busybox.tar"))
        assert res.returncode == 0, res.stderr
        self.client = CriClient(self.socket, timeout=10.0)

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ctr", "-a", self.socket, *args], capture_output=True, text=True, timeout=30)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.base / "containerd.log").read_text()[-3000:]
        return ""

    def call(self, method: str, request: Any, response: Any) -> Any:
        assert self.client is not None
        return self.client.call(method, request, response)

    def run_pod(self, name: str, namespace: str, labels: dict[str, str], container: str,
                mounts: list[tuple[str, str, bool]], privileged: bool) -> tuple[str, str, str]:
        """A host-network pod with one running container; (sandbox id, container id, pod uid)."""
        uid = str(uuid.uuid4())
        k8s = {"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": namespace,
               "io.kubernetes.pod.uid": uid}
        sandbox_cfg = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=0),
            hostname="", log_directory=str(self.base / "logs" / uid), labels={**labels, **k8s},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=f"{CGROUP_PARENT}/pod{uid}",  # what kubelet sends (cgroupfs driver)
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER, ipc=pb.POD),
                    privileged=privileged)))
        self.pod_uids.append(uid)
        sid = self.call("RunPodSandbox", pb.RunPodSandboxRequest(config=sandbox_cfg),
                        pb.RunPodSandboxResponse).pod_sandbox_id
        self.sandboxes.append(sid)
        ccfg = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=container, attempt=0), image=pb.ImageSpec(image=IMAGE),
            command=["/bin/sleep", "600"], log_path=f"{container}/0.log",
            mounts=[pb.Mount(host_path=h, container_path=c, readonly=ro) for h, c, ro in mounts],
            labels={"io.kubernetes.container.name": container, **k8s},
            linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
                privileged=privileged, namespace_options=pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER))))
        cid = self.call("CreateContainer", pb.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg,
                                                                      sandbox_config=sandbox_cfg),
                        pb.CreateContainerResponse).container_id
        self.call("StartContainer", pb.StartContainerRequest(container_id=cid), pb.StartContainerResponse)
        return sid, cid, uid

    def stop(self) -> None:
        """Pods first (through CRI), then containerd, then the cgroup directories."""
        if self.client is not None:
            for sid in reversed(self.sandboxes):
                for method, req, resp in (("StopPodSandbox", pb.StopPodSandboxRequest, pb.StopPodSandboxResponse),
                                          ("RemovePodSandbox", pb.RemovePodSandboxRequest,
                                           pb.RemovePodSandboxResponse)):
                    with contextlib.suppress(CriError):
                        self.client.call(method, req(pod_sandbox_id=sid), resp)
            self.sandboxes.clear()
            self.client.close()
            self.client = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        self._kill_leftovers()
        _remove_pod_cgroups(self.pod_uids)
        for d in reversed(self._made_run_dirs):  # only what this instance created, and only when empty
            with contextlib.suppress(OSError):
                os.rmdir(d)

    def _kill_leftovers(self) -> None:
        """Shims of this instance still running (a failed stop): killed by pid, found by our socket path."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmd and self.socket.encode() in cmd:
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)

    def __enter__(self) -> PrivateContainerd:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _remove_pod_cgroups(uids: list[str]) -> None:
    """rmdir ``kubepods/besteffort/pod<uid>`` leaf-first in every hierarchy, then empty parents."""
    for uid in uids:
        remove_cgroup_tree(f"{CGROUP_PARENT}/pod{uid}")
