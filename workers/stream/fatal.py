"""Stopping the worker at once, for the few errors that no retry and no DLQ record can mend.

Leaving with ``os._exit`` is deliberate: after such an error no commit may happen, and a
graceful Faust stop commits. Uncommitted inputs are processed again at the next start, which
the outbox makes safe (state.py). Exit codes are documented in the README.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

log = logging.getLogger(__name__)

EXIT_TOPIC_CONFLICT = 3  # the state topics do not fit WIRE_PARTITIONS (at start or later)
EXIT_DELIVERY_FAILED = 5  # the broker did not take a record
EXIT_STATE_FORMAT = 6  # the table holds state this release cannot read
EXIT_REPOSITION_FAILED = 7  # the input partitions could not be put back after a rebalance
EXIT_DEAD_LETTER_FAILED = 8  # a message an agent failed on could not be dead-lettered
EXIT_FAULT_INJECTION = 9  # WIRE_FAULT_INJECTION=exit-after-state-write (tests only)
EXIT_STATE_STORE_FAILED = 10  # the table's local store failed to read or write (a full disk)
EXIT_GROUP_FAILED = 11  # the consumer group's coordination ended with an error (group.py)
EXIT_MEMBERSHIP_LAPSED = 12  # records made under a lapsed group membership (membership.py)


def stop(reason: str, code: int) -> NoReturn:
    """Log one line, flush the logs, and end the process with ``code``."""
    log.critical("%s", reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(code)
