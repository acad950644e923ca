"""The Kubernetes deployment without a cluster: deploy/chart rendered by a real Helm engine (Helm 4's Go SDK, through
helm-python-sdk), every manifest validated against Kubernetes' own schemas (kubernetes-validate), and the instance
policy (queue, pools, retries, monitoring, slot release, threads, retention) compared key by key across
dagster_home/dagster.yaml, deploy/dagster.yaml, the rendered chart and the instance that Dagster's chart makes
of deploy/helm/values.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "chart"
DAGSTER_VALUES = ROOT / "deploy" / "helm" / "values.yaml"

#: The chart's oldest supported Kubernetes (Chart.yaml's kubeVersion) and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())

#: The instance policy: every key of an instance config except where it keeps things (storage, compute logs).
POLICY = ("telemetry", "run_coordinator", "concurrency", "sensors", "schedules", "backfills", "run_monitoring",
          "run_retries", "retention")
PLACES = ("storage", "compute_logs")

#: Where the development instance (dagster_home, two cores, SeaweedFS beside it, the soak's short deadlines) is
#: sized differently from production. Every other key of the policy is the same.
SIZED_FOR_TWO_CORES = {
    ("concurrency", "runs", "max_concurrent_runs"),
    ("concurrency", "runs", "tag_concurrency_limits", 0, "limit"),
    ("concurrency", "pools", "default_limit"),
    ("sensors", "num_workers"),
    ("schedules", "num_workers"),
    ("backfills", "num_workers"),
    ("run_monitoring", "start_timeout_seconds"),
    ("run_monitoring", "poll_interval_seconds"),
    ("run_monitoring", "free_slots_after_run_end_seconds"),
}

Key = tuple[Any, ...]


class _UniqueKeys(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML keeps the last one silently: a second
    ``dagsterWebserver:`` would drop the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        repeated = {key for key in keys if keys.count(key) > 1}
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"keys given twice: {sorted(repeated)}",
                                                    node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_UniqueKeys)  # noqa: S506 - a SafeLoader


def _render(values: Mapping[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The chart's manifests by template, as `helm template lake-code deploy/chart -n lake` renders them."""
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(dict(values or {}), name="lake-code", namespace="lake")
    return {Path(template).name: [doc for doc in yaml.safe_load_all(text) if doc]
            for template, text in rendered.items()}


def _manifests(rendered: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [doc for docs in rendered.values() for doc in docs]


def _one(rendered: Mapping[str, list[dict[str, Any]]], kind: str) -> dict[str, Any]:
    found, = (doc for doc in _manifests(rendered) if doc["kind"] == kind)
    return found


def _chart_instance(rendered: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return yaml.safe_load(_one(rendered, "ConfigMap")["data"]["dagster.yaml"])


def _leaves(node: Any, path: Key = ()) -> Iterator[tuple[Key, Any]]:
    """Every scalar of a YAML document with the path of keys and list indexes that reaches it."""
    if isinstance(node, Mapping):
        for key, child in node.items():
            yield from _leaves(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _leaves(child, (*path, index))
    else:
        yield path, node


def _policy(instance: Mapping[str, Any]) -> dict[Key, Any]:
    """The instance's policy as its leaves, run limits where Dagster takes them from.

    ``run_coordinator.config.max_concurrent_runs`` and ``tag_concurrency_limits`` (where Dagster's chart writes
    them) and ``concurrency.runs`` (where our instance files do) are the same setting: Dagster 1.13 reads
    the latter first (``ConcurrencyConfig.from_concurrency_settings``).
    """
    assert set(instance) <= {*POLICY, *PLACES}, set(instance) - {*POLICY, *PLACES}
    leaves = dict(_leaves({key: instance[key] for key in POLICY if key in instance}))
    for setting in ("max_concurrent_runs", "tag_concurrency_limits"):
        for path in [path for path in leaves if path[:3] == ("run_coordinator", "config", setting)]:
            leaves[("concurrency", "runs", *path[2:])] = leaves.pop(path)
    return leaves


def _dagster_chart_instance(values: Mapping[str, Any]) -> dict[str, Any]:
    """The policy part of the instance that Dagster's chart 1.13 renders from ``values``.

    What its ``configmap-instance.yaml`` and ``helpers/instance/*.tpl`` templates write for each key we set;
    a key of ours it would not write fails here instead of being lost on the way.
    """
    daemon = values["dagsterDaemon"]
    coordinator = daemon["runCoordinator"]
    queued = coordinator["config"]["queuedRunCoordinator"]
    monitoring, retries = daemon["runMonitoring"], daemon["runRetries"]
    assert set(queued) <= {"maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds"}, queued
    assert set(monitoring) <= {"enabled", "startTimeoutSeconds", "pollIntervalSeconds",
                               "freeSlotsAfterRunEndSeconds"}, monitoring
    assert set(values["concurrency"]["pools"]) == {"defaultLimit"}, values["concurrency"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"

    def threads(section: Mapping[str, Any]) -> dict[str, Any]:
        assert set(section) == {"useThreads", "numWorkers"}, section
        return {"use_threads": section["useThreads"], "num_workers": section["numWorkers"]}

    retention = values["retention"]
    return {
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": coordinator["type"], "config": {
            "max_concurrent_runs": queued["maxConcurrentRuns"],
            "tag_concurrency_limits": queued["tagConcurrencyLimits"],
            "dequeue_interval_seconds": queued["dequeueIntervalSeconds"]}},
        "concurrency": {"pools": {"default_limit": values["concurrency"]["pools"]["defaultLimit"]}},
        "sensors": threads(daemon["sensors"]),
        "schedules": threads(daemon["schedules"]),
        "backfills": threads(daemon["backfills"]),
        "run_monitoring": {"enabled": monitoring["enabled"],
                           "start_timeout_seconds": monitoring["startTimeoutSeconds"],
                           "poll_interval_seconds": monitoring["pollIntervalSeconds"],
                           "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"]},
        "run_retries": {"enabled": retries["enabled"], "max_retries": retries["maxRetries"],
                        "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"]},
        "retention": {kind: {"purge_after_days": retention[kind]["purgeAfterDays"]}
                      for kind in ("sensor", "schedule")} if retention["enabled"] else {},
    }


