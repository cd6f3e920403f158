"""Extractors for the ``k8s_audit`` source: ``ka.*`` (k8saudit plugin), ``json.*``/``jevt.*``
(json plugin) and the generic ``evt.*`` fields, bound to the catalog by `bind`.

Semantics follow the plugins' extraction code, quirks included, because rules written for
Falco must match the same events:

* values are strings; a non-string JSON value renders as compact JSON (``true``, ``201``,
  ``{"a":1}``); a missing value, a wrong type or an extraction error is "no value" (``None``);
* every ``ka.*`` field has no value on an object without ``auditID``;
* list walks follow the plugin's ``getValuesRecursive``: an index argument selects that element
  of *every* array met on the way, and a missing member inside a list element is skipped (or,
  for ``eff_run_as_*``, replaced by the pod-level default);
* known plugin quirks kept on purpose: ``ka.sourceips`` reads ``requestObject.rules[].sourceIPs``
  (so it is practically never set); ``eff_run_as_user``/``eff_run_as_group`` read
  ``spec.runAsUser`` and ``containers[].runAsUser`` (not the securityContext), so they are
  usually ``0``; ``ka.req.service.ports`` yields the whole ``ports`` array as one JSON text;
  ``ka.req.pod.*.add_capabilities`` yields each container's ``add`` list as JSON text.

A list field used with an index yields its single value, or a tuple when the plugin gives
several values for that index (``ka.req.role.rules.verbs[0]``: all verbs of the first rule).
"""

from __future__ import annotations

import functools
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote_plus

from rae.alerts import format_time_iso8601, format_time_local
from rae.fields.base import FieldCatalog, FieldSpec
from rae.k8s_audit.events import SOURCE
from rae.k8s_audit.jsontext import as_string, compact, indented

__all__ = ["bind"]

Extractor = Callable[[Any], Any]


class _Missing:
    __slots__ = ()


_MISSING: Any = _Missing()
_INDEX = re.compile(r"[+-]?\d+\Z")


class _Fail(Exception):
    """An extraction error in the plugin (wrong type…): the field has no value."""


def _get1(v: Any, key: str) -> Any:
    """fastjson ``Get(key)``: object member, or array element by decimal index."""
    if isinstance(v, dict):
        return v.get(key, _MISSING)
    if isinstance(v, list) and _INDEX.match(key):
        n = int(key)
        if 0 <= n < len(v):
            return v[n]
    return _MISSING


def _get(v: Any, keys: Sequence[str]) -> Any:
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k, _MISSING)
        else:
            v = _get1(v, k)
        if v is _MISSING:
            return _MISSING
    return v


def _values(v: Any, idx: int | None, keys: Sequence[str], start: int = 0) -> list[Any] | None:
    """The plugin's ``getValuesRecursive``: ``None`` when not available; ``_MISSING`` items for
    list elements that lack the path."""
    for i in range(start, len(keys)):
        if isinstance(v, list):
            if idx is None:
                res: list[Any] = []
                for item in v:
                    sub = _values(item, None, keys, i)
                    if sub is None:
                        res.append(_MISSING)
                    else:
                        res.extend(sub)
                return res
            if idx >= len(v):
                return None
            v = v[idx]
        k = keys[i]
        if k:
            v = _get1(v, k)
            if v is _MISSING:
                return None
    return [v]


def _strings_skip(values: list[Any]) -> list[str]:
    return [as_string(v) for v in values if v is not _MISSING]


def _strings_strict(values: list[Any]) -> list[str]:
    if any(v is _MISSING for v in values):
        raise _Fail
    return [as_string(v) for v in values]


def _multi(values: Sequence[str] | None, indexed: bool) -> Any:
    if not values:
        return None
    if indexed and len(values) == 1:
        return values[0]
    return tuple(values)


def _index_of(arg: str | None) -> int | None:
    return None if arg is None else int(arg)


# --- ka.* building blocks -------------------------------------------------------------------


