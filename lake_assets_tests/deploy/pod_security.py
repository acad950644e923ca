"""Kubernetes Pod Security Standards, the "restricted" profile (the baseline's controls included), as of Kubernetes
1.29-1.37: what a namespace labelled ``pod-security.kubernetes.io/enforce: restricted`` refuses, checked on a pod
spec as the API server receives it (camelCase). https://kubernetes.io/docs/concepts/security/pod-security-standards/"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: Volume kinds the restricted profile allows.
VOLUME_KINDS = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
                "secret"}
#: The only capability a restricted container may add.
ADDABLE = {"NET_BIND_SERVICE"}
#: Sysctls the baseline profile allows a pod to set.
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}


def _containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod.get(kind) or []:
            yield f"{kind}[{container.get('name')}]", container


def _effective(pod: Mapping[str, Any], container: Mapping[str, Any], field: str) -> Any:
    """A security setting as it applies to the container: its own, else the pod's."""
    own = (container.get("securityContext") or {}).get(field)
    return own if own is not None else (pod.get("securityContext") or {}).get(field)


def violations(pod: Mapping[str, Any]) -> list[str]:
    """Every control of the restricted profile that ``pod`` (a PodSpec) fails, one line each; [] when admitted."""
    found: list[str] = []
    pod_context = pod.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            found.append(f"{host} is true")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_KINDS:
            found.append(f"volume {volume.get('name')} is {sorted(kinds - VOLUME_KINDS)}")
    for sysctl in pod_context.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl.get('name')} is not safe")
    if pod_context.get("runAsUser") == 0:
        found.append("the pod runs as uid 0")
    for where, container in _containers(pod):
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            found.append(f"{where} is privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where} does not set allowPrivilegeEscalation: false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{where} does not drop ALL capabilities")
        if set(capabilities.get("add") or []) - ADDABLE:
            found.append(f"{where} adds {sorted(set(capabilities['add']) - ADDABLE)}")
        if _effective(pod, container, "runAsNonRoot") is not True:
            found.append(f"{where} may run as root (runAsNonRoot is not true)")
        if context.get("runAsUser") == 0:
            found.append(f"{where} runs as uid 0")
        if (_effective(pod, container, "seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{where} has no RuntimeDefault or Localhost seccomp profile")
        if context.get("procMount", "Default") != "Default":
            found.append(f"{where} sets procMount {context['procMount']}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            found.append(f"{where} uses a hostPort")
    return found
