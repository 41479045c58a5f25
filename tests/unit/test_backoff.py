from shared.backoff import backoff_delay_ms, jittered


def test_backoff_doubles_per_failure_up_to_the_cap() -> None:
    delays = [backoff_delay_ms(n, base_seconds=2, max_seconds=10) for n in range(1, 6)]
    assert delays == [2000, 4000, 8000, 10000, 10000]


def test_jitter_stays_between_half_and_all_of_the_tier() -> None:
    waits = {jittered(10_000) for _ in range(2000)}
    assert min(waits) >= 5_000
    assert max(waits) <= 10_000
    assert len(waits) > 100
