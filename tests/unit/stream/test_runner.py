"""The worker's start and stop: the web address and the state directory checked first; a stop
while it waits for the broker; no commit covers a message that was only buffered."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.broker import free_port
from workers.settings import Settings
from workers.stream.runner import (
    drain_and_commit,
    run_worker,
    state_dir_problem,
    web_address_problem,
)


def test_a_graceful_stop_empties_the_stream_buffers_before_it_commits() -> None:
    calls: list[str] = []

    class Consumer:
        def stop_flow(self) -> None:
            calls.append("stop_flow")

        async def commit(self) -> None:
            calls.append("commit")

    class FlowControl:
        def suspend(self) -> None:
            calls.append("suspend")

        def clear(self) -> None:
            calls.append("clear buffers")

    progress = SimpleNamespace(in_flight=1)

    async def go() -> None:
        async def finish_in_hand() -> None:
            await asyncio.sleep(0.05)
            calls.append("message in hand done")
            progress.in_flight = 0

        finishing = asyncio.ensure_future(finish_in_hand())
        wire: Any = SimpleNamespace(
            app=SimpleNamespace(consumer=Consumer(), flow_control=FlowControl()),
            progress=progress,
        )
        await drain_and_commit(wire, timeout_s=5.0)
        await finishing

    asyncio.run(go())
    assert calls == [
        "stop_flow",
        "suspend",
        "clear buffers",
        "message in hand done",
        "commit",
        "commit",
    ]


def test_a_web_port_in_use_stops_the_worker_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        settings = Settings(web_host="127.0.0.1", web_port=port, state_dir=tmp_path / "state")
        assert run_worker(settings) == 2  # before any broker is asked for anything
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"127.0.0.1:{port} cannot be listened on" in err
    assert "WIRE_WEB_PORT" in err
    assert not (tmp_path / "state").exists()


def test_a_free_web_port_is_no_problem() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    assert web_address_problem(Settings(web_host="127.0.0.1", web_port=port)) is None


def test_a_state_dir_that_cannot_be_made_stops_the_worker_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = Settings(web_host="127.0.0.1", web_port=free_port(), state_dir=blocker / "state")
    assert run_worker(settings) == 2  # before any broker is asked for anything
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"wire-ingest: WIRE_STATE_DIR='{blocker / 'state'}' cannot be made")


def test_a_state_dir_is_made_when_missing(tmp_path: Path) -> None:
    assert state_dir_problem(Settings(state_dir=tmp_path / "new" / "state")) is None
    assert (tmp_path / "new" / "state").is_dir()


def test_a_signal_while_waiting_for_the_broker_stops_the_worker_with_exit_0(tmp_path: Path) -> None:
    """Kubernetes stops a pod with SIGTERM; one that still waits for the broker must not die
    of it (exit 143), as the worker's own handlers come only once it starts."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # nothing listens there
        "WIRE_START_TIMEOUT_S": "60",
        "WIRE_STATE_DIR": str(tmp_path / "state"),
        "WIRE_WEB_PORT": str(free_port()),
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", "from workers.cli import main; main()", "worker"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stderr is not None
        deadline = time.monotonic() + 30
        for line in worker.stderr:  # waiting: its first retry warning says so
            if "retrying in" in line:
                break
            assert time.monotonic() < deadline, "no retry warning"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
        rest = worker.stderr.read()
    finally:
        worker.kill()
        worker.wait()
    assert rest.strip().splitlines()[-1] == (
        "wire-ingest: stopped by a signal while waiting for the broker"
    )


def test_a_second_worker_on_a_state_dir_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    """Two workers on one state dir: the second used to join the group, take partitions,
    wait for RocksDB's lock and crash with a traceback (exit 1) a rebalance later."""
    state = tmp_path / "state"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # never asked: refused before
        "WIRE_STATE_DIR": str(state),
        "WIRE_START_TIMEOUT_S": "60",
    }
    first = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "worker"],
        env={**env, "WIRE_WEB_PORT": str(free_port())},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stderr is not None
        for line in first.stderr:  # waiting for the broker: it holds the dir by then
            if "retrying in" in line:
                break
        second = subprocess.run(
            [sys.executable, "-m", "workers.cli", "worker"],
            env={**env, "WIRE_WEB_PORT": str(free_port())},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        first.terminate()
        first.wait(timeout=30)
    assert second.returncode == 2, second.stderr
    assert second.stderr == (
        f"wire-ingest: WIRE_STATE_DIR='{state}' is in use by another worker (pid {first.pid} on"
        " this host); give each worker a state dir of its own\n"
    )


def test_a_state_dir_that_is_a_file_is_named_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    settings = Settings(web_host="127.0.0.1", web_port=free_port(), state_dir=afile)
    assert run_worker(settings) == 2
    assert (
        capsys.readouterr().err
        == f"wire-ingest: WIRE_STATE_DIR='{afile}' is a file, not a directory\n"
    )


def test_a_state_dir_this_user_cannot_write_is_named_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """RocksDB would fail in it only once the table opens. (Root writes where its mode
    forbids it, so the access check is what is made to say no.)"""
    state = tmp_path / "read-only"
    state.mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: access(path, mode) and Path(path) != state)
    settings = Settings(
        web_host="127.0.0.1",
        web_port=free_port(),
        state_dir=state,
        # Without the check, the worker would go on to the broker: none there, and no wait.
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        start_timeout_s=0,
    )
    assert run_worker(settings) == 2
    assert (
        capsys.readouterr().err
        == f"wire-ingest: WIRE_STATE_DIR='{state}' is not writable by this user\n"
    )
    assert list(state.iterdir()) == []  # no lock file claimed in it


def test_a_web_host_that_is_no_address_of_this_host_names_wire_web_host() -> None:
    # TEST-NET-3 (RFC 5737): documentation only, never an address of this host.
    problem = web_address_problem(Settings(web_host="203.0.113.7", web_port=free_port()))
    assert problem is not None
    assert problem.endswith("203.0.113.7 is no address of this host: set WIRE_WEB_HOST")


def test_a_worker_waiting_for_the_broker_answers_live_not_ready_with_the_client_errors(
    tmp_path: Path,
) -> None:
    """Restarted during a broker outage, a worker used to answer nothing for up to
    WIRE_START_TIMEOUT_S: it looked down, and the alert on the client's errors could not fire."""
    import urllib.error
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # nothing listens there
        "WIRE_START_TIMEOUT_S": "60",
        "WIRE_STATE_DIR": str(tmp_path / "state"),
        "WIRE_WEB_PORT": str(port),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "worker"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert worker.stderr is not None
        for line in worker.stderr:  # waiting: its first retry warning says so
            if "retrying in" in line:
                break
        with urllib.request.urlopen(f"{url}/health", timeout=10) as answer:
            health = json.loads(answer.read())
        assert (health["status"], health["live"], health["ready"]) == (
            "waiting for Kafka",
            True,
            False,
        )
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"{url}/health/ready", timeout=10)
        assert not_ready.value.code == 503
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
            families = {f.name: f for f in text_string_to_metric_families(answer.read().decode())}
        assert families["wire_ingest_ready"].samples[0].value == 0
        errors = families["wire_ingest_kafka_client_errors"].samples
        assert sum(s.value for s in errors if s.name.endswith("_total")) >= 1
        assert "process_start_time_seconds" in families
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    finally:
        worker.kill()
        worker.wait()
