"""A CRI (Kubernetes Container Runtime Interface, ``runtime.v1``) client for container metadata.

libsinsp's CRI engine (and Falco's container plugin after it) asks the runtime socket of
containerd or CRI-O, for a container id found in a process's cgroups, ``ContainerStatus``
(verbose) and then ``PodSandboxStatus`` of the container's pod; the answer becomes the
container's ``container.*`` and ``k8s.*`` values. This module does those two calls and maps the
answers to a :class:`ContainerRecord`; caching, threading and the state engine are
`rae.containers.metadata`'s business.

The messages come from a hand-written subset of the CRI proto (``proto/cri.proto``), compiled
once into the committed ``cri_pb2.py``: at run time only ``grpcio`` and ``protobuf`` are needed.
The RPC stubs are written here (three unary calls) rather than generated, so no grpcio version
is baked into generated code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_SOCKETS",
    "ContainerRecord",
    "CriClient",
    "CriError",
    "find_socket",
    "record_from_status",
    "split_image",
]

def _grpc() -> Any:
    """grpc, imported on first use: an engine without a CRI socket never loads it (~20 MB)."""
    import grpc

    return grpc


def _pb() -> Any:
    from rae.containers import cri_pb2

    return cri_pb2


#: where containerd, CRI-O, k3s and RKE2 put their CRI socket (Falco's defaults plus RKE2's)
DEFAULT_SOCKETS: tuple[str, ...] = (
    "/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/rke2/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
)

_SERVICE = "/runtime.v1.RuntimeService/"
#: the label libsinsp's CRI engine sets for ``k8s.pod.sandbox_id`` / ``k8s.pod.full_sandbox_id``
SANDBOX_LABEL = "io.kubernetes.sandbox.id"


class CriError(Exception):
    """A CRI call failed (socket gone, timeout, unknown container, bad answer)."""


@dataclass
class ContainerRecord:
    """What the runtime says about one container, in the shape of the state engine's container.

    ``mounts`` are dicts with libsinsp's keys (``Source``, ``Destination``, ``Mode``, ``RW``,
    ``Propagation``); ``labels`` are the container's labels (kubelet puts the
    ``io.kubernetes.pod.*`` ones there) plus :data:`SANDBOX_LABEL`; ``pod_labels`` are the
    sandbox's labels (``app``, ``tier``…), which ``k8s.pod.label(s)`` show.
    """

    id: str
    full_id: str
    type: str = "containerd"
    name: str = ""
    image: str = ""
    imageid: str = ""
    imagerepo: str = ""
    imagetag: str = ""
    imagedigest: str = ""
    ip: str = ""
    privileged: bool = False
    created_time: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    pod_name: str = ""
    pod_namespace: str = ""
    pod_uid: str = ""
    pod_sandbox_id: str = ""
    pod_labels: dict[str, str] = field(default_factory=dict)


def find_socket(candidates: Iterable[str] = DEFAULT_SOCKETS) -> str | None:
    """The first candidate path that is a unix socket, or None."""
    import stat

    for path in candidates:
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                return path
        except OSError:
            continue
    return None


def split_image(image: str) -> tuple[str, str, str]:
    """``registry:5000/ns/app:1.2@sha256:ab`` → (``registry:5000/ns/app``, ``1.2``, ``sha256:ab``).

    The tag is what follows the last ``:`` after the last ``/`` (a ``:`` before it is a
    registry port); a missing part is "".
    """
    digest = ""
    at = image.find("@")
    if at >= 0:
        image, digest = image[:at], image[at + 1 :]
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :], digest
    return image, "", digest


def _runtime_type(runtime_name: str) -> str:
    """``container.type`` for a runtime's ``Version.runtime_name``."""
    name = runtime_name.lower()
    if "crio" in name or "cri-o" in name:
        return "cri-o"
    if "containerd" in name:
        return "containerd"
    return "cri"


def _info_json(info: Mapping[str, str]) -> dict[str, Any]:
    """The verbose ``info`` map: containerd and CRI-O put one JSON document under ``info``."""
    raw = info.get("info")
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _privileged(info: Mapping[str, Any]) -> bool:
    """containerd: ``config.linux.security_context.privileged``; CRI-O: ``privileged``."""
    if isinstance(info.get("privileged"), bool):
        return bool(info["privileged"])
    config = info.get("config")
    if isinstance(config, dict):
        linux = config.get("linux")
        if isinstance(linux, dict):
            sc = linux.get("security_context") or linux.get("securityContext")
            if isinstance(sc, dict):
                return bool(sc.get("privileged", False))
    return False


