"""``/health``, ``/health/ready`` and ``/metrics`` while a starting worker waits for the broker.

Faust's web server starts with the worker, after the wait for an unreachable broker
(``WIRE_START_TIMEOUT_S``, 300 s by default). Without these pages a worker restarted during a
broker outage answers nothing for that long: it looks down (``WireIngestWorkerDown``), and the
alert that names the cause (``WireIngestKafkaUnreachable``, on the client's error count) cannot
fire. Meanwhile the worker is live and not ready, its status says ``waiting for Kafka``, and
its metrics count the client's errors. The pages close before Faust's server takes the port.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from workers import __version__
from workers.metrics import Metrics
from workers.settings import Settings

WAITING = "waiting for Kafka"


def waiting_state() -> dict[str, Any]:
    """What ``/health`` says while the worker waits: the shape of the running worker's."""
    return {
        "assigned": {},
        "status": WAITING,
        "live": True,
        "ready": False,
        "recovering": False,
        "rebalancing": False,
        "crashed": {},
        "version": __version__,
    }


async def serve_while_waiting(settings: Settings, metrics: Metrics) -> web.AppRunner:
    """Start the pages on the worker's web address; ``await runner.cleanup()`` ends them."""

    async def health(_request: web.Request) -> web.Response:
        return web.json_response(waiting_state())

    async def ready(_request: web.Request) -> web.Response:
        return web.json_response(waiting_state(), status=503)

    async def scrape(_request: web.Request) -> web.Response:
        metrics.ready.set(0)
        return web.Response(body=metrics.render(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.web_host, settings.web_port, reuse_address=True).start()
    return runner