def _ka(fn: Callable[[dict[str, Any]], Any]) -> Extractor:
    """Wrap a ka.* body: no value without ``auditID``, and errors mean no value."""

    def extract(evt: Any) -> Any:
        obj = evt.obj
        if "auditID" not in obj:
            return None
        try:
            return fn(obj)
        except _Fail:
            return None

    return extract


def _path_getter(keys: Sequence[str]) -> Callable[[Any], Any]:
    """A fast ``_get(obj, keys)`` for a fixed path (the hot path of most rules)."""
    if len(keys) == 1:
        (k0,) = keys
        return lambda obj: obj.get(k0, _MISSING) if type(obj) is dict else _get1(obj, k0)
    if len(keys) == 2:
        k0, k1 = keys

        def get2(obj: Any) -> Any:
            v = obj.get(k0, _MISSING) if type(obj) is dict else _get1(obj, k0)
            if type(v) is dict:
                return v.get(k1, _MISSING)
            return _MISSING if v is _MISSING else _get1(v, k1)

        return get2
    if len(keys) == 3:
        k0, k1, k2 = keys

        def get3(obj: Any) -> Any:
            v = obj.get(k0, _MISSING) if type(obj) is dict else _get1(obj, k0)
            if type(v) is dict:
                v = v.get(k1, _MISSING)
            elif v is not _MISSING:
                v = _get1(v, k1)
            if type(v) is dict:
                return v.get(k2, _MISSING)
            return _MISSING if v is _MISSING else _get1(v, k2)

        return get3
    return lambda obj: _get(obj, keys)


def _keys_single(*keys: str) -> Callable[[FieldSpec, str | None], Extractor]:
    def factory(spec: FieldSpec, _arg: str | None) -> Extractor:
        get = _path_getter(keys)
        name = spec.name  # the per-event memo key: every rule reading this field shares it

        def extract(evt: Any) -> Any:
            memo = evt.memo
            v = memo.get(name, _MISSING)
            if v is not _MISSING:
                return v
            obj = evt.obj
            if "auditID" not in obj:
                v = None
            else:
                v = get(obj)
                if v is _MISSING:
                    v = None
                elif type(v) is not str:
                    v = compact(v)
            memo[name] = v
            return v

        return extract

    return factory


def _keys_list(*keys: str) -> Callable[[FieldSpec, str | None], Extractor]:
    def factory(_spec: FieldSpec, _arg: str | None) -> Extractor:
        def body(obj: dict[str, Any]) -> Any:
            v = _get(obj, keys)
            if v is _MISSING:
                return None
            if not isinstance(v, list):
                raise _Fail
            return tuple(as_string(x) for x in v) or None

        return _ka(body)

    return factory


def _container_values(obj: Any, lst: str, idx: int | None, *sub: str) -> list[Any]:
    vals = _values(obj, idx, ("requestObject", "spec", lst, *sub))
    if vals is None:
        raise _Fail
    return vals


def _joined_lists(obj: Any, lst: str, idx: int | None, key: str) -> list[str]:
    out: list[str] = []
    for item in _container_values(obj, lst, idx, key):
        if item is _MISSING:
            continue
        if not isinstance(item, list) or not all(isinstance(x, str) for x in item):
            raise _Fail
        out.append(" ".join(item))
    return out


def _repository(image: str) -> str:
    return image.split(":", 1)[0].split("@", 1)[0]


def _host_ports(obj: Any, lst: str, idx: int | None) -> list[str]:
    out: list[str] = []
    for ports in _container_values(obj, lst, idx, "ports"):
        if ports is _MISSING:
            continue
        if not isinstance(ports, list):
            raise _Fail
        for port in ports:
            hp = _get1(port, "hostPort")
            if hp is not _MISSING:
                out.append(as_string(hp))
                continue
            cp = _get1(port, "containerPort")
            if cp is not _MISSING:
                out.append(as_string(cp))
    return out


def _effective(obj: Any, lst: str, idx: int | None, key: str) -> list[str]:
    pod = _get(obj, ("requestObject", "spec", key))
    default = "0" if pod is _MISSING else as_string(pod)
    return [default if v is _MISSING else as_string(v) for v in _container_values(obj, lst, idx, key)]


