"""The worker's containers set only variables the worker reads, and the ones that matter."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path

from tests.deploy.deployfiles import (
    K8S,
    REPO,
    compose,
    compose_environment,
    dockerfile_stages,
    k8s_objects,
    load_yaml,
)
from workers.settings import ENV_NAMES, Settings

# Read by the Python interpreter that runs the worker (set by the Dockerfile only).
INTERPRETER_VARIABLES = frozenset({"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"})
# Reads in workers/ outside the settings table: with a default (get/getenv) or without one.
_READ_WITH_DEFAULT = re.compile(r"""(?:environ\.get|getenv)\(\s*["']([A-Za-z_]\w*)["']""")
_READ_REQUIRED = re.compile(r"""environ\[\s*["']([A-Za-z_]\w*)["']\s*\]""")


def _direct_reads(pattern: re.Pattern[str]) -> set[str]:
    return {
        name
        for path in (REPO / "workers").rglob("*.py")
        for name in pattern.findall(path.read_text(encoding="utf-8"))
    }


def worker_variables() -> set[str]:
    """Every variable the worker reads: the settings table plus direct reads in workers/."""
    return (
        set(ENV_NAMES.values()) | _direct_reads(_READ_WITH_DEFAULT) | _direct_reads(_READ_REQUIRED)
    )


def image_env() -> dict[str, str]:
    _, stages = dockerfile_stages()
    return stages[-1].env()


def compose_worker_env() -> dict[str, str]:
    return compose_environment(compose()["services"]["worker"])


def k8s_worker_env() -> tuple[dict[str, str], dict[str, dict[str, object]]]:
    """(plain values from the ConfigMap, Secret and env, valueFrom entries by name)."""
    objects = k8s_objects()
    container = objects["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    values: dict[str, str] = {}
    values.update({k: str(v) for k, v in objects["ConfigMap"]["data"].items()})
    # The Secret is created apart; its example names the keys it holds.
    secret = load_yaml(K8S / "secret.example.yaml")
    values.update({k: str(v) for k, v in secret["stringData"].items()})
    value_from: dict[str, dict[str, object]] = {}
    for item in container.get("env", []):
        if "valueFrom" in item:
            value_from[item["name"]] = item["valueFrom"]
        else:
            values[item["name"]] = str(item["value"])
    return values, value_from


def test_the_worker_reads_a_known_set_of_variables():
    names = worker_variables()
    assert {"KAFKA_BOOTSTRAP", "WIRE_WEB_HOST", "WIRE_STATE_DIR", "WIRE_INSTANCE_ID"} <= names


def test_every_setting_has_a_default_or_is_set_where_it_matters():
    defaults = {
        ENV_NAMES[f.name]
        for f in fields(Settings)
        if f.default is not MISSING or f.default_factory is not MISSING
    } | (_direct_reads(_READ_WITH_DEFAULT) - _direct_reads(_READ_REQUIRED))
    k8s_values, k8s_from = k8s_worker_env()
    for name in worker_variables():
        in_compose = name in compose_worker_env() or name in image_env()
        in_k8s = name in k8s_values or name in k8s_from or name in image_env()
        assert name in defaults or (in_compose and in_k8s), f"{name} has no default and is unset"


def test_test_only_settings_are_never_deployed():
    k8s_values, k8s_from = k8s_worker_env()
    deployed = set(image_env()) | set(compose_worker_env()) | set(k8s_values) | set(k8s_from)
    assert "WIRE_FAULT_INJECTION" not in deployed


def test_no_unknown_variable_in_the_image():
    unknown = set(image_env()) - worker_variables() - INTERPRETER_VARIABLES
    assert not unknown, f"the Dockerfile sets variables the worker never reads: {unknown}"


def test_compose_worker_sets_only_what_the_worker_reads():
    env = compose_worker_env()
    unknown = set(env) - worker_variables()
    assert not unknown, f"compose sets variables the worker never reads: {unknown}"
    effective = {**image_env(), **env}

    # The broker's internal listener, and topics laid out the way topics-init made them.
    services = compose()["services"]
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    internal = re.search(r"INTERNAL://([^,]+)", advertised)
    assert internal is not None
    assert effective["KAFKA_BOOTSTRAP"] == internal.group(1)
    assert f"--partitions {effective['WIRE_PARTITIONS']}" in services["topics-init"]["command"][-1]
    assert effective["WIRE_REPLICATION_FACTOR"] == "1"  # one broker

    assert effective["WIRE_WEB_HOST"] == "0.0.0.0"
    assert effective["WIRE_STATE_DIR"] in services["worker"]["volumes"]
    assert "WIRE_INSTANCE_ID" not in effective, "replicas of a service would share one id"

    settings = Settings.from_env(effective)
    assert settings.web_port == 9108  # Prometheus' dns_sd port


def test_k8s_worker_sets_only_what_the_worker_reads():
    objects = k8s_objects()
    values, value_from = k8s_worker_env()
    unknown = (set(values) | set(value_from)) - worker_variables()
    assert not unknown, f"the manifests set variables the worker never reads: {unknown}"

    # Static membership from the pod name (stable in a StatefulSet).
    assert value_from["WIRE_INSTANCE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}

    # Credentials only in the Secret; everything else in the ConfigMap or the pod spec.
    config = objects["ConfigMap"]["data"]
    assert "KAFKA_SASL_PASSWORD" not in config
    assert "KAFKA_SASL_USERNAME" not in config
    assert "KAFKA_BOOTSTRAP" in config

    pod = objects["StatefulSet"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    effective = {**image_env(), **values, "WIRE_INSTANCE_ID": "wire-ingest-0"}
    settings = Settings.from_env(effective)  # valid: raises SettingsError otherwise

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert settings.state_dir == Path(mounts["state"])
    assert settings.web_host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert settings.web_port == ports["metrics"]
    assert settings.shutdown_grace_s < pod["terminationGracePeriodSeconds"]
    if settings.security_protocol.startswith("SASL"):
        assert settings.sasl_mechanism
        assert settings.sasl_username
        assert settings.sasl_password
