"""Alert rules: valid for promtool, tested by promtool, the same in compose and Kubernetes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.deploy.deployfiles import (
    ALERTS,
    ALERTS_TEST,
    KUBE_STATE_METRICS_PREFIX,
    PROMETHEUS_CONFIG,
    PROMETHEUS_RULE,
    alert_rules,
    load_yaml,
    metric_names,
)

NO_PROMTOOL = (
    "promtool is not on PATH: `make test-setup` installs it (Debian package `prometheus`: "
    "apt-get install -y --no-install-recommends prometheus)"
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    assert path is not None, NO_PROMTOOL
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=60, check=False)


def test_promtool_check_rules():
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests():
    result = promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test():
    tested = {
        case["alertname"]
        for test in load_yaml(ALERTS_TEST)["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {r["alert"] for r in alert_rules(load_yaml(ALERTS)["groups"])} == tested


def test_promtool_check_config(tmp_path: Path):
    """The compose Prometheus config, with its rule file path pointed at the repository's."""
    config = load_yaml(PROMETHEUS_CONFIG)
    config["rule_files"] = [str(ALERTS)]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = promtool("check", "config", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheusrule_has_the_same_rules_plus_kube_state_metrics_ones(tmp_path: Path):
    plain = load_yaml(ALERTS)["groups"]
    operator = load_yaml(PROMETHEUS_RULE)["spec"]["groups"]
    operator_rules = alert_rules(operator)
    kube_only = [
        r
        for r in operator_rules
        if any(n.startswith(KUBE_STATE_METRICS_PREFIX) for n in metric_names(r["expr"]))
    ]
    assert [r["alert"] for r in kube_only] == ["WireIngestRestarting"]
    assert [r for r in operator_rules if r not in kube_only] == alert_rules(plain)
    for rule in alert_rules(plain):
        assert not any(n.startswith(KUBE_STATE_METRICS_PREFIX) for n in metric_names(rule["expr"]))

    # The operator's groups are plain rule groups too: promtool checks them as such.
    rules_file = tmp_path / "prometheusrule-groups.yml"
    rules_file.write_text(yaml.safe_dump({"groups": operator}))
    result = promtool("check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_required_alerts_exist():
    names = {r["alert"] for r in alert_rules(load_yaml(PROMETHEUS_RULE)["spec"]["groups"])}
    assert {
        "WireIngestConsumerLagGrowing",
        "WireIngestDLQRateHigh",
        "WireIngestNoEventsWhileInputFlows",
        "WireIngestRestarting",
        "WireIngestNotReady",
        "WireIngestAgentCrashed",
        "WireIngestFallingBehind",
        "WireIngestAllInputRejected",
        "WireIngestNoWorkers",
    } <= names
    for rule in alert_rules(load_yaml(PROMETHEUS_RULE)["spec"]["groups"]):
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
