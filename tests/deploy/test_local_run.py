"""``make run`` (deploy/local/run.sh): it never takes another worker's health page for its own,
and never deletes a state folder the user named."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

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
