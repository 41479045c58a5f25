"""The one decision on a job that did not finish: another attempt and when, or give up."""

from worker_service.retry import Ended, GiveUp, TryAgain, after_attempt

TIERS = (1000, 2000, 4000)


def test_a_job_gets_attempts_up_to_the_limit_and_no_more() -> None:
    assert after_attempt(1, Ended.FAILED, 5, TIERS) == TryAgain(2, 1000)
    assert after_attempt(4, Ended.FAILED, 5, TIERS) == TryAgain(5, 4000)
    assert after_attempt(5, Ended.FAILED, 5, TIERS) == GiveUp(5)
    assert after_attempt(1, Ended.FAILED, 1, TIERS) == GiveUp(1)


def test_each_failure_waits_out_its_tier_and_the_last_tier_beyond() -> None:
    delays = [after_attempt(n, Ended.FAILED, 10, TIERS) for n in range(1, 6)]
    assert [d.delay_ms for d in delays if isinstance(d, TryAgain)] == [1000, 2000, 4000, 4000, 4000]


def test_a_lost_delivery_counts_as_an_attempt_and_runs_again_at_once() -> None:
    assert after_attempt(2, Ended.LOST, 5, TIERS) == TryAgain(3, None)
    assert after_attempt(5, Ended.LOST, 5, TIERS) == GiveUp(5)
