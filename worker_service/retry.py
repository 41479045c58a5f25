"""Whether a job that did not finish gets another attempt, and after how long: the one place
that decides it, a pure function of the attempt, what ended it and the settings.

Attempts are counted in the task itself (`ResizeTask.attempt`), on classic and quorum queues
alike and on brokers that only speak classic (LavinMQ): a retry is a new message, published
after its backoff, so the broker's per-message delivery count would restart at every retry.

A failed attempt waits out the backoff tier of its number (the last tier beyond); a delivery
whose worker vanished is counted as an attempt and runs again at once, from the retry queue.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from shared.backoff import tier_after


class Ended(Enum):
    FAILED = "failed"  # the attempt failed, and may succeed if tried again
    LOST = "lost"  # its worker vanished before settling the delivery


@dataclass(frozen=True)
class TryAgain:
    attempt: int  # the next attempt's number
    delay_ms: int | None  # the backoff tier to wait in; None: at once


@dataclass(frozen=True)
class GiveUp:
    attempts: int  # how many were made


def after_attempt(
    attempt: int, ended: Ended, max_attempts: int, tiers_ms: Sequence[int]
) -> TryAgain | GiveUp:
    """What follows attempt `attempt`, which did not finish; `tiers_ms` are the backoff tiers
    after the first failure, the second, and so on."""
    if attempt >= max_attempts:
        return GiveUp(attempt)
    if ended is Ended.LOST:
        return TryAgain(attempt + 1, None)
    return TryAgain(attempt + 1, tier_after(tiers_ms, attempt))
