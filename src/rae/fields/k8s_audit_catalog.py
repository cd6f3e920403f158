"""Every field of the ``k8s_audit`` source: the k8saudit plugin, the json plugin and ``evt.*``.

Names, list flags and argument forms follow the k8saudit plugin (``fields.go``) and the json
plugin; the plugins' ``string`` type is kept in Falco's vocabulary as ``CHARBUF``. The 0.31
built-in source's ``jevt.time`` / ``jevt.time.iso8601`` are kept (``deprecated=True``) so that old
rules validate. The descriptions are rae's own. See docs/fields.md.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rae.fields.base import EVT_TIME_SPECS, ArgMode, FieldSpec

__all__ = ["PLUGIN_TYPES", "SPECS"]

#: plugin SDK type names → Falco's type vocabulary
PLUGIN_TYPES: dict[str, str] = {
    "string": "CHARBUF",
    "uint64": "UINT64",
    "bool": "BOOL",
    "reltime": "RELTIME",
    "abstime": "ABSTIME",
    "ipaddr": "IPADDR",
    "ipnet": "IPNET",
}

_A = ArgMode


def _f(name: str, type_: str, desc: str, arg: ArgMode = ArgMode.NONE, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type=PLUGIN_TYPES.get(type_, type_), desc=desc, arg=arg, **kw)


def _cls(category: str, specs: list[FieldSpec]) -> list[FieldSpec]:
    return [replace(s, category=category) for s in specs]


def _s(name: str, desc: str, arg: ArgMode = ArgMode.NONE, **kw: Any) -> FieldSpec:
    """A single-valued string field of the k8saudit plugin."""
    return _f(name, "string", desc, arg, **kw)


def _l(name: str, desc: str, *, indexed: bool = True) -> FieldSpec:
    """A string-list field of the k8saudit plugin; ``[N]`` picks one element when indexed."""
    arg = _A.INDEX_OPTIONAL if indexed else _A.NONE
    return _f(name, "string", desc, arg, is_list=True)


_EVT = _cls(
    "evt",
    [
        *EVT_TIME_SPECS,
        _f("evt.reltime", "RELTIME", "nanoseconds since the first event"),
        _f("evt.reltime.s", "RELTIME", "seconds part of evt.reltime"),
        _f("evt.reltime.ns", "RELTIME", "nanoseconds part of evt.reltime"),
        _f("evt.pluginname", "CHARBUF", "name of the plugin that produced the event (k8saudit)"),
        _f("evt.plugininfo", "CHARBUF", "plugin-provided summary of the event"),
        _f("evt.source", "CHARBUF", "name of the event source (k8s_audit)"),
        _f("evt.is_async", "BOOL", "true for asynchronous (meta) events"),
        _f("evt.asynctype", "CHARBUF", "name of an asynchronous event type"),
        _f("evt.hostname", "CHARBUF", "host name of the machine running the engine"),
    ],
)

_CONTAINER_LIST_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "names"),
    ("image", "images"),
    ("image.repository", "image repositories (image without tag or digest)"),
    ("command", "commands"),
    ("args", "arguments"),
    ("privileged", "privileged flags"),
    ("allow_privilege_escalation", "allowPrivilegeEscalation flags"),
    ("read_only_fs", "readOnlyRootFilesystem flags"),
    ("run_as_user", "runAsUser uids"),
    ("eff_run_as_user", "effective uids (container, else pod security context, else 0)"),
    ("run_as_group", "runAsGroup gids"),
    ("eff_run_as_group", "effective gids (container, else pod security context, else 0)"),
    ("proc_mount", "procMount types"),
    ("add_capabilities", "added capabilities"),
)


def _container_lists(kind: str, label: str, *, host_port: bool) -> list[FieldSpec]:
    """The generated ``ka.req.pod.<kind>.*`` families of the plugin."""
    rows = list(_CONTAINER_LIST_FIELDS)
    if host_port:
        rows.append(("host_port", "hostPort values"))
    return [_l(f"ka.req.pod.{kind}.{suffix}", f"pod request: {label} {what}") for suffix, what in rows]


_KA = _cls(
    "k8saudit",
    [
        _s("ka.auditid", "audit id of the event"),
        _s("ka.stage", "audit stage (RequestReceived, ResponseStarted, ResponseComplete, Panic)"),
        _s("ka.auth.decision", "authorization decision (allow or forbid)"),
        _s("ka.auth.reason", "authorization reason"),
        _s("ka.auth.openshift.decision", "OpenShift authorization decision"),
        _s("ka.validations.admission.policy.failure", "failed admission validation policies"),
        _s("ka.security.pod.violations", "pod security admission violations"),
        _s("ka.auth.openshift.username", "OpenShift user name of the request"),
        _s("ka.user.name", "user name of the request"),
        _l("ka.user.groups", "groups of the user of the request", indexed=False),
        _s("ka.impuser.name", "impersonated user name"),
        _s("ka.verb", "request verb (get, create, update, patch, delete, ...)"),
        _s("ka.uri", "request URI"),
        _s("ka.uri.param", "value of one query parameter of the request URI", _A.KEY_REQUIRED),
        _s("ka.target.name", "name of the target object"),
        _s("ka.target.namespace", "namespace of the target object"),
        _s("ka.target.resource", "resource of the target object"),
        _s("ka.target.subresource", "subresource of the target object"),
        _s("ka.target.pod.name", "pod name of the target object (pod subresources)"),
        _l("ka.req.binding.subjects", "subjects of a role binding request", indexed=False),
        _l("ka.req.binding.subjects.user_names", "user subjects of a binding request", indexed=False),
        _l(
            "ka.req.binding.subjects.serviceaccount_names",
            "service account subjects of a binding request",
            indexed=False,
        ),
        _l(
            "ka.req.binding.subjects.serviceaccount_ns_names",
            "namespaces of the service account subjects of a binding request",
            indexed=False,
        ),
        _l("ka.req.binding.subjects.group_names", "group subjects of a binding request", indexed=False),
        _s("ka.req.binding.role", "role of a role binding request"),
        _s(
            "ka.req.binding.subject.has_name",
            "kept for old rules; the plugin always gives N/A",
            _A.KEY_REQUIRED,
            deprecated=True,
        ),
        _s("ka.req.configmap.name", "name of a configmap request"),
        _s("ka.req.configmap.obj", "whole object of a configmap request, as JSON"),
        _l("ka.req.pod.containers.args", "pod request: container arguments"),
        _l("ka.req.pod.containers.command", "pod request: container commands"),
        _l("ka.req.pod.containers.name", "pod request: container names"),
        _l("ka.req.pod.containers.image", "pod request: container images"),
        _s("ka.req.container.image", "pod request: the first container's image", deprecated=True),
        _l("ka.req.pod.containers.image.repository", "pod request: container image repositories"),
        _s(
            "ka.req.container.image.repository",
            "pod request: the first container's image repository",
            deprecated=True,
        ),
        _s("ka.req.pod.host_ipc", "pod request: hostIPC flag"),
        _s("ka.req.pod.host_network", "pod request: hostNetwork flag"),
        _s("ka.req.container.host_network", "old name of ka.req.pod.host_network", deprecated=True),
        _s("ka.req.pod.host_pid", "pod request: hostPID flag"),
        _l("ka.req.pod.containers.host_port", "pod request: container hostPort values"),
        _l("ka.req.pod.containers.privileged", "pod request: container privileged flags"),
        _s("ka.req.container.privileged", "pod request: true if a container is privileged", deprecated=True),
        _l(
            "ka.req.pod.containers.allow_privilege_escalation",
            "pod request: container allowPrivilegeEscalation flags",
        ),
        _l("ka.req.pod.containers.read_only_fs", "pod request: container readOnlyRootFilesystem flags"),
        _s("ka.req.pod.run_as_user", "pod request: pod-level runAsUser"),
        _l("ka.req.pod.containers.run_as_user", "pod request: container runAsUser uids"),
        _l(
            "ka.req.pod.containers.eff_run_as_user",
            "pod request: effective container uids (container, else pod security context, else 0)",
        ),
        _s("ka.req.pod.run_as_group", "pod request: pod-level runAsGroup"),
        _l("ka.req.pod.containers.run_as_group", "pod request: container runAsGroup gids"),
        _l(
            "ka.req.pod.containers.eff_run_as_group",
            "pod request: effective container gids (container, else pod security context, else 0)",
        ),
        _l("ka.req.pod.containers.proc_mount", "pod request: container procMount types"),
        _l("ka.req.role.rules", "role request: its rules", indexed=False),
        _l("ka.req.role.rules.apiGroups", "role request: API groups of its rules"),
        _l("ka.req.role.rules.nonResourceURLs", "role request: non-resource URLs of its rules"),
        _l("ka.req.role.rules.verbs", "role request: verbs of its rules"),
        _l("ka.req.role.rules.resources", "role request: resources of its rules"),
        _s("ka.req.pod.fs_group", "pod request: fsGroup"),
        _l("ka.req.pod.supplemental_groups", "pod request: supplemental groups", indexed=False),
        _l("ka.req.pod.containers.add_capabilities", "pod request: capabilities added to containers"),
        _s("ka.req.service.type", "service request: service type"),
        _l("ka.req.service.ports", "service request: service ports"),
        _l("ka.req.pod.volumes.hostpath", "pod request: hostPath volume paths"),
        _s(
            "ka.req.volume.hostpath",
            "pod request: true when a hostPath volume uses the given path prefix",
            _A.KEY_REQUIRED,
            deprecated=True,
        ),
        _l("ka.req.pod.volumes.flexvolume_driver", "pod request: flexVolume drivers"),
        _l("ka.req.pod.volumes.volume_type", "pod request: volume types"),
        _s("ka.resp.name", "name of the object in the response"),
        _s("ka.response.code", "HTTP response code"),
        _s("ka.response.reason", "reason of the response status"),
        _s("ka.useragent", "user agent of the client"),
        _l("ka.sourceips", "source addresses of the request"),
        _s("ka.cluster.name", "name of the cluster (from the plugin configuration)"),
        *_container_lists("initContainers", "init container", host_port=True),
        *_container_lists("ephemeralContainers", "ephemeral container", host_port=False),
    ],
)

_JSON = _cls(
    "json",
    [
        _s("json.value", "value at a JSON pointer (json.value[/user/username])", _A.KEY_REQUIRED),
        _s("json.obj", "the whole event as JSON"),
        _s("json.rawtime", "event time from the audit event (ns since the epoch)"),
        _s("jevt.value", "alias of json.value", _A.KEY_REQUIRED),
        _s("jevt.obj", "alias of json.obj"),
        _s("jevt.rawtime", "alias of json.rawtime"),
    ],
)

_JEVT_OLD = _cls(
    "jevt (0.31 built-in)",
    [
        _s("jevt.time", "event time as a string (HH:MM:SS.nnnnnnnnn)", deprecated=True),
        _s("jevt.time.iso8601", "event time in ISO 8601 form", deprecated=True),
    ],
)

SPECS: list[FieldSpec] = [*_EVT, *_KA, *_JSON, *_JEVT_OLD]