_SECCTX = {
    "privileged": ("securityContext", "privileged"),
    "allow_privilege_escalation": ("securityContext", "allowPrivilegeEscalation"),
    "read_only_fs": ("securityContext", "readOnlyRootFilesystem"),
    "run_as_user": ("securityContext", "runAsUser"),
    "run_as_group": ("securityContext", "runAsGroup"),
    "proc_mount": ("securityContext", "procMount"),
    "add_capabilities": ("securityContext", "capabilities", "add"),
}


def _container_field(lst: str, sub: str) -> Callable[[FieldSpec, str | None], Extractor]:
    def factory(_spec: FieldSpec, arg: str | None) -> Extractor:
        idx = _index_of(arg)
        indexed = idx is not None
        path = _SECCTX.get(sub)

        def body(obj: dict[str, Any]) -> Any:
            vals: list[str]
            if path is not None:
                vals = _strings_skip(_container_values(obj, lst, idx, *path))
            elif sub in ("name", "image"):
                vals = _strings_strict(_container_values(obj, lst, idx, sub))
            elif sub == "image.repository":
                vals = [_repository(i) for i in _strings_strict(_container_values(obj, lst, idx, "image"))]
            elif sub in ("command", "args"):
                vals = _joined_lists(obj, lst, idx, sub)
            elif sub == "host_port":
                vals = _host_ports(obj, lst, idx)
            elif sub == "eff_run_as_user":
                vals = _effective(obj, lst, idx, "runAsUser")
            elif sub == "eff_run_as_group":
                vals = _effective(obj, lst, idx, "runAsGroup")
            else:
                return None
            return _multi(vals, indexed)

        return _ka(body)

    return factory


def _first_container(repository: bool) -> Callable[[FieldSpec, str | None], Extractor]:
    def factory(_spec: FieldSpec, _arg: str | None) -> Extractor:
        def body(obj: dict[str, Any]) -> Any:
            images = _strings_strict(_container_values(obj, "containers", 0, "image"))
            return _repository(images[0]) if repository else images[0]

        return _ka(body)

    return factory


def _container_privileged(_spec: FieldSpec, _arg: str | None) -> Extractor:
    def body(obj: dict[str, Any]) -> Any:
        vals = _container_values(obj, "containers", None, "securityContext", "privileged")
        return "true" if any(v is True for v in vals) else "false"

    return _ka(body)


def _subjects(kind: str) -> Callable[[FieldSpec, str | None], Extractor]:
    namespaced = kind == "NamespacedServiceAccount"
    want = "ServiceAccount" if namespaced else kind

    def factory(_spec: FieldSpec, _arg: str | None) -> Extractor:
        def body(obj: dict[str, Any]) -> Any:
            subjects = _get(obj, ("requestObject", "subjects"))
            if subjects is _MISSING:
                return None
            if not isinstance(subjects, list):
                raise _Fail
            names: list[str] = []
            for subject in subjects:
                skind = _get1(subject, "kind")
                name = _get1(subject, "name")
                if skind is _MISSING or name is _MISSING or as_string(skind) != want:
                    continue
                text = as_string(name)
                if namespaced:
                    ns = _get1(subject, "namespace")
                    if ns is _MISSING:
                        continue
                    text = as_string(ns) + ":" + text
                names.append(text)
            return tuple(names) or None

        return _ka(body)

    return factory


def _rules_field(key: str) -> Callable[[FieldSpec, str | None], Extractor]:
    def factory(_spec: FieldSpec, arg: str | None) -> Extractor:
        idx = _index_of(arg)

        def body(obj: dict[str, Any]) -> Any:
            vals = _values(obj, idx, ("requestObject", "rules", key))
            if vals is None:
                return None
            out: list[str] = []
            for v in vals:
                if isinstance(v, list):
                    out.extend(as_string(x) for x in v)
            return _multi(out, idx is not None)

        return _ka(body)

    return factory


