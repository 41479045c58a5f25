"""How often the retention sweep runs."""

from datetime import timedelta

from producer_service.background.retention import sweep_interval_seconds


def test_a_sweep_runs_at_a_tenth_of_the_retention_between_a_second_and_a_minute() -> None:
    assert sweep_interval_seconds(timedelta(hours=24)) == 60.0
    assert sweep_interval_seconds(timedelta(minutes=5)) == 30.0
    assert sweep_interval_seconds(timedelta(seconds=2)) == 1.0
