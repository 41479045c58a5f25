"""The PromQL reader the deploy-file tests use finds every series an expression reads, and only
those: a misspelt metric or label in a dashboard or rule cannot slip past it."""

from tests.promql import Selector, selectors


def test_it_finds_the_series_inside_functions_aggregations_and_operators() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, format) "
        '(rate(resize_variant_render_seconds_bucket{format="webp"}[5m])))'
        " / clamp_min(sum(rate(resize_jobs_total[15m:1m])), 1e-9) > 0.1"
        ' and max by (queue) (resize_queue_consumers{queue="$queue", instance!~"a.*"}) == 0'
    )
    assert selectors(expr) == [
        Selector("resize_variant_render_seconds_bucket", frozenset({"format"})),
        Selector("resize_jobs_total", frozenset()),
        Selector("resize_queue_consumers", frozenset({"queue", "instance"})),
    ]


def test_label_values_in_matchers_and_grouping_labels_are_not_taken_for_series() -> None:
    expr = (
        'sum by (instance) (rate(http_requests_total{route="/readyz",status="503"}[5m])) > 0'
        " unless on (instance) up_to_date offset 5m"
    )
    assert [s.metric for s in selectors(expr)] == ["http_requests_total", "up_to_date"]
