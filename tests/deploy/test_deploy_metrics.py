"""Every metric the dashboard and the alerts name is one a running worker exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.deployfiles import (
    ALERTS,
    DASHBOARD,
    KUBE_STATE_METRICS_PREFIX,
    PROMETHEUS_RULE,
    PROMETHEUS_SYNTHETIC,
    alert_rules,
    dashboard_exprs,
    dockerfile_stages,
    load_json,
    load_yaml,
    metric_names,
)
from tests.support.broker import free_port
from tests.support.waiting import wait_until
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}


def exposed_names(text: str) -> tuple[set[str], set[str]]:
    """(sample names present in the scrape, every sample name its families can have)."""
    present: set[str] = set()
    possible: set[str] = set()
    for family in text_string_to_metric_families(text):
        possible.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
        present.update(sample.name for sample in family.samples)
    return present, possible | present


def named_metrics() -> dict[str, set[str]]:
    """Metric name -> where it is used (alert names, dashboard panels)."""
    used: dict[str, set[str]] = {}
    for rule in alert_rules(load_yaml(ALERTS)["groups"]) + alert_rules(
        load_yaml(PROMETHEUS_RULE)["spec"]["groups"]
    ):
        for name in metric_names(rule["expr"]):
            used.setdefault(name, set()).add(f"alert {rule['alert']}")
    for expr in dashboard_exprs(load_json(DASHBOARD)):
        for name in metric_names(expr):
            used.setdefault(name, set()).add("dashboard")
    return used


def test_dashboard_and_alert_metrics_exist(busy_worker: WorkerProcess):
    present, possible = exposed_names(busy_worker.metrics_text())
    used = named_metrics()
    checked = {
        name: where
        for name, where in used.items()
        if not name.startswith(KUBE_STATE_METRICS_PREFIX) and name not in PROMETHEUS_SYNTHETIC
    }
    assert len(checked) >= 10, f"the expressions name too few metrics: {sorted(checked)}"
    missing = {name: sorted(where) for name, where in checked.items() if name not in possible}
    assert not missing, f"not in the worker's /metrics: {missing}"
    # Families with samples by now (the worker has parsed, merged and rejected input).
    for name in (
        "wire_ingest_consumer_lag_messages",
        "wire_ingest_end_to_end_latency_seconds_bucket",
        "wire_ingest_items_rejected_total",
        "wire_ingest_events_emitted_total",
    ):
        assert name in present, f"{name} has no samples after the worker processed input"


def _gauge(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} is not in the worker's /metrics")


def test_the_last_commit_time_moves_with_every_commit_round(busy_worker: WorkerProcess):
    """What WireIngestCommitsStalled reads: a running worker ends a commit round a second."""
    name = "wire_ingest_last_commit_timestamp_seconds"
    first = _gauge(busy_worker.metrics_text(), name)
    assert first > 0
    wait_until(
        lambda: _gauge(busy_worker.metrics_text(), name) > first,
        timeout=15,
        what="another commit round",
    )


def test_every_exported_metric_is_on_the_dashboard(busy_worker: WorkerProcess):
    dashboard_names = {n for e in dashboard_exprs(load_json(DASHBOARD)) for n in metric_names(e)}
    families = {
        family.name: family.type
        for family in text_string_to_metric_families(busy_worker.metrics_text())
        if family.name.startswith("wire_ingest_")
    }
    absent = [
        name
        for name, kind in families.items()
        if not any(name + s in dashboard_names for s in _SUFFIXES.get(kind, ("",)))
    ]
    assert not absent, f"exported but on no dashboard panel: {absent}"


def _healthcheck_command() -> list[str]:
    _, stages = dockerfile_stages()
    healthcheck = stages[-1].args("HEALTHCHECK")[-1]
    exec_form = healthcheck[healthcheck.index("CMD") + len("CMD") :].strip()
    command = json.loads(exec_form)
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def test_the_image_healthcheck_command_probes_health(busy_worker: WorkerProcess):
    """The HEALTHCHECK's own command line, run here against a live and a closed port."""
    command = _healthcheck_command()
    env = {**os.environ, "WIRE_WEB_PORT": str(busy_worker.web_port)}
    live = subprocess.run(command, env=env, capture_output=True, timeout=10, check=False)
    assert live.returncode == 0, live.stderr
    env["WIRE_WEB_PORT"] = str(free_port())
    dead = subprocess.run(command, env=env, capture_output=True, timeout=10, check=False)
    assert dead.returncode != 0
