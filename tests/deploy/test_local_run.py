"""``make run`` (deploy/local/run.sh): the seeds' two events on a real broker, a Ctrl-C that
stops what it started, a worker that exits said with its code; it never takes another worker's
health page for its own, and never deletes a state folder the user named."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.broker import KAFKA_SH, REPO_ROOT, free_port, own_broker
from tests.support.waiting import wait_until
from tests.support.worker import Names

RUN = Path(__file__).resolve().parents[2] / "deploy" / "local" / "run.sh"


class _Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # a worker's /health and /health/ready, both 200
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"ready": true}')

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def another_worker() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_make_run_refuses_to_start_beside_a_worker_answering_on_its_port(
    another_worker: int, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "WIRE_WEB_HOST": "127.0.0.1",
        "WIRE_WEB_PORT": str(another_worker),
        "WIRE_INGEST_CACHE": str(tmp_path),
    }
    env.pop("KAFKA_BOOTSTRAP", None)  # it would otherwise start a broker first
    done = subprocess.run(
        ["bash", str(RUN)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"run: something already answers on 127.0.0.1:{another_worker} (another worker?); "
        "stop it or set WIRE_WEB_PORT\n"
    )
    assert list(tmp_path.iterdir()) == []  # no broker, no worker, no log


def test_make_run_never_deletes_a_state_dir_the_user_gave(tmp_path: Path) -> None:
    """A new broker has no changelog for the state a user's WIRE_STATE_DIR holds: refused."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "precious").write_text("kept")
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "WIRE_WEB_HOST": "127.0.0.1",
        "WIRE_WEB_PORT": "1",  # nothing answers there
        "WIRE_INGEST_CACHE": str(cache),  # no broker of this cache is running
        "WIRE_STATE_DIR": str(state),
    }
    env.pop("KAFKA_BOOTSTRAP", None)
    done = subprocess.run(
        ["bash", str(RUN)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert (
        f"run: WIRE_STATE_DIR={state} holds state, but a new broker would have no changelog "
        "for it; empty it or unset WIRE_STATE_DIR\n"
    ) in done.stderr
    assert (state / "precious").read_text() == "kept"
    assert "started pid" not in done.stderr  # refused before any broker was started
    assert not list(cache.rglob("kafka.pid"))


@dataclass
class _Run:
    """``run.sh`` started as a user's ``make run``, in a session of its own (a terminal's
    process group), its output in files."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    port: int

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def worker_pid(self) -> int:
        found = re.search(r"run: worker pid (\d+),", self.stderr())
        assert found, self.stderr()
        return int(found.group(1))

    def wait_for_both_seed_events(self) -> None:
        wait_until(
            lambda: "story.created" in self.stdout() and "story.updated" in self.stdout(),
            180,
            "the seeds' story.created and story.updated",
            interval=0.5,
            on_timeout=lambda: self.stdout() + self.stderr(),
        )


@pytest.fixture
def make_run(kafka_bootstrap: str, tmp_path: Path) -> Iterator[_Run]:
    """``run.sh`` on the session's broker (``KAFKA_BOOTSTRAP`` set: it starts none), with this
    test's own topics and group, until the seeds' events are printed."""
    port = free_port()
    env = {
        **os.environ,
        **Names.fresh("run").env(),
        "KAFKA_BOOTSTRAP": kafka_bootstrap,
        "WIRE_WEB_HOST": "127.0.0.1",
        "WIRE_WEB_PORT": str(port),
        "WIRE_INGEST_CACHE": str(tmp_path / "cache"),
        "WIRE_STATE_DIR": str(tmp_path / "state"),
    }
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            ["bash", str(RUN)], env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
    run = _Run(proc, out, err, port)
    try:
        run.wait_for_both_seed_events()
        yield run
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.integration
def test_make_run_shows_the_seeds_story_and_stops_what_it_started_on_ctrl_c(
    make_run: _Run,
) -> None:
    events = [line for line in make_run.stdout().splitlines() if line.startswith("story.")]
    assert [line.split()[0] for line in events] == ["story.created", "story.updated"]
    assert len({line.split()[1] for line in events}) == 1  # one story key: the update merged
    assert (
        f"run: worker ready; metrics at http://127.0.0.1:{make_run.port}/metrics"
        in make_run.stderr()
    )
    worker = make_run.worker_pid()
    os.killpg(make_run.proc.pid, signal.SIGINT)  # Ctrl-C: the terminal's whole process group
    assert make_run.proc.wait(60) == 0, make_run.stderr()
    assert make_run.stderr().endswith("run: stopped.\n"), make_run.stderr()
    wait_until(lambda: not _alive(worker), 30, "the worker gone")


@pytest.mark.integration
def test_make_run_says_when_the_worker_exits_on_its_own(make_run: _Run) -> None:
    os.kill(make_run.worker_pid(), signal.SIGKILL)
    assert make_run.proc.wait(60) == 1, make_run.stderr()
    assert "run: the worker exited with code 137; last log lines:" in make_run.stderr()


def test_make_run_says_with_its_code_when_the_worker_exits_before_it_is_ready(
    tmp_path: Path,
) -> None:
    """A worker refusing its settings (exit 2) has not reached readiness: said with its code."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # never reached: the settings go first
        "WIRE_START_TIMEOUT_S": "0",  # and were they accepted, no waiting for it either
        "WIRE_WEB_HOST": "127.0.0.1",
        "WIRE_WEB_PORT": str(free_port()),
        "WIRE_INGEST_CACHE": str(tmp_path / "cache"),
        "WIRE_STATE_DIR": str(tmp_path / "state"),
        "WIRE_PARTITIONS": "0",
    }
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            ["bash", str(RUN)], env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
    run = _Run(proc, out, err, int(env["WIRE_WEB_PORT"]))
    try:
        assert proc.wait(180) == 1, run.stderr()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the script and the worker it started
            proc.wait(30)
    assert "run: the worker exited with code 2; last log lines:\n" in run.stderr()
    assert "WIRE_PARTITIONS must be at least 1" in run.stderr()


@pytest.mark.integration
def test_make_run_uses_a_local_broker_already_running_and_leaves_it_up(tmp_path: Path) -> None:
    """README, "Two commands": a local broker already running is used and left running, and
    the run's own state folder (``<cache>/run-state-<web port>``) is emptied at each start."""
    web_port = free_port()
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with own_broker() as broker:
        # kafka.sh finds the broker by its port in the cache it was started from; run.sh
        # keeps its own state and log in that cache too.
        env = {**broker._env(), **Names.fresh("run").env()}
        cache = Path(env.get("WIRE_INGEST_CACHE") or REPO_ROOT / ".cache")
        env |= {"WIRE_WEB_HOST": "127.0.0.1", "WIRE_WEB_PORT": str(web_port)}
        for name in ("KAFKA_BOOTSTRAP", "WIRE_STATE_DIR"):
            env.pop(name, None)
        state, log = cache / f"run-state-{web_port}", cache / f"run-worker-{web_port}.log"
        try:
            broker.start()
            state.mkdir(parents=True, exist_ok=True)
            (state / "left-by-an-earlier-run").write_text("a new broker has no changelog for it")
            with out.open("wb") as stdout, err.open("wb") as stderr:
                proc = subprocess.Popen(
                    ["bash", str(RUN)],
                    env=env,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                )
            run = _Run(proc, out, err, web_port)
            try:
                run.wait_for_both_seed_events()
                os.killpg(proc.pid, signal.SIGINT)
                assert proc.wait(60) == 0, run.stderr()
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(30)
            assert (
                "run: using the local broker already running; it stays up after Ctrl-C\n"
                f"run: broker at {broker.bootstrap}\n"
            ) in run.stderr()
            assert "kafka.sh: stopping" not in run.stderr()
            assert broker.is_running()
            status = subprocess.run(
                [str(KAFKA_SH), "status"], env=env, capture_output=True, text=True, check=False
            )
            assert (status.returncode, status.stdout) == (0, f"{broker.bootstrap}\n")
            assert not (state / "left-by-an-earlier-run").exists()
        finally:
            shutil.rmtree(state, ignore_errors=True)
            log.unlink(missing_ok=True)
