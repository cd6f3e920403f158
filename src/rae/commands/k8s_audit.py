"""``rae k8s-audit``: helpers to wire kube-apiserver to the audit webhook by hand.

``kubeconfig`` prints the file for ``--audit-webhook-config-file`` (the shape Deckhouse's
control-plane-manager renders: one cluster ``audit-webhook`` with the CA and the webhook URL, no
user credentials); ``policy`` prints a starting audit policy for ``--audit-policy-file``.
"""

from __future__ import annotations

import argparse
import base64
import re
import ssl
import sys

from rae.errors import EXIT_USAGE, RaeError
from rae.k8s_audit.webhook import DEFAULT_URL, parse_listen_url

__all__ = ["add_arguments", "kubeconfig_text", "main"]

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s.+?-----END CERTIFICATE-----", re.S)

_POLICY = """\
# Audit policy for the rae audit webhook: metadata for everything, request bodies for the
# objects the k8s_audit rules inspect, nothing for the noisiest read-only traffic.
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  # high-volume, low-value traffic
  - level: None
    users: ["system:kube-proxy"]
    verbs: [watch]
    resources: [{group: "", resources: [endpoints, services, services/status]}]
  - level: None
    resources:
      - {group: "coordination.k8s.io", resources: [leases]}
      - {group: "", resources: [events]}
      - {group: "events.k8s.io", resources: [events]}
  - level: None
    nonResourceURLs: [/healthz*, /livez*, /readyz*, /version, /metrics]
  # never log secret or token payloads, only who touched them
  - level: Metadata
    resources:
      - {group: "", resources: [secrets, serviceaccounts/token]}
      - {group: "authentication.k8s.io", resources: [tokenreviews]}
  # the bodies the rules read: pods (privileges, host namespaces, hostPath), RBAC, configmaps
  - level: RequestResponse
    verbs: [create, update, patch]
    resources:
      - {group: "", resources: [pods, pods/ephemeralcontainers, configmaps, services, serviceaccounts, namespaces]}
      - {group: "rbac.authorization.k8s.io"}
      - {group: "deckhouse.io", resources: [falcoauditrules]}
  - level: Metadata
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="k8s_audit_cmd", metavar="COMMAND")
    kc = sub.add_parser(
        "kubeconfig",
        help="print the kubeconfig for kube-apiserver's --audit-webhook-config-file",
        description="Print the kubeconfig that points kube-apiserver at the audit webhook.",
    )
    kc.add_argument(
        "--ca", required=True, metavar="FILE", help="PEM file of the CA that signed the webhook certificate"
    )
    kc.add_argument("--url", default=DEFAULT_URL, help="webhook URL (default %(default)s)")
    sub.add_parser(
        "policy",
        help="print a starting audit policy for --audit-policy-file",
        description="Print an audit policy suited to the built-in k8s_audit rules.",
    )


def _read_ca(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise RaeError(f"{path}: cannot read: {exc.strerror}") from None
    certs = _PEM_CERT.findall(data)
    if not certs:
        raise RaeError(f"{path}: no PEM certificate (-----BEGIN CERTIFICATE-----) found")
    for pem in certs:
        try:
            ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise RaeError(f"{path}: a certificate block is not valid PEM") from None
    return b"\n".join(certs) + b"\n"


def kubeconfig_text(ca_pem: bytes, url: str) -> str:
    """The webhook kubeconfig: cluster and context ``audit-webhook``, no user credentials."""
    ca_b64 = base64.b64encode(ca_pem).decode("ascii")
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "  - name: audit-webhook\n"
        "    cluster:\n"
        f"      certificate-authority-data: {ca_b64}\n"
        f'      server: "{url}"\n'
        "contexts:\n"
        "  - name: audit-webhook\n"
        "    context:\n"
        "      cluster: audit-webhook\n"
        "current-context: audit-webhook\n"
        "users: []\n"
        "preferences: {}\n"
    )


def main(args: argparse.Namespace) -> int:
    if args.k8s_audit_cmd == "kubeconfig":
        tls, _host, _port, _path = parse_listen_url(args.url)
        if not tls:
            raise RaeError(f"--url {args.url}: kube-apiserver needs an https URL to use the CA")
        sys.stdout.write(kubeconfig_text(_read_ca(args.ca), args.url.strip()))
        return 0
    if args.k8s_audit_cmd == "policy":
        sys.stdout.write(_POLICY)
        return 0
    sys.stderr.write("usage: rae k8s-audit {kubeconfig --ca FILE [--url URL] | policy}\n")
    return EXIT_USAGE
