"""The worker's Kafka client builds its batches on a thread when there is compression to do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from workers.settings import Settings
from workers.stream.app import create_app
from workers.stream.batch_builds import offload_batch_builds


@pytest.mark.parametrize(("compression", "offloaded"), [("zstd", True), ("none", False)])
def test_the_workers_client_builds_batches_on_a_thread_only_with_compression(
    tmp_path: Path, compression: str, offloaded: bool
) -> None:
    settings = Settings(compression=compression, state_dir=tmp_path)
    wire = create_app(settings)

    async def client_send_name() -> str:
        client = wire.app.producer._new_producer()
        try:
            return str(client._sender._send_produce_req.__name__)
        finally:
            await client.stop()  # never started: closes what the constructor opened

    name = asyncio.run(client_send_name())
    assert (name == "built_then_sent") is offloaded


def test_a_client_without_the_sender_it_knows_is_left_as_it_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Elsewhere:
        _sender = object()

    client = Elsewhere()
    assert not offload_batch_builds(client)
    assert not offload_batch_builds(object())
    assert client._sender is Elsewhere._sender
    assert "batches stay on the loop" in caplog.text
