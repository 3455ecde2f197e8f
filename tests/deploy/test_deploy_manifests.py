"""The deployment files parse and hang together: Dockerfile, compose, Kubernetes, Grafana."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.deployfiles import (
    ALERTS,
    COMPOSE_FILE,
    DASHBOARD,
    DEPLOY,
    K8S,
    PROMETHEUS_CONFIG,
    REPO,
    compose,
    dashboard_exprs,
    dockerfile_stages,
    json_files,
    k8s_objects,
    load_json,
    load_yaml,
    load_yaml_all,
    metric_names,
    yaml_files,
)

KNOWN_KINDS = {
    ("apps/v1", "StatefulSet"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("policy/v1", "PodDisruptionBudget"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
}
WORKER_LABELS = {"app.kubernetes.io/name": "wire-ingest", "app.kubernetes.io/component": "worker"}


# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_yaml_parses(path):
    assert load_yaml_all(path), f"{path} is empty"


@pytest.mark.parametrize("path", json_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_json_parses(path):
    assert load_json(path)


def test_the_files_the_checks_read_exist():
    # A glob that matched nothing would make the parametrised checks above vacuous.
    assert COMPOSE_FILE in yaml_files()
    assert DASHBOARD in json_files()
    assert {p.name for p in K8S.glob("*.yaml")} >= {"kustomization.yaml", "statefulset.yaml"}


# ----------------------------------------------------------------------------- Kubernetes


def test_k8s_kinds_and_api_versions_are_known():
    seen = set()
    for path in sorted(K8S.rglob("*.y*ml")):
        for doc in load_yaml_all(path):
            key = (doc.get("apiVersion"), doc.get("kind"))
            assert key in KNOWN_KINDS, f"{path.name}: unexpected {key}"
            seen.add(key)
    assert seen == KNOWN_KINDS


def test_kustomization_lists_every_manifest_and_nothing_else():
    kustomization = load_yaml(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    examples = {p.name for p in K8S.glob("*.example.y*ml")}  # shown, never applied
    on_disk = {p.name for p in K8S.glob("*.y*ml")} - {"kustomization.yaml"} - examples
    assert examples == {"secret.example.yaml"}
    assert listed == on_disk
    assert "namespace" not in kustomization, "the manifests stay namespace-agnostic"
    for doc in (d for path in K8S.glob("*.y*ml") for d in load_yaml_all(path)):
        assert "namespace" not in doc.get("metadata", {}), f"{doc['kind']} pins a namespace"


def test_kustomize_renders_every_object():
    """`kubectl kustomize` when kubectl is here; else the same resources read by hand."""
    expected = {(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in k8s_objects().values()}
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        assert len(expected) == 7
        return
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert {(d["apiVersion"], d["kind"], d["metadata"]["name"]) for d in rendered} == expected
    statefulset = next(d for d in rendered if d["kind"] == "StatefulSet")
    assert statefulset["spec"]["template"]["spec"]["containers"][0]["image"] == "wire-ingest:0.1.0"


def _container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers = objects["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_statefulset_shape():
    objects = k8s_objects()
    sts = objects["StatefulSet"]["spec"]
    pod = sts["template"]["spec"]
    container = _container(objects)

    assert sts["podManagementPolicy"] == "Parallel"
    assert sts["serviceName"] == objects["Service"]["metadata"]["name"]
    assert sts["selector"]["matchLabels"] == WORKER_LABELS
    assert WORKER_LABELS.items() <= sts["template"]["metadata"]["labels"].items()
    assert 20 <= pod["terminationGracePeriodSeconds"] <= 60

    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert {"cpu", "memory"} <= resources["limits"].keys()

    port = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "metrics"}
    assert port == 9108

    # RocksDB state on a claim per pod, mounted where WIRE_STATE_DIR points (tested in env).
    claims = {c["metadata"]["name"] for c in sts["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert "state" in claims
    assert mounts["state"] == "/var/lib/wire-ingest"
    if container["securityContext"].get("readOnlyRootFilesystem"):
        assert "/tmp" in mounts.values()

    env_from = container["envFrom"]
    assert {"configMapRef": {"name": objects["ConfigMap"]["metadata"]["name"]}} in env_from
    secret = load_yaml(K8S / "secret.example.yaml")
    assert {"secretRef": {"name": secret["metadata"]["name"], "optional": True}} in env_from


def test_the_startup_probe_outlasts_the_workers_wait_for_the_broker():
    """A starting worker's waiting pages answer while it waits for the broker
    (WIRE_START_TIMEOUT_S), but the startup budget outlasts the wait all the same: nothing in
    that start may turn broker maintenance, which the wait is there to ride out, into a crash
    loop."""
    from workers.settings import Settings

    objects = k8s_objects()
    config = objects["ConfigMap"]["data"]
    container = _container(objects)
    env = {e["name"]: e.get("value") for e in container["env"] if "value" in e}
    wait_s = float(
        env.get("WIRE_START_TIMEOUT_S")
        or config.get("WIRE_START_TIMEOUT_S")
        or Settings().start_timeout_s
    )
    probe = container["startupProbe"]
    assert probe["httpGet"] == {"path": "/health", "port": "metrics"}
    assert probe["periodSeconds"] * probe["failureThreshold"] >= wait_s + 60


def test_service_pdb_and_servicemonitor_select_the_workers():
    objects = k8s_objects()
    service = objects["Service"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == WORKER_LABELS
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9108, "targetPort": "metrics", "protocol": "TCP"}
    ]

    pdb = objects["PodDisruptionBudget"]["spec"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"]["matchLabels"] == WORKER_LABELS

    monitor = objects["ServiceMonitor"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["endpoints"]] == ["metrics"]
    assert monitor["endpoints"][0]["path"] == "/metrics"


def test_no_secret_is_applied_and_the_example_holds_placeholders_only():
    """Applying a placeholder Secret would overwrite one managed elsewhere, or invite real
    credentials into git: the kustomization applies none."""
    assert "Secret" not in k8s_objects()
    secret = load_yaml(K8S / "secret.example.yaml")
    assert secret["kind"] == "Secret"
    assert "data" not in secret
    assert set(secret["stringData"]) == {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}
    assert all(value == "CHANGE-ME" for value in secret["stringData"].values())


# ----------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_slim_and_non_root():
    args, stages = dockerfile_stages()
    assert args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert builder.name == "builder"
    assert all(stage.base == "${PYTHON_IMAGE}" for stage in stages)
    assert any("pip wheel" in run for run in builder.args("RUN"))

    final_runs = " ".join(final.args("RUN"))
    assert "build-essential" not in final_runs
    assert "gcc" not in final_runs
    assert "--no-index" in final_runs
    assert "from=builder" in final_runs

    user = final.args("USER")[-1]
    uid = re.sub(r"\$\{?UID\}?", dict(a.split("=") for a in final.args("ARG"))["UID"], user)
    assert uid.split(":")[0] not in {"0", "root"}

    env = final.env()
    assert env["WIRE_WEB_HOST"] == "0.0.0.0"
    assert env["WIRE_STATE_DIR"] == "/var/lib/wire-ingest"
    assert final.args("VOLUME") == ['["/var/lib/wire-ingest"]']
    assert final.args("ENTRYPOINT") == ['["wire-ingest", "worker"]']

    healthcheck = final.args("HEALTHCHECK")[-1]
    assert "urllib" in healthcheck
    assert "/health'" in healthcheck
    assert "curl" not in healthcheck
    assert "wget" not in healthcheck


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    entries = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".cache", ".git", "state", ".pytest_cache", ".hypothesis"} <= entries
    # The build reads these: they must stay in the context.
    assert not entries & {"pyproject.toml", "README.md", "workers", "workers/"}


# ----------------------------------------------------------------------------- compose


def test_compose_config():
    """`docker compose config` where the compose client is installed; else the file's shape."""
    docker = shutil.which("docker")
    has_compose = (
        docker is not None
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        ).returncode
        == 0
    )
    if has_compose:
        assert docker is not None
        result = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
    _check_compose_shape(compose())


