"""Whether a job that did not finish gets another attempt: the one place that decides it.

Attempts are counted in the task itself (`ResizeTask.attempt`), on classic and quorum queues
alike and on brokers that only speak classic (LavinMQ): a retry is a new message, published
after its backoff, so the broker's per-message delivery count would restart at every retry.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class TryAgain:
    attempt: int  # the next attempt's number


@dataclass(frozen=True)
class GiveUp:
    attempts: int  # how many were made


def after_attempt(attempt: int, max_attempts: int) -> TryAgain | GiveUp:
    """Attempt `attempt` did not finish (it failed, or its worker vanished)."""
    if attempt >= max_attempts:
        return GiveUp(attempt)
    return TryAgain(attempt + 1)
