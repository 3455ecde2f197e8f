"""The worker's start and stop: the web address checked first; no commit covers a message
that was only buffered."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from workers.settings import Settings
from workers.stream.runner import drain_and_commit, run_worker, web_address_problem


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
