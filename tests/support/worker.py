"""Run ``wire-ingest worker`` as a real subprocess, the way operators run it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.broker import free_port
from tests.support.fixtures import CORPUS_RETENTION_ENV
from tests.support.waiting import wait_until


@dataclass(frozen=True)
class Names:
    """One test's private app id and topic names, so tests never see each other's data."""

    app_id: str
    raw: str
    events: str
    latest: str
    dlq: str

    @classmethod
    def fresh(cls, label: str = "t") -> Names:
        tag = f"{label}-{uuid.uuid4().hex[:8]}"
        return cls(
            app_id=f"wi-{tag}",
            raw=f"{tag}.wire.raw",
            events=f"{tag}.stories.events",
            latest=f"{tag}.stories.latest",
            dlq=f"{tag}.wire.dlq",
        )

    def env(self) -> dict[str, str]:
        return {
            "WIRE_APP_ID": self.app_id,
            "WIRE_TOPIC_RAW": self.raw,
            "WIRE_TOPIC_EVENTS": self.events,
            "WIRE_TOPIC_LATEST": self.latest,
            "WIRE_TOPIC_DLQ": self.dlq,
        }


@dataclass
class WorkerProcess:
    bootstrap: str
    names: Names
    state_dir: Path
    log_path: Path
    partitions: int = 4
    extra_env: dict[str, str] = field(default_factory=dict)
    # The module run as ``python -m MODULE worker``: a fault-injecting launcher may wrap it.
    module: str = "workers.cli"
    web_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            **self.names.env(),
            "KAFKA_BOOTSTRAP": self.bootstrap,
            "WIRE_PARTITIONS": str(self.partitions),
            "WIRE_STATE_DIR": str(self.state_dir),
            "WIRE_WEB_HOST": "127.0.0.1",
            "WIRE_WEB_PORT": str(self.web_port),
            "WIRE_LOG_LEVEL": "info",
            # Test workers are fed the fixture corpus (17 months, filed by name); the expiry
            # tests set their own retention in extra_env.
            **CORPUS_RETENTION_ENV,
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, b""

    def wait_ready(self, timeout: float = 120.0) -> None:
        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"worker exited early:\n{self.log_tail()}")
            return self._get("/health/ready")[0] == 200

        wait_until(ready, timeout, f"worker ready on {self.url}", on_timeout=self.log_tail)

    def health(self) -> dict[str, object]:
        status, body = self._get("/health")
        assert status == 200, f"/health answered {status}"
        return dict(json.loads(body))

    def health_if_answering(self) -> dict[str, object] | None:
        """``/health``, or None while the worker does not answer it (not started yet, stopping,
        or its event loop busy past the request's timeout): for waits that poll it."""
        status, body = self._get("/health")
        return dict(json.loads(body)) if status == 200 else None

    def raw_partitions(self) -> list[int]:
        assigned = self.health().get("assigned") or {}
        assert isinstance(assigned, dict)
        return list(assigned.get(self.names.raw, []))

    def metrics(self) -> dict[str, float]:
        """Scrape /metrics: sample name with sorted labels -> value."""
        status, body = self._get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return samples

    def metrics_text(self) -> str:
        return self._get("/metrics")[1].decode()

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM and wait; returns how long the worker took to exit."""
        assert self.proc is not None
        started = time.monotonic()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"worker ignored SIGTERM for {timeout}s:\n{self.log_tail()}"
            ) from None
        return time.monotonic() - started

    def wait_exit(self, timeout: float) -> int:
        """The exit code, once the worker ended by itself; fails (and kills it) after
        ``timeout``."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"the worker was still running after {timeout:.0f}s:\n{self.log_tail()}"
            ) from None

    def freeze(self) -> None:
        """SIGSTOP: the process stops as a paused VM or a host deep in swap would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None and self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
