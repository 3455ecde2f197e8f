"""The start's wait for the consumer group's coordinator (the broker's side: test_worker_e2e)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka import errors

from workers.stream.topics import _wait_for_group_coordinator


class Admin:
    """Answers find_coordinator with each of ``answers`` in turn (an exception is raised)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.asked = 0

    async def find_coordinator(self, group_id: str) -> int:
        self.asked += 1
        answer = self.answers[min(self.asked, len(self.answers)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        return int(answer)


def _wait(admin: Admin, timeout_s: float = 5.0) -> None:
    asyncio.run(_wait_for_group_coordinator(admin, "g", timeout_s))


def test_asks_again_while_the_broker_has_no_coordinator_yet() -> None:
    admin = Admin(
        errors.GroupCoordinatorNotAvailableError(),
        errors.CoordinatorLoadInProgressError(),
        1,
    )
    _wait(admin)
    assert admin.asked == 3


def test_gives_up_with_a_warning_past_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    admin = Admin(errors.GroupCoordinatorNotAvailableError())
    with caplog.at_level(logging.WARNING):
        _wait(admin, timeout_s=0.3)
    assert 2 <= admin.asked <= 6
    assert caplog.messages == [
        "no coordinator for group g after 0 s: [Error 15] GroupCoordinatorNotAvailableError"
    ]


def test_leaves_any_other_answer_to_the_consumer() -> None:
    admin = Admin(errors.GroupAuthorizationFailedError())
    _wait(admin)
    assert admin.asked == 1


def test_state_topics_that_disagree_name_the_reset_not_a_setting() -> None:
    """The repartition topic grown by hand to 6 partitions beside a 4-partition changelog:
    the old message sent on-call from WIRE_PARTITIONS=6 to =4 and back."""
    from workers.settings import Settings
    from workers.stream.topics import TopicConflictError, _check_state_partitions, changelog_topic

    settings = Settings(partitions=4)
    repartition, changelog = settings.repartition_topic, changelog_topic(settings)
    _check_state_partitions(settings, {repartition: 4, changelog: 4, settings.topic_raw: 12})
    _check_state_partitions(settings, {})  # a new app: created as set
    for wanted in (4, 6):
        with pytest.raises(TopicConflictError) as refused:
            _check_state_partitions(Settings(partitions=wanted), {repartition: 6, changelog: 4})
        assert str(refused.value) == (
            f"the story state's topics disagree on their partition count ('{repartition}' has "
            f"6, '{changelog}' has 4; one was changed by hand?): no WIRE_PARTITIONS fits both. "
            "Reset the state (see README, 'Resetting state')."
        )
    with pytest.raises(TopicConflictError, match="Set WIRE_PARTITIONS=4, or reset the state"):
        _check_state_partitions(Settings(partitions=8), {repartition: 4, changelog: 4})


def test_a_layout_changed_while_running_is_named_as_the_start_would() -> None:
    """The consumer's metadata after a state topic was grown by hand, or an assignment of a
    partition beyond WIRE_PARTITIONS: what the worker stops on (agents.check_layout)."""
    from workers.settings import Settings
    from workers.stream.topics import changelog_topic, running_layout_conflict

    settings = Settings(partitions=4)
    repartition, changelog = settings.repartition_topic, changelog_topic(settings)
    own = [(repartition, 3), (changelog, 3), (settings.topic_raw, 9)]
    assert running_layout_conflict(settings, {repartition: 4, changelog: 4}, own) is None
    assert running_layout_conflict(settings, {repartition: None, changelog: None}, []) is None
    grown = running_layout_conflict(settings, {repartition: 8, changelog: 4}, own)
    assert grown is not None
    assert grown.startswith("the story state's topics disagree on their partition count")
    beyond = running_layout_conflict(
        settings, {repartition: 4, changelog: None}, [*own, (repartition, 5)]
    )
    assert beyond == (
        f"assigned {repartition}[5], beyond the story state's 4 partitions (a state topic was "
        "grown by hand?). Reset the state (see README, 'Resetting state')."
    )


def test_partition_counts_come_from_the_clients_cluster_metadata() -> None:
    """Which every worker refreshes; Faust's topic_partitions reads a snapshot that aiokafka
    keeps on the group's leader only."""
    from types import SimpleNamespace

    from workers.stream.topics import partition_counts

    class Cluster:
        @staticmethod
        def partitions_for_topic(topic: str) -> set[int] | None:
            return {"a": set(range(8)), "b": set(range(4))}.get(topic)

    consumer = SimpleNamespace(
        _thread=SimpleNamespace(
            _consumer=SimpleNamespace(_client=SimpleNamespace(cluster=Cluster()))
        )
    )
    assert partition_counts(consumer, ["a", "b", "c"]) == {"a": 8, "b": 4, "c": None}
    assert partition_counts(SimpleNamespace(), ["a"]) == {"a": None}  # not started: unknown
