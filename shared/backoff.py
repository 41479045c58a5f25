"""Backoff arithmetic: how long a job's or a webhook's next try waits after each failure.

Plain numbers, no broker: the delay tiers in `shared.topology` are named by these waits, and
a message picks its tier with `tier_after` and its own expiration with `jittered`.
"""

import random
from collections.abc import Sequence

# Webhook retries grow faster than the workers' (x4 against x2 per failure): a handful of
# tiers spans the hours a receiver may be down for.
WEBHOOK_BACKOFF_FACTOR = 4.0


def backoff_delay_ms(
    failed_attempts: int, base_seconds: float, max_seconds: float, factor: float = 2.0
) -> int:
    """The longest wait after `failed_attempts` failures: base times `factor` per failure
    (doubled by default), capped."""
    delay = min(base_seconds * factor ** (failed_attempts - 1), max_seconds)
    return max(1, round(delay * 1000))


def backoff_tiers(
    max_attempts: int, base_seconds: float, max_seconds: float, factor: float = 2.0
) -> tuple[int, ...]:
    """The wait after each failure but the last of `max_attempts` tries (`backoff_delay_ms`)."""
    return tuple(
        backoff_delay_ms(failed, base_seconds, max_seconds, factor)
        for failed in range(1, max_attempts)
    )


def jittered(delay_ms: int) -> int:
    """Equal jitter: between half and all of the tier's delay, so retries do not stampede."""
    return random.randint(delay_ms // 2, delay_ms)


def tier_after(delays_ms: Sequence[int], failed_attempts: int) -> int:
    """The tier to wait in after `failed_attempts` failures (the last tier beyond)."""
    return delays_ms[min(failed_attempts, len(delays_ms)) - 1]