def _path_list(*keys: str) -> Callable[[FieldSpec, str | None], Extractor]:
    def factory(_spec: FieldSpec, arg: str | None) -> Extractor:
        idx = _index_of(arg)

        def body(obj: dict[str, Any]) -> Any:
            vals = _values(obj, idx, keys)
            if vals is None:
                return None
            return _multi(_strings_skip(vals), idx is not None)

        return _ka(body)

    return factory


def _volume_types(_spec: FieldSpec, arg: str | None) -> Extractor:
    idx = _index_of(arg)

    def body(obj: dict[str, Any]) -> Any:
        vals = _values(obj, idx, ("requestObject", "spec", "volumes", ""))
        if vals is None:
            return None
        out = [k for v in vals if isinstance(v, dict) for k in v if k != "name"]
        return _multi(out, idx is not None)

    return _ka(body)


def _volume_hostpath(_spec: FieldSpec, arg: str | None) -> Extractor:
    key = arg or ""
    prefix = key[:-1] if key.endswith("*") else None

    def body(obj: dict[str, Any]) -> Any:
        # a key argument reaches the plugin with no index (libs >= 0.24): every volume counts
        vals = _values(obj, None, ("requestObject", "spec", "volumes", "hostPath", "path"))
        if vals is None:
            return None
        for path in _strings_skip(vals):
            if (prefix is not None and path.startswith(prefix)) or path == key:
                return "true"
        return "false"

    return _ka(body)


def _target_pod_name(_spec: FieldSpec, _arg: str | None) -> Extractor:
    def body(obj: dict[str, Any]) -> Any:
        ref = obj.get("objectRef")
        resource = _get1(ref, "resource")
        if resource != "pods":
            return None
        sub = _get1(ref, "subresource")
        if isinstance(sub, str) and sub:
            return None
        name = _get(obj, ("responseObject", "metadata", "name"))
        return None if name is _MISSING else as_string(name)

    return _ka(body)


def _parse_query(raw: str) -> dict[str, list[str]] | None:
    """Go's ``url.ParseQuery``: ``None`` on an error (a ``;`` in a key, a bad escape)."""
    out: dict[str, list[str]] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if ";" in key:
            return None
        try:
            k = _unescape(key)
            v = _unescape(value)
        except ValueError:
            return None
        out.setdefault(k, []).append(v)
    return out


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _unescape(text: str) -> str:
    if _BAD_ESCAPE.search(text):
        raise ValueError(text)
    return unquote_plus(text, errors="surrogateescape")


def _uri_param(_spec: FieldSpec, arg: str | None) -> Extractor:
    key = arg or ""

    def extract(evt: Any) -> Any:
        obj = evt.obj
        if "auditID" not in obj:
            return None
        query = evt._query
        if query is None:
            uri = obj.get("requestURI", _MISSING)
            if uri is _MISSING:
                return None
            text = as_string(uri)
            raw = text.split("#", 1)[0].partition("?")[2]
            query = _parse_query(raw)
            evt._query = query if query is not None else False
        if not query:
            return None
        vals = query.get(key)
        return vals[0] if vals else None

    return extract


def _constant_true(_spec: FieldSpec, _arg: str | None) -> Extractor:
    return _ka(lambda _obj: "true")


# --- json.* / jevt.* ------------------------------------------------------------------------


def _json_value(_spec: FieldSpec, arg: str | None) -> Extractor:
    pointer = arg or ""
    if not pointer:

        def whole(evt: Any) -> Any:
            return evt.raw

        return whole
    if pointer[0] == "/":
        pointer = pointer[1:]
    keys = tuple(k.replace("~1", "/").replace("~0", "~") for k in pointer.split("/"))
    get = _path_getter(keys)
    name = "json.value/" + pointer

    def extract(evt: Any) -> Any:
        memo = evt.memo
        v = memo.get(name, _MISSING)
        if v is not _MISSING:
            return v
        v = get(evt.obj)
        if v is _MISSING:
            v = None
        elif type(v) is not str:
            v = compact(v)
        memo[name] = v
        return v

    return extract