def _mounts(mounts: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for m in mounts:
        out.append({
            "Source": m.host_path,
            "Destination": m.container_path,
            "Mode": "",
            "RW": not m.readonly,
            "Propagation": _pb().MountPropagation.Name(m.propagation)
            if m.propagation in _pb().MountPropagation.values() else "invalid",
        })
    return out


def _image_facts(image: str, image_ref: str) -> tuple[str, str, str, str, str]:
    """(image, imageid, repository, tag, digest) from the status's image name and image_ref.

    containerd's image_ref is the image id (``sha256:<config digest>``), CRI-O's is usually
    ``repo@sha256:<manifest digest>``; an image name that is itself an id is not a name.
    """
    imageid = digest = ""
    if image_ref.startswith("sha256:"):
        imageid = image_ref[7:]
        digest = image_ref
    elif "@" in image_ref:
        digest = image_ref.split("@", 1)[1]
    if image.startswith("sha256:"):
        image = ""
    repo, tag, name_digest = split_image(image) if image else ("", "", "")
    return image, imageid, repo, tag, name_digest or digest


def record_from_status(cid: str, status: Any, runtime: str = "containerd",
                       sandbox: Any = None) -> ContainerRecord:
    """A record from a ``ContainerStatusResponse`` and (optionally) a ``PodSandboxStatusResponse``."""
    st = status.status
    info = _info_json(status.info)
    image, imageid, repo, tag, digest = _image_facts(st.image.image, st.image_ref)
    if not image:  # an id as the image: containerd keeps the name it was asked for in an annotation
        image = st.annotations.get("io.kubernetes.cri.image-name", "")
        if image:
            repo, tag, digest2 = split_image(image)
            digest = digest or digest2
    rec = ContainerRecord(
        id=(st.id or cid)[:12], full_id=st.id or cid, type=runtime, name=st.metadata.name, image=image,
        imageid=imageid, imagerepo=repo, imagetag=tag, imagedigest=digest, privileged=_privileged(info),
        created_time=st.created_at, labels=dict(st.labels), mounts=_mounts(st.mounts),
    )
    sandbox_id = str(info.get("sandboxID") or info.get("sandbox_id") or "")
    sandbox_id = sandbox_id or st.labels.get(SANDBOX_LABEL, "") or st.annotations.get(
        "io.kubernetes.cri.sandbox-id", "")
    rec.pod_sandbox_id = sandbox_id
    if sandbox_id:
        rec.labels.setdefault(SANDBOX_LABEL, sandbox_id)
    if sandbox is not None:
        sb = sandbox.status
        rec.pod_name = sb.metadata.name
        rec.pod_namespace = sb.metadata.namespace
        rec.pod_uid = sb.metadata.uid
        rec.pod_labels = dict(sb.labels)
        rec.ip = sb.network.ip
    rec.pod_name = rec.pod_name or rec.labels.get("io.kubernetes.pod.name", "")
    rec.pod_namespace = rec.pod_namespace or rec.labels.get("io.kubernetes.pod.namespace", "")
    rec.pod_uid = rec.pod_uid or rec.labels.get("io.kubernetes.pod.uid", "")
    # the k8s.* fields read these labels (as libsinsp's do): fill them from the sandbox if missing
    for key, value in (("io.kubernetes.pod.name", rec.pod_name),
                       ("io.kubernetes.pod.namespace", rec.pod_namespace),
                       ("io.kubernetes.pod.uid", rec.pod_uid)):
        if value:
            rec.labels.setdefault(key, value)
    return rec


class CriClient:
    """One gRPC channel to a CRI socket; every call has a deadline and raises :class:`CriError`."""

    def __init__(self, socket_path: str, timeout: float = 1.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._channel = _grpc().insecure_channel("unix://" + socket_path)
        self._runtime: str | None = None

    def _call(self, method: str, request: Any, response_type: Any, timeout: float | None = None) -> Any:
        fn = self._channel.unary_unary(_SERVICE + method, request_serializer=type(request).SerializeToString,
                                       response_deserializer=response_type.FromString)
        try:
            return fn(request, timeout=self.timeout if timeout is None else timeout)
        except _grpc().RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise CriError(f"{method}: {code.name if code else 'error'}: {details}") from None

    def call(self, method: str, request: Any, response_type: Any, timeout: float | None = None) -> Any:
        """Any RuntimeService RPC of the proto subset (the tests create pods with it)."""
        return self._call(method, request, response_type, timeout)

    def version(self) -> Any:
        return self._call("Version", _pb().VersionRequest(version="v1"), _pb().VersionResponse)

    @property
    def runtime_type(self) -> str:
        """``containerd``, ``cri-o`` or ``cri``, from the runtime's ``Version`` (asked once)."""
        if self._runtime is None:
            self._runtime = _runtime_type(self.version().runtime_name)
        return self._runtime

    def container_status(self, cid: str) -> Any:
        return self._call("ContainerStatus", _pb().ContainerStatusRequest(container_id=cid, verbose=True),
                          _pb().ContainerStatusResponse)

    def pod_sandbox_status(self, sandbox_id: str) -> Any:
        return self._call("PodSandboxStatus", _pb().PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=True),
                          _pb().PodSandboxStatusResponse)

    def lookup(self, cid: str, sandboxes: MutableMapping[str, Any] | None = None) -> ContainerRecord:
        """The metadata record of a container (full or unique-prefix id), pod facts included.

        ``sandboxes`` (sandbox id → ``PodSandboxStatusResponse``) saves the second call for the
        other containers of a pod. A failing ``PodSandboxStatus`` leaves the pod facts to the
        container's own labels.
        """
        runtime = self.runtime_type
        status = self.container_status(cid)
        rec = record_from_status(cid, status, runtime)
        sid = rec.pod_sandbox_id
        if not sid:
            return rec
        sandbox = sandboxes.get(sid) if sandboxes is not None else None
        if sandbox is None:
            try:
                sandbox = self.pod_sandbox_status(sid)
            except CriError:
                return rec
            if sandboxes is not None:
                sandboxes[sid] = sandbox
        return record_from_status(cid, status, runtime, sandbox)

    def close(self) -> None:
        self._channel.close()
