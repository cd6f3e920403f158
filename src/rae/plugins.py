"""The Falco plugins whose fields rae implements natively, with the newest version it covers.

One table for the rules loader (``required_plugin_versions``), the config (``plugins`` /
``load_plugins`` entries it accepts) and the webserver's ``/versions``.
"""

from __future__ import annotations

__all__ = ["PLUGIN_VERSIONS"]

PLUGIN_VERSIONS: dict[str, str] = {
    "k8saudit": "0.18.0",
    "k8saudit-eks": "0.18.0",
    "k8saudit-gke": "0.18.0",
    "k8saudit-aks": "0.18.0",
    "k8saudit-ovh": "0.18.0",
    "json": "0.7.0",
    "container": "0.4.0",
}