def test_the_chart_lints_and_every_manifest_it_renders_is_valid_kubernetes() -> None:
    report = helm.lint(CHART, strict=True, kube_version=f"v{KUBERNETES_VERSIONS[0]}")
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == [], report
    manifests = _manifests(_render())
    assert sorted(doc["kind"] for doc in manifests) == ["ConfigMap", "Deployment", "Job", "Service",
                                                        "ServiceAccount"]
    for version in KUBERNETES_VERSIONS:
        for doc in manifests:
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_validation_and_the_values_schema_catch_a_mistake() -> None:
    """The two checks above can fail: a misspelt field is refused by Kubernetes' schema, a misspelt or mistyped
    value by the chart's values.schema.json, before anything renders."""
    service = _one(_render(), "Service")
    service["spec"]["prots"] = service["spec"].pop("ports")
    with pytest.raises(kubernetes_validate.ValidationError, match="'prots' was unexpected"):
        kubernetes_validate.validate(service, KUBERNETES_VERSIONS[-1], strict=True)
    with pytest.raises(helm.HelmValuesError, match="/codeLocation/replicas"):
        _render({"codeLocation": {"replicas": "two"}})
    with pytest.raises(helm.HelmValuesError, match="settingsSecrets"):
        _render({"settingsSecrets": "lake-s3"})


def test_the_instance_policy_is_the_same_in_every_instance_config_key_by_key() -> None:
    production = _policy(_yaml(ROOT / "deploy" / "dagster.yaml"))
    assert {path[0] for path in production} == set(POLICY)
    assert _policy(_chart_instance(_render())) == production
    assert _policy(_dagster_chart_instance(_yaml(DAGSTER_VALUES))) == production
    development = _policy(_yaml(ROOT / "dagster_home" / "dagster.yaml"))
    assert set(development) == set(production)
    assert {path for path in production if development[path] != production[path]} == SIZED_FOR_TWO_CORES


def test_the_policy_comparison_sees_a_drifted_key() -> None:
    """A policy key changed in one place only is found, in our chart's values as in Dagster's."""
    production = _policy(_yaml(ROOT / "deploy" / "dagster.yaml"))
    drifted = _render({"instance": {"run_monitoring": {"free_slots_after_run_end_seconds": 300}}})
    assert _policy(_chart_instance(drifted)) != production
    values = _yaml(DAGSTER_VALUES)
    values["dagsterDaemon"]["backfills"]["numWorkers"] = 1
    assert _policy(_dagster_chart_instance(values)) != production