def _json_obj(_spec: FieldSpec, _arg: str | None) -> Extractor:
    return lambda evt: indented(evt.obj)


def _json_rawtime(_spec: FieldSpec, _arg: str | None) -> Extractor:
    return lambda evt: str(evt.ts)


# --- evt.* ----------------------------------------------------------------------------------


@functools.cache
def _hostname() -> str:
    return os.environ.get("FALCO_HOSTNAME") or os.environ.get("RAE_HOSTNAME") or socket.gethostname()


def _datetime(ts: int, with_ns: bool) -> str:
    secs, ns = divmod(ts, 1_000_000_000)
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(secs))
    return f"{text}.{ns:09d}" if with_ns else text


def _evt(fn: Callable[[Any], Any]) -> Callable[[FieldSpec, str | None], Extractor]:
    return lambda _spec, _arg: fn


_EVT: dict[str, Callable[[FieldSpec, str | None], Extractor]] = {
    "evt.num": _evt(lambda e: e.num),
    "evt.time": _evt(lambda e: format_time_local(e.ts)),
    "evt.time.s": _evt(lambda e: time.strftime("%H:%M:%S", time.localtime(e.ts // 1_000_000_000))),
    "evt.time.iso8601": _evt(lambda e: format_time_iso8601(e.ts)),
    "evt.datetime": _evt(lambda e: _datetime(e.ts, True)),
    "evt.datetime.s": _evt(lambda e: _datetime(e.ts, False)),
    "evt.rawtime": _evt(lambda e: e.ts),
    "evt.rawtime.s": _evt(lambda e: e.ts // 1_000_000_000),
    "evt.rawtime.ns": _evt(lambda e: e.ts % 1_000_000_000),
    "evt.reltime": _evt(lambda e: e.ts - e.t0),
    "evt.reltime.s": _evt(lambda e: (e.ts - e.t0) // 1_000_000_000),
    "evt.reltime.ns": _evt(lambda e: (e.ts - e.t0) % 1_000_000_000),
    "evt.pluginname": _evt(lambda e: "k8saudit"),
    "evt.plugininfo": _evt(lambda e: e.raw),
    "evt.source": _evt(lambda e: SOURCE),
    "evt.is_async": _evt(lambda e: False),
    "evt.asynctype": _evt(lambda e: None),
    "evt.hostname": _evt(lambda e: _hostname()),
}


def _factories() -> dict[str, Callable[[FieldSpec, str | None], Extractor]]:
    f: dict[str, Callable[[FieldSpec, str | None], Extractor]] = dict(_EVT)
    singles = {
        "ka.auditid": ("auditID",),
        "ka.stage": ("stage",),
        "ka.auth.decision": ("annotations", "authorization.k8s.io/decision"),
        "ka.auth.reason": ("annotations", "authorization.k8s.io/reason"),
        "ka.auth.openshift.decision": ("annotations", "authentication.openshift.io/decision"),
        "ka.auth.openshift.username": ("annotations", "authentication.openshift.io/username"),
        "ka.validations.admission.policy.failure": (
            "annotations",
            "validation.policy.admission.k8s.io/validation_failure",
        ),
        "ka.security.pod.violations": ("annotations", "pod-security.kubernetes.io/audit-violations"),
        "ka.user.name": ("user", "username"),
        "ka.impuser.name": ("impersonatedUser", "username"),
        "ka.verb": ("verb",),
        "ka.uri": ("requestURI",),
        "ka.target.name": ("objectRef", "name"),
        "ka.target.namespace": ("objectRef", "namespace"),
        "ka.target.resource": ("objectRef", "resource"),
        "ka.target.subresource": ("objectRef", "subresource"),
        "ka.req.binding.role": ("requestObject", "roleRef", "name"),
        "ka.req.configmap.name": ("objectRef", "name"),
        "ka.req.configmap.obj": ("requestObject", "data"),
        "ka.req.pod.host_ipc": ("requestObject", "spec", "hostIPC"),
        "ka.req.pod.host_network": ("requestObject", "spec", "hostNetwork"),
        "ka.req.container.host_network": ("requestObject", "spec", "hostNetwork"),
        "ka.req.pod.host_pid": ("requestObject", "spec", "hostPID"),
        "ka.req.pod.run_as_user": ("requestObject", "spec", "securityContext", "runAsUser"),
        "ka.req.pod.run_as_group": ("requestObject", "spec", "securityContext", "runAsGroup"),
        "ka.req.pod.fs_group": ("requestObject", "spec", "securityContext", "fsGroup"),
        "ka.req.service.type": ("requestObject", "spec", "type"),
        "ka.resp.name": ("responseObject", "metadata", "name"),
        "ka.response.code": ("responseStatus", "code"),
        "ka.response.reason": ("responseStatus", "reason"),
        "ka.useragent": ("userAgent",),
        "ka.cluster.name": ("annotations", "cluster_name"),
    }
    for name, keys in singles.items():
        f[name] = _keys_single(*keys)
    lists = {
        "ka.user.groups": ("user", "groups"),
        "ka.req.binding.subjects": ("requestObject", "subjects"),
        "ka.req.role.rules": ("requestObject", "rules"),
        "ka.req.pod.supplemental_groups": ("requestObject", "spec", "securityContext", "supplementalGroups"),
    }
    for name, keys in lists.items():
        f[name] = _keys_list(*keys)
    f["ka.uri.param"] = _uri_param
    f["ka.target.pod.name"] = _target_pod_name
    f["ka.req.binding.subjects.user_names"] = _subjects("User")
    f["ka.req.binding.subjects.serviceaccount_names"] = _subjects("ServiceAccount")
    f["ka.req.binding.subjects.serviceaccount_ns_names"] = _subjects("NamespacedServiceAccount")
    f["ka.req.binding.subjects.group_names"] = _subjects("Group")
    f["ka.req.binding.subject.has_name"] = _constant_true
    f["ka.req.container.image"] = _first_container(repository=False)
    f["ka.req.container.image.repository"] = _first_container(repository=True)
    f["ka.req.container.privileged"] = _container_privileged
    for key in ("apiGroups", "nonResourceURLs", "verbs", "resources"):
        f[f"ka.req.role.rules.{key}"] = _rules_field(key)
    f["ka.sourceips"] = _rules_field("sourceIPs")
    f["ka.req.service.ports"] = _path_list("requestObject", "spec", "ports")
    f["ka.req.pod.volumes.hostpath"] = _path_list("requestObject", "spec", "volumes", "hostPath", "path")
    f["ka.req.pod.volumes.flexvolume_driver"] = _path_list(
        "requestObject", "spec", "volumes", "flexVolume", "driver"
    )
    f["ka.req.pod.volumes.volume_type"] = _volume_types
    f["ka.req.volume.hostpath"] = _volume_hostpath
    subs = (
        "name",
        "image",
        "image.repository",
        "command",
        "args",
        "host_port",
        "eff_run_as_user",
        "eff_run_as_group",
        *_SECCTX,
    )
    for lst in ("containers", "initContainers", "ephemeralContainers"):
        for sub in subs:
            f[f"ka.req.pod.{lst}.{sub}"] = _container_field(lst, sub)
    for prefix in ("json", "jevt"):
        f[f"{prefix}.value"] = _json_value
        f[f"{prefix}.obj"] = _json_obj
        f[f"{prefix}.rawtime"] = _json_rawtime
    f["jevt.time"] = _evt(lambda e: format_time_local(e.ts))
    f["jevt.time.iso8601"] = _evt(lambda e: format_time_iso8601(e.ts))
    return f


FACTORIES = _factories()


def bind(catalog: FieldCatalog) -> None:
    """Attach an extractor to every catalog field this source knows (values are strings for
    ``ka``/``json`` fields, so the default per-kind renderers print them as they are)."""
    for name in catalog.specs:
        factory = FACTORIES.get(name)
        if factory is not None:
            catalog.bind(name, factory)
