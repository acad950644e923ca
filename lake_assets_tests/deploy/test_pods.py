"""Every pod of a Kubernetes deployment under Pod Security "restricted": the chart's code server and migrate Job as
Helm renders them, and the run pods as dagster-k8s builds them from the container context the code server hands to
K8sRunLauncher. The operator's knobs (pull secrets, placement, pod labels and annotations, extra env and volumes)
reach all of them, and the values schema refuses what Kubernetes would refuse later (a quantity such as "4 GB")."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
from dagster_k8s import DagsterK8sJobConfig, construct_dagster_k8s_job
from dagster_k8s.container_context import K8sContainerContext
from kubernetes.client import ApiClient

from lake_assets_tests.deploy.pod_security import violations
from lake_assets_tests.deploy.test_chart import CHART, DAGSTER_VALUES, KUBERNETES_VERSIONS, ROOT, _one, _render, _yaml

#: Every knob of a values section (codeLocation, runWorker), set as an operator would.
KNOBS: dict[str, Any] = {
    "nodeSelector": {"node.kubernetes.io/pool": "lake"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "lake", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-1a"]}]}]}}},
    "podAnnotations": {"example.com/cost-centre": "market-data"},
    "podLabels": {"team": "data-platform"},
    "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy.internal:3128"}],
    "extraVolumes": [{"name": "ca-bundle", "configMap": {"name": "corporate-ca"}}],
    "extraVolumeMounts": [{"name": "ca-bundle", "mountPath": "/etc/ssl/corporate", "readOnly": True}],
}
OPERATOR = {"image": {"pullSecrets": ["registry-credentials"]}, "codeLocation": KNOBS, "runWorker": KNOBS}


def run_job(rendered: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The Job of one run, as K8sRunLauncher creates it: the code server's container context
    (DAGSTER_CONTAINER_CONTEXT) read by dagster-k8s, merged into its run worker Job, serialized as the API gets it."""
    code_server = _one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {var["name"]: var.get("value") for var in code_server["env"]}
    context = K8sContainerContext.create_from_config(json.loads(env["DAGSTER_CONTAINER_CONTEXT"]))
    launcher = _yaml(DAGSTER_VALUES)["runLauncher"]["config"]["k8sRunLauncher"]
    assert not {"securityContext", "runK8sConfig", "imagePullSecrets"} & set(launcher)  # all of it is ours
    job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(job_image=env["DAGSTER_CURRENT_IMAGE"], dagster_home=env["DAGSTER_HOME"],
                                       instance_config_map="lake-dagster-instance",
                                       postgres_password_secret="dagster-postgresql-secret"),
        args=["dagster", "api", "execute_run", "{}"], job_name="dagster-run-0f3c", pod_name="dagster-run-0f3c",
        component="run_worker", user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": "day_aggs_ingest"})
    return dict(ApiClient().sanitize_for_serialization(job))


def pods(rendered: Mapping[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The pod template of each workload: the code server, the migrate Job and a run."""
    return {"code server": _one(rendered, "Deployment")["spec"]["template"],
            "migrate": _one(rendered, "Job")["spec"]["template"],
            "run": run_job(rendered)["spec"]["template"]}


@pytest.mark.parametrize("values", [{}, OPERATOR], ids=["defaults", "every knob set"])
def test_every_pod_meets_the_restricted_profile_and_the_run_job_is_valid_kubernetes(values: dict[str, Any]) -> None:
    rendered = _render(values)
    assert {name: violations(pod["spec"]) for name, pod in pods(rendered).items()} == {
        "code server": [], "migrate": [], "run": []}
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(run_job(rendered), version, strict=True)


def test_the_profile_check_refuses_what_the_restricted_profile_refuses() -> None:
    """The check above can fail: each of these changes makes the API server refuse the pod in a restricted
    namespace, and the check names it."""
    pod = _one(_render(), "Deployment")["spec"]["template"]["spec"]
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    pod["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}})
    del pod["securityContext"]["seccompProfile"]
    pod["securityContext"]["runAsUser"] = 0
    assert violations(pod) == ["volume docker is ['hostPath']", "the pod runs as uid 0",
                               "containers[code-server] does not set allowPrivilegeEscalation: false",
                               "containers[code-server] has no RuntimeDefault or Localhost seccomp profile"]


def test_the_image_runs_as_the_user_every_pod_declares() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    user = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    uid = _yaml(CHART / "values.yaml")["image"]["uid"]
    assert user == [f"{uid}:{uid}"]  # numeric, so that the kubelet can verify runAsNonRoot
    assert f"useradd --create-home --uid {uid} --gid {uid}" in dockerfile
    for name, pod in pods(_render()).items():
        assert (pod["spec"]["securityContext"]["runAsUser"], pod["spec"]["securityContext"]["runAsNonRoot"]) == (
            uid, True), name


def test_the_operators_knobs_reach_the_code_server_the_migrate_job_and_the_run_pods() -> None:
    workloads = pods(_render(OPERATOR))
    for name, pod in workloads.items():
        spec = pod["spec"]
        assert spec["imagePullSecrets"] == [{"name": "registry-credentials"}], name
        assert (spec["nodeSelector"], spec["tolerations"], spec["affinity"]) == (
            KNOBS["nodeSelector"], KNOBS["tolerations"], KNOBS["affinity"]), name
        if name == "migrate":
            continue  # a hook of a few seconds: placed as the code server, nothing more
        container = spec["containers"][0]
        assert KNOBS["podLabels"].items() <= pod["metadata"]["labels"].items(), name
        assert KNOBS["podAnnotations"].items() <= pod["metadata"]["annotations"].items(), name
        assert KNOBS["extraEnv"][0] in container["env"], name
        assert KNOBS["extraVolumes"][0] in spec["volumes"], name
        assert KNOBS["extraVolumeMounts"][0] in container["volumeMounts"], name
    defaults = pods(_render())
    assert "imagePullSecrets" not in defaults["code server"]["spec"] and "nodeSelector" not in defaults["run"]["spec"]


@pytest.mark.parametrize("quantity, accepted", [("4Gi", True), ("500M", True), ("1.5", True), (2, True),
                                                ("4 GB", False), ("4GB", False), ("-1Gi", True), ("lots", False)])
def test_the_values_schema_takes_kubernetes_quantities_only(quantity: object, accepted: bool) -> None:
    """A quantity Kubernetes would refuse when a run launches is refused when the chart renders. ("-1Gi" is a
    quantity; Kubernetes refuses a negative request itself, on the Deployment the tests validate.)"""
    values = {"runWorker": {"resources": {"limits": {"memory": quantity}}}}
    if accepted:
        _render(values)
    else:
        with pytest.raises(helm.HelmValuesError, match="/runWorker/resources/limits/memory"):
            _render(values)