def test_the_s3_role_is_on_the_pods_that_touch_s3_and_nowhere_else() -> None:
    rendered = _render()
    account = _one(rendered, "ServiceAccount")
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    code_server = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert code_server["serviceAccountName"] == account["metadata"]["name"]
    env = {var["name"]: var for var in code_server["containers"][0]["env"]}
    context = json.loads(env["DAGSTER_CONTAINER_CONTEXT"]["value"])["k8s"]
    assert context["service_account_name"] == account["metadata"]["name"]
    assert context["env_secrets"] == [code_server["containers"][0]["envFrom"][0]["secretRef"]["name"]]
    assert context["run_k8s_config"]["container_config"]["resources"]["requests"]["cpu"] == "1"
    dagster = _yaml(DAGSTER_VALUES)
    assert dagster["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] != role
    launcher = dagster["runLauncher"]["config"]["k8sRunLauncher"]
    assert "runK8sConfig" not in launcher and launcher["envSecrets"] == []


def test_the_migrate_step_runs_before_every_upgrade_against_the_charts_instance() -> None:
    rendered = _render()
    job = _one(rendered, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    container, = pod["containers"]
    assert container["command"] == ["dagster", "instance", "migrate"]
    assert "serviceAccountName" not in pod and pod["automountServiceAccountToken"] is False  # no S3 role
    assert pod["volumes"][0]["configMap"]["name"] == _one(rendered, "ConfigMap")["metadata"]["name"]
    assert container["volumeMounts"][0]["mountPath"] == f"{_yaml(CHART / 'values.yaml')['dagsterHome']}/dagster.yaml"
    assert "Job" not in {doc["kind"] for doc in _manifests(_render({"migrate": {"enabled": False}}))}
    assert _yaml(DAGSTER_VALUES)["migrate"]["enabled"] is False


def test_dagsters_chart_finds_the_code_server_the_chart_deploys_under_the_one_name_and_image() -> None:
    """Dagster's chart puts the Service of ours in its workspace, under the code location's name everywhere
    (workspace.yaml, deploy/workspace.yaml); the image and its tag are ours alone, so a release changes one place."""
    service = _one(_render(), "Service")
    dagster = _yaml(DAGSTER_VALUES)
    server, = dagster["dagsterWebserver"]["workspace"]["servers"]
    assert (server["host"], server["port"]) == (service["metadata"]["name"], service["spec"]["ports"][0]["port"])
    locations = [entry[kind]["location_name"] for path in (ROOT / "workspace.yaml", ROOT / "deploy" / "workspace.yaml")
                 for entry in _yaml(path)["load_from"] for kind in entry]
    assert locations == [server["name"]] * 2
    users = dagster["dagster-user-deployments"]
    assert (users["enabled"], users["enableSubchart"], users["deployments"]) == (True, False, [])
    assert "registry.example.com" not in DAGSTER_VALUES.read_text()


def test_step_logs_go_to_the_same_encrypted_s3_prefix_in_every_production_instance() -> None:
    """deploy/dagster.yaml, the chart's instance and Dagster's chart (through what its compute-log template writes)
    keep step logs with dagster-aws's S3ComputeLogManager, under one prefix, SSE on; both charts name one bucket."""
    dagster = _yaml(DAGSTER_VALUES)["computeLogManager"]
    assert dagster["type"] == "S3ComputeLogManager"
    theirs = dagster["config"]["s3ComputeLogManager"]
    from_dagster_chart = {"module": "dagster_aws.s3.compute_log_manager", "class": "S3ComputeLogManager",
                          "config": {"bucket": theirs["bucket"], "prefix": theirs["prefix"],
                                     "upload_extra_args": theirs["uploadExtraArgs"]}}
    ours = _chart_instance(_render())["compute_logs"]
    deploy = _yaml(ROOT / "deploy" / "dagster.yaml")["compute_logs"]
    assert ours == from_dagster_chart
    assert deploy == {**ours, "config": {**ours["config"], "bucket": {"env": "DAGSTER_COMPUTE_LOGS_BUCKET"}}}
    assert ours["config"]["upload_extra_args"] == {"ServerSideEncryption": "AES256"}
    assert "compute_logs" not in _yaml(ROOT / "dagster_home" / "dagster.yaml")  # a laptop keeps them on disk
