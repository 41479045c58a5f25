"""The one decision on a job that did not finish: another attempt, or give up."""

from worker_service.retry import GiveUp, TryAgain, after_attempt


def test_a_job_gets_attempts_up_to_the_limit_and_no_more() -> None:
    assert after_attempt(1, 5) == TryAgain(2)
    assert after_attempt(4, 5) == TryAgain(5)
    assert after_attempt(5, 5) == GiveUp(5)
    assert after_attempt(1, 1) == GiveUp(1)
