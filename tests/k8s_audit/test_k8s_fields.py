"""The k8s_audit extractors on corpus events and on crafted ones, checked against the plugins'
extraction rules (plugins/k8saudit extract.go, plugins/json json.go)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from rae.fields import catalog
from rae.k8s_audit.events import AuditEvent, decode_payload, parse_rfc3339_ns
from rae.k8s_audit.jsontext import RawFloat, compact, indented, loads

CAT = catalog("k8s_audit")


def ex(field: str, evt: AuditEvent) -> Any:
    """Extract ``field`` (``name`` or ``name[arg]``) from ``evt``, as a rule would."""
    name, _, arg = field.partition("[")
    ref = CAT.resolve(name, arg[:-1] if arg else None)
    return CAT.extractor(ref)(evt)


def first(traces: Path, name: str, index: int = 0) -> AuditEvent:
    events, problems = decode_payload((traces / name).read_text().strip().splitlines()[index])
    assert not problems
    return events[0]


def crafted(**changes: Any) -> AuditEvent:
    obj: dict[str, Any] = {
        "kind": "Event",
        "auditID": "abc",
        "stage": "ResponseComplete",
        "stageTimestamp": "2024-05-06T07:08:09.123456789Z",
        "requestURI": "/api/v1/pods",
        "verb": "create",
    }
    obj.update(changes)
    events, _ = decode_payload(json.dumps(obj))
    return events[0]


def test_every_catalog_field_is_bound() -> None:
    assert set(CAT.specs) == set(CAT.bindings)


def test_basic_fields_on_a_pod_creation(traces: Path) -> None:
    e = first(traces, "create_nginx_pod_privileged.json")
    assert ex("ka.verb", e) == "create"
    assert ex("ka.stage", e) == "ResponseComplete"
    assert ex("ka.auditid", e) == "a362d22b-db3c-4590-9505-23782f12925f"
    assert ex("ka.user.name", e) == "system:serviceaccount:kube-system:replicaset-controller"
    assert ex("ka.user.groups", e) == (
        "system:serviceaccounts",
        "system:serviceaccounts:kube-system",
        "system:authenticated",
    )
    assert ex("ka.response.code", e) == "201"  # a number rendered as its JSON text
    assert ex("ka.target.resource", e) == "pods"
    assert ex("ka.target.subresource", e) is None
    assert ex("ka.target.name", e) is None  # objectRef has no name on a create
    assert ex("ka.resp.name", e) == "nginx-deployment-5cdcc99dbf-rgw6z"
    assert ex("ka.target.pod.name", e) == "nginx-deployment-5cdcc99dbf-rgw6z"
    assert ex("ka.req.pod.containers.image", e) == ("nginx",)
    assert ex("ka.req.pod.containers.image[0]", e) == "nginx"
    assert ex("ka.req.pod.containers.image[1]", e) is None
    assert ex("ka.req.pod.containers.image.repository", e) == ("nginx",)
    assert ex("ka.req.container.image", e) == "nginx"
    assert ex("ka.req.pod.containers.privileged", e) == ("true",)
    assert ex("ka.req.container.privileged", e) == "true"
    assert ex("ka.req.pod.containers.name", e) == ("nginx",)
    assert ex("ka.req.pod.host_network", e) is None
    assert ex("ka.req.pod.containers.host_port", e) is None
    assert ex("ka.req.pod.containers.eff_run_as_user", e) == ("0",)
    assert ex("ka.req.pod.initContainers.image", e) is None
    assert ex("ka.req.pod.volumes.hostpath", e) is None
    assert ex("ka.req.pod.containers.read_only_fs", e) is None


def test_json_fields(traces: Path) -> None:
    e = first(traces, "create_nginx_pod_privileged.json")
    assert ex("jevt.value[/stage]", e) == "ResponseComplete"
    assert ex("json.value[/requestObject/spec/containers/0/securityContext]", e) == '{"privileged":true}'
    assert ex("jevt.value[/requestObject/spec/containers/0/securityContext/privileged]", e) == "true"
    assert ex("jevt.value[/responseStatus/code]", e) == "201"
    assert ex("jevt.value[/nope]", e) is None
    assert ex("jevt.value[/requestObject/spec/containers/5]", e) is None
    assert ex("jevt.rawtime", e) == str(e.ts)
    assert e.ts == parse_rfc3339_ns(e.obj["stageTimestamp"])
    obj_text = ex("jevt.obj", e)
    assert obj_text.startswith('{\n  "kind": "Event",\n  "apiVersion": "audit.k8s.io/v1beta1",\n')
    assert json.loads(obj_text) == e.obj
    assert ex("json.obj", e) == obj_text


def test_json_pointer_escapes(traces: Path) -> None:
    e = crafted(annotations={"authorization.k8s.io/decision": "allow", "a~b": 1, "": {"x": [1, 2]}})
    assert ex("jevt.value[/annotations/authorization.k8s.io~1decision]", e) == "allow"
    assert ex("jevt.value[/annotations/a~0b]", e) == "1"
    assert ex("jevt.value[/annotations//x/1]", e) == "2"
    assert ex("jevt.value[/a~1~0b]", e) is None


def test_exec_uri_params(traces: Path) -> None:
    e = first(traces, "exec_pod.json")
    assert ex("ka.target.subresource", e) == "exec"
    assert ex("ka.uri.param[command]", e) == "bash"
    assert ex("ka.uri.param[container]", e) == "nginx1"  # the first of two
    assert ex("ka.uri.param[nothere]", e) is None
    assert ex("ka.target.pod.name", e) is None  # a subresource
    assert ex("ka.response.code", e) == "101"
    bad = crafted(requestURI="/api/v1/x?a;b=1&c=2")
    assert ex("ka.uri.param[c]", bad) is None  # Go's ParseQuery fails on ';' in a key
    plus = crafted(requestURI="/x?cmd=ls+-l%2Fa&empty=")
    assert ex("ka.uri.param[cmd]", plus) == "ls -l/a"
    assert ex("ka.uri.param[empty]", plus) == ""


def test_binding_fields(traces: Path) -> None:
    e = first(traces, "create_clusterrolebinding.json")
    assert ex("ka.req.binding.role", e) == "system:basic-user"
    assert ex("ka.req.binding.subjects", e) == (
        '{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"minikube"}',
    )
    assert ex("ka.req.binding.subjects.user_names", e) == ("minikube",)
    assert ex("ka.req.binding.subjects.group_names", e) is None
    assert ex("ka.req.binding.subject.has_name[minikube]", e) == "true"
    sa = crafted(
        requestObject={
            "subjects": [
                {"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"},
                {"kind": "ServiceAccount", "name": "nons"},
                {"kind": "Group", "name": "system:masters"},
            ]
        }
    )
    assert ex("ka.req.binding.subjects.serviceaccount_names", sa) == ("default", "nons")
    assert ex("ka.req.binding.subjects.serviceaccount_ns_names", sa) == ("kube-system:default",)
    assert ex("ka.req.binding.subjects.group_names", sa) == ("system:masters",)


def test_role_rules_fields(traces: Path) -> None:
    e = first(traces, "create_cluster_role_wildcard_verbs.json")
    assert ex("ka.req.role.rules.verbs", e) == ("*", "get")
    assert ex("ka.req.role.rules.verbs[0]", e) == "*"
    assert ex("ka.req.role.rules.resources", e) == ("pods",)
    assert ex("ka.req.role.rules.apiGroups", e) == ("",)
    urls = ex("ka.req.role.rules.nonResourceURLs", e)
    assert urls[0] == "/api" and len(urls) == 13
    assert ex("ka.req.role.rules.nonResourceURLs[1]", e) == urls  # index 1 picks the second rule
    assert ex("ka.req.role.rules", e)[0] == '{"apiGroups":[""],"resources":["pods"],"verbs":["*"]}'


def test_service_and_configmap_fields(traces: Path) -> None:
    svc = first(traces, "create_nginx_service_nodeport.json")
    assert ex("ka.req.service.type", svc) == "NodePort"
    # the plugin renders the whole ports array as one value
    assert ex("ka.req.service.ports", svc) == ('[{"nodePort":30080,"port":80,"protocol":"TCP","targetPort":80}]',)
    cm = first(traces, "create_configmap_sensitive_values.json")
    assert ex("ka.req.configmap.name", cm) == "my-config"
    text = ex("ka.req.configmap.obj", cm)
    assert text.startswith('{"access.properties":"aws_access_key_id = MY-ID\\naws_secret_access_key')


def test_volume_fields(traces: Path) -> None:
    e = first(traces, "create_nginx_pod_sensitive_mount_2nd_container.json")
    assert ex("ka.req.pod.volumes.hostpath", e) == ("/etc",)
    assert ex("ka.req.volume.hostpath[/etc]", e) == "true"
    assert ex("ka.req.volume.hostpath[/et*]", e) == "true"
    assert ex("ka.req.volume.hostpath[/var]", e) == "false"
    assert ex("ka.req.pod.volumes.volume_type", e) == ("hostPath",)
    assert ex("ka.req.pod.containers.image", e) == ("nginx", "mysql:latest")
    assert ex("ka.req.pod.containers.image.repository", e) == ("nginx", "mysql")
    assert ex("ka.req.container.image", e) == "nginx"
    assert ex("ka.req.container.privileged", e) == "false"
    assert ex("ka.req.pod.containers.privileged", e) is None
    two = crafted(
        requestObject={
            "spec": {
                "volumes": [
                    {"name": "a", "emptyDir": {}},
                    {"name": "b", "hostPath": {"path": "/proc"}},
                    {"name": "c", "flexVolume": {"driver": "x/y"}},
                ]
            }
        }
    )
    assert ex("ka.req.pod.volumes.hostpath", two) == ("/proc",)
    assert ex("ka.req.pod.volumes.hostpath[1]", two) == "/proc"
    assert ex("ka.req.pod.volumes.hostpath[0]", two) is None
    assert ex("ka.req.pod.volumes.flexvolume_driver", two) == ("x/y",)
    assert ex("ka.req.pod.volumes.volume_type", two) == ("emptyDir", "hostPath", "flexVolume")
    # a key argument carries no index since libs 0.24 (before, index 0: the first volume only)
    assert ex("ka.req.volume.hostpath[/proc]", two) == "true"
    assert ex("ka.req.volume.hostpath[/pr*]", two) == "true"
    assert ex("ka.req.volume.hostpath[/var]", two) == "false"


def test_container_families_and_derived_fields() -> None:
    spec = {
        "securityContext": {"runAsUser": 1000},
        "hostNetwork": True,
        "hostPID": False,
        "containers": [
            {
                "name": "app",
                "image": "registry.local:5000/team/app:1.2@sha256:abc",
                "command": ["/bin/sh", "-c"],
                "args": ["echo", "hi"],
                "ports": [{"containerPort": 8080}, {"containerPort": 80, "hostPort": 8081}],
                "securityContext": {
                    "privileged": False,
                    "allowPrivilegeEscalation": True,
                    "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"]},
                    "runAsUser": 0,
                    "procMount": "Unmasked",
                },
            },
            {"name": "side", "image": "busybox", "runAsUser": 7},
        ],
        "initContainers": [{"name": "init", "image": "alpine:3", "securityContext": {"privileged": True}}],
        "ephemeralContainers": [{"name": "debug", "image": "nicolaka/netshoot", "command": ["bash"]}],
    }
    e = crafted(requestObject={"kind": "Pod", "spec": spec})
    assert ex("ka.req.pod.host_network", e) == "true"
    assert ex("ka.req.container.host_network", e) == "true"
    assert ex("ka.req.pod.host_pid", e) == "false"
    assert ex("ka.req.pod.host_ipc", e) is None
    assert ex("ka.req.pod.run_as_user", e) == "1000"
    assert ex("ka.req.pod.containers.image.repository", e) == ("registry.local", "busybox")
    assert ex("ka.req.pod.containers.command", e) == ("/bin/sh -c",)
    assert ex("ka.req.pod.containers.args", e) == ("echo hi",)
    assert ex("ka.req.pod.containers.host_port", e) == ("8080", "8081")
    assert ex("ka.req.pod.containers.privileged", e) == ("false",)
    assert ex("ka.req.pod.containers.allow_privilege_escalation", e) == ("true",)
    assert ex("ka.req.pod.containers.add_capabilities", e) == ('["NET_ADMIN","SYS_TIME"]',)
    assert ex("ka.req.pod.containers.run_as_user", e) == ("0",)
    assert ex("ka.req.pod.containers.proc_mount", e) == ("Unmasked",)
    # eff_run_as_user reads spec.runAsUser and containers[].runAsUser, as the plugin does
    assert ex("ka.req.pod.containers.eff_run_as_user", e) == ("0", "7")
    assert ex("ka.req.pod.containers.eff_run_as_user[1]", e) == "7"
    assert ex("ka.req.pod.containers.eff_run_as_group", e) == ("0", "0")
    assert ex("ka.req.pod.initContainers.name", e) == ("init",)
    assert ex("ka.req.pod.initContainers.privileged", e) == ("true",)
    assert ex("ka.req.pod.initContainers.image.repository[0]", e) == "alpine"
    assert ex("ka.req.pod.ephemeralContainers.image", e) == ("nicolaka/netshoot",)
    assert ex("ka.req.pod.ephemeralContainers.command", e) == ("bash",)
    assert ex("ka.req.pod.ephemeralContainers.privileged", e) is None
    assert ex("ka.req.container.privileged", e) == "false"
    # a container without a name makes the whole name list unavailable (arrayAsStrings)
    broken = copy.deepcopy(spec)
    del broken["containers"][1]["name"]
    assert ex("ka.req.pod.containers.name", crafted(requestObject={"spec": broken})) is None


def test_no_audit_id_means_no_ka_values() -> None:
    events, _ = decode_payload('{"kind":"Event","stageTimestamp":"2024-01-01T00:00:00Z","verb":"get"}')
    e = events[0]
    assert ex("ka.verb", e) is None
    assert ex("ka.req.binding.subject.has_name[x]", e) is None
    assert ex("jevt.value[/verb]", e) == "get"  # the json plugin does not care


def test_sourceips_quirk_and_cluster_name() -> None:
    e = crafted(sourceIPs=["10.0.0.1"], annotations={"cluster_name": "prod"})
    assert ex("ka.sourceips", e) is None  # the plugin looks under requestObject.rules
    assert ex("ka.cluster.name", e) == "prod"


def test_evt_fields(traces: Path) -> None:
    e = first(traces, "create_deployment.json")
    assert ex("evt.source", e) == "k8s_audit"
    assert ex("evt.rawtime", e) == e.ts
    assert ex("evt.rawtime.s", e) == e.ts // 10**9
    assert ex("evt.rawtime.ns", e) == e.ts % 10**9
    assert ex("evt.pluginname", e) == "k8saudit"
    assert ex("evt.is_async", e) is False
    assert ex("evt.time.iso8601", e).endswith("+0000")
    assert ex("jevt.time.iso8601", e) == ex("evt.time.iso8601", e)
    assert json.loads(ex("evt.plugininfo", e)) == e.obj
    assert ex("evt.reltime", e) == 0


def test_numbers_and_strings_keep_their_json_text() -> None:
    v = loads('{"a":1.50e3,"b":[true,null,-7],"c":"q\\"uote","d":{}}')
    assert isinstance(v["a"], RawFloat)
    assert compact(v) == '{"a":1.50e3,"b":[true,null,-7],"c":"q\\"uote","d":{}}'
    expected = '{\n  "a": [],\n  "b": [\n    1,\n    {\n      "c": 2\n    }\n  ]\n}'
    assert indented({"a": [], "b": [1, {"c": 2}]}) == expected
    with pytest.raises(ValueError):
        loads("[NaN]")


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2018-10-25T14:09:12.581541Z", 1540476552581541000),
        ("2018-10-25T16:09:12.581541+02:00", 1540476552581541000),
        ("2018-10-25T14:09:12.1234567891Z", 1540476552123456789),
    ],
)
def test_rfc3339(text: str, ns: int) -> None:
    assert parse_rfc3339_ns(text) == ns


def test_bad_timestamps_are_refused() -> None:
    bad_times = ("2018-13-01T00:00:00Z", "yesterday", "2018-10-25 14:09:12Z")
    bad_times += ("2018-10-25t14:09:12z", "2018-02-30T00:00:00Z")
    for bad in bad_times:
        with pytest.raises(ValueError):
            parse_rfc3339_ns(bad)


def test_strings_render_as_fastjson_marshals_them() -> None:
    """Verbatim unless special; then Go's strconv.Quote (C escapes, \\xNN, \\uNNNN)."""
    v = loads('{"a":"plain é","b":"tab\\there \\"q\\" \\\\ \\u0001 \\u007f \\u200b","c":"x\\ny"}')
    assert compact(v["a"]) == '"plain é"'
    assert compact(v["b"]) == '"tab\\there \\"q\\" \\\\ \\x01 \\x7f \\u200b"'
    assert compact(v["c"]) == '"x\\ny"'
    # the indented jevt.obj text stays valid JSON
    assert json.loads(indented(v)) == v