def _check_compose_shape(data: dict[str, Any]) -> None:
    services = data["services"]
    assert set(services) >= {"kafka", "topics-init", "worker", "prometheus", "grafana"}

    kafka = services["kafka"]
    # The release the suite tests: kafka.sh's default line.
    default_version = subprocess.run(
        [str(REPO / "deploy" / "local" / "kafka.sh"), "version"],
        env={k: v for k, v in os.environ.items() if k != "KAFKA_VERSION"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert kafka["image"] == f"apache/kafka:{default_version}"
    assert services["topics-init"]["image"] == kafka["image"]
    kafka_env = kafka["environment"]
    for name in (
        "KAFKA_NODE_ID",
        "KAFKA_PROCESS_ROLES",
        "KAFKA_LISTENERS",
        "KAFKA_ADVERTISED_LISTENERS",
        "KAFKA_CONTROLLER_LISTENER_NAMES",
        "KAFKA_CONTROLLER_QUORUM_VOTERS",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
    ):
        assert name in kafka_env, f"kafka service lacks {name}"
    assert kafka_env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "127.0.0.1:9092:9092" in kafka["ports"]
    assert "HOST://127.0.0.1:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert "healthcheck" in kafka

    init = services["topics-init"]
    assert init["image"] == kafka["image"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"

    worker = services["worker"]
    assert worker["build"] in (".", {"context": "."})
    assert worker["deploy"]["replicas"] == 2
    assert "ports" not in worker, "replicas cannot share a host port"
    assert "container_name" not in worker, "replicas cannot share a container name"
    assert worker["depends_on"]["topics-init"]["condition"] == "service_completed_successfully"
    # An anonymous volume per replica for the RocksDB state.
    assert "/var/lib/wire-ingest" in worker["volumes"]
    grace = int(str(worker["stop_grace_period"]).rstrip("s"))
    assert grace > 12, "Docker must wait longer than WIRE_SHUTDOWN_GRACE_S"

    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if v.startswith("./")}
    assert mounts["/etc/prometheus/alerts.yml"] == "./" + str(ALERTS.relative_to(REPO))
    assert mounts["/etc/prometheus/prometheus.yml"] == "./" + str(
        PROMETHEUS_CONFIG.relative_to(REPO)
    )

    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    for published in (
        p for s in services.values() for p in s.get("ports", []) if isinstance(p, str)
    ):
        assert published.startswith("127.0.0.1:"), f"{published}: publish on loopback only"
    for path in (v.split(":")[0] for s in services.values() for v in s.get("volumes", [])):
        if path.startswith("./"):
            assert (REPO / path).exists(), f"compose mounts {path}, which does not exist"


def test_topics_init_creates_the_workers_topics():
    from workers.settings import Settings

    script = compose()["services"]["topics-init"]["command"]
    script = script[-1] if isinstance(script, list) else script
    assert "--if-not-exists" in script
    created = dict(re.findall(r"^\s*create (\S+)(.*)$", script, re.MULTILINE))
    defaults = Settings()
    assert set(created) == {
        defaults.topic_raw,
        defaults.topic_events,
        defaults.topic_latest,
        defaults.topic_dlq,
    }
    assert "cleanup.policy=compact" in created[defaults.topic_latest]
    assert f"--partitions {defaults.partitions}" in script
    # The worker creates topics with 16 MiB messages; these must allow the same.
    assert "max.message.bytes=16777216" in script


def test_prometheus_scrapes_the_worker_replicas_by_dns():
    config = load_yaml(PROMETHEUS_CONFIG)
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "wire-ingest")
    assert job["dns_sd_configs"] == [
        {"names": ["worker"], "type": "A", "port": 9108, "refresh_interval": "15s"}
    ]
    assert "worker" in compose()["services"]


# ----------------------------------------------------------------------------- Grafana


def test_grafana_provisioning_points_at_the_dashboard_and_datasource():
    services = compose()["services"]
    mounts = dict(v.split(":")[:2][::-1] for v in services["grafana"]["volumes"] if "./" in v)
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"

    datasources = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert [(d["type"], d["url"]) for d in datasources] == [
        ("prometheus", "http://prometheus:9090")
    ]

    providers = load_yaml(provisioning / "dashboards" / "wire-ingest.yml")["providers"]
    dashboard_dir = providers[0]["options"]["path"]
    mounted_at = {v: k for k, v in mounts.items()}["./deploy/grafana/dashboard.json"]
    assert mounted_at.rsplit("/", 1)[0] == dashboard_dir


def test_dashboard_uses_a_datasource_variable_and_has_the_panels():
    dashboard = load_json(DASHBOARD)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"

    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"

    # Every series is chosen by installation (the namespace and job variables).
    selector = '{namespace=~"$namespace", job=~"$job"}'
    for name in ("namespace", "job"):
        assert variables[name]["type"] == "query"
        assert variables[name]["includeAll"] is True
    for expr in dashboard_exprs(dashboard):
        for match in re.finditer(r"wire_ingest_[a-z_]+", expr):
            assert expr[match.end() :].startswith(selector), f"no installation selector: {expr}"
    exprs = " ".join(dashboard_exprs(dashboard)).replace(selector, "")
    for needed in (
        "wire_ingest_items_consumed_total",
        "wire_ingest_events_emitted_total",
        "sum by (reason) (rate(wire_ingest_items_rejected_total",
        "sum by (topic, partition) (wire_ingest_consumer_lag_messages)",
        "histogram_quantile(0.5, sum by (le) (rate(wire_ingest_end_to_end_latency_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(wire_ingest_end_to_end_latency_seconds_bucket",
        "wire_ingest_processing_seconds_bucket",
        "wire_ingest_stories_in_state",
        "wire_ingest_rebalances_total",
        "wire_ingest_agent_errors_total",
        "wire_ingest_events_resent_total",
        "wire_ingest_ready",
        "wire_ingest_seconds_behind",
    ):
        assert needed in exprs, f"the dashboard has no panel with {needed}"


def test_promql_metric_name_extraction():
    assert metric_names(
        "histogram_quantile(0.99, sum by (le, stage) "
        '(rate(a_bucket{stage="x y"}[$__rate_interval])))'
    ) == {"a_bucket"}
    assert metric_names("sum(rate(a_total[5m])) / clamp_min(sum(b), 1e-9) > 0.05 and c == 0") == {
        "a_total",
        "b",
        "c",
    }
    assert metric_names('up{job="wire-ingest"} == 0 unless on (instance) d offset 5m') == {
        "up",
        "d",
    }
