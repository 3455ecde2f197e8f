"""``make run`` (deploy/local/run.sh): it never takes another worker's health page for its own."""

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
