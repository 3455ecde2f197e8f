"""HTTP pages on the Faust web server: Prometheus ``/metrics`` and ``/health``."""

from __future__ import annotations

from typing import Any

from faust.exceptions import ConsumerNotStarted
from prometheus_client import CONTENT_TYPE_LATEST

from workers.stream.app import WireApp


def health_state(wire: WireApp) -> dict[str, Any]:
    """Liveness is 'the event loop answers'; readiness also needs assigned, recovered state
    and every agent alive (an agent that died outside its guard is named in ``crashed``)."""
    app = wire.app
    recovering = bool(getattr(app, "in_recovery", False))
    rebalancing = bool(getattr(app, "rebalancing", False))
    started = bool(getattr(app, "_started", None) and app._started.is_set())
    recovered = bool(wire.progress is not None and wire.progress.recovered)
    crashed = dict(wire.progress.crashed) if wire.progress is not None else {}
    ready = started and recovered and not recovering and not rebalancing and not crashed
    wire.metrics.ready.set(int(ready))
    status = _status(
        ready=ready,
        crashed=bool(crashed),
        started=started,
        rebalancing=rebalancing,
        recovering=recovering,
    )
    return {
        "assigned": _assigned(wire) if started else {},
        "status": status,
        "live": True,
        "ready": ready,
        "recovering": recovering,
        "rebalancing": rebalancing,
        "crashed": crashed,
        "version": wire.version,
    }


def _status(
    *, ready: bool, crashed: bool, started: bool, rebalancing: bool, recovering: bool
) -> str:
    """One word for on-call: what keeps the worker from being ready, the gravest first.

    Started, and neither rebalancing nor recovering, a worker not ready yet has not been
    given its partitions: its first rebalance has not begun (it is joining the group).
    """
    if ready:
        return "ready"
    if crashed:
        return "agent crashed"
    if not started:
        return "starting"
    if rebalancing:
        return "rebalancing"
    return "recovering" if recovering else "joining the group"


def _assigned(wire: WireApp) -> dict[str, list[int]]:
    """Partitions of the raw and repartition topics this worker consumes now."""
    wanted = {wire.settings.topic_raw, wire.settings.repartition_topic}
    out: dict[str, list[int]] = {topic: [] for topic in sorted(wanted)}
    try:
        assignment = wire.app.consumer.assignment()
    except (AttributeError, AssertionError, ConsumerNotStarted):  # its thread is starting
        return out
    for tp in assignment:
        if tp.topic in wanted:
            out[tp.topic].append(tp.partition)
    return {topic: sorted(parts) for topic, parts in out.items()}


def register_pages(wire: WireApp) -> None:
    app = wire.app

    @app.page("/metrics")
    async def metrics(web: Any, _request: Any) -> Any:
        health_state(wire)  # sets the readiness gauge for this scrape
        return web.bytes(wire.metrics.render(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health(web: Any, _request: Any) -> Any:
        return web.json(health_state(wire))

    @app.page("/health/ready")
    async def ready(web: Any, _request: Any) -> Any:
        state = health_state(wire)
        return web.json(state, status=200 if state["ready"] else 503)
