"""The Grafana dashboard imports as it is into any Grafana (its Prometheus is a variable), and
every alerting rule has what the one paged needs: a `for:`, a severity and a summary."""

import re

from tests.deploy_monitoring import alert_rules, dashboard, panels

DURATION = re.compile(r"^\d+[smhd]$")


def test_every_panel_reads_the_prometheus_the_importer_picks() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels():
        sources = [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
        assert all(s == {"type": "prometheus", "uid": "${datasource}"} for s in sources), panel
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        place = panel["gridPos"]
        assert place["x"] + place["w"] <= 24, panel["title"]


def test_the_dashboard_has_a_panel_for_each_question_of_an_operator_at_3_am() -> None:
    read = {panel["title"]: " ".join(t["expr"] for t in panel["targets"]) for panel in panels()}
    wanted = [
        "resize_submits_total",
        "resize_jobs_current",
        "resize_oldest_queued_seconds",
        "resize_jobs_total",
        "resize_job_failures_total",
        "resize_job_duration_seconds_bucket",
        "resize_variant_render_seconds_bucket",
        "resize_jobs_in_flight",
        "libvips_tracked_memory_bytes",
        "webhook_deliveries_total",
        "resize_broker_outage_active",
    ]
    for metric in wanted:
        assert any(metric in expr for expr in read.values()), metric


def test_every_alert_says_how_long_how_bad_and_what_to_do() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert {
        "ResizeOldestQueuedJobTooOld",
        "ResizeBacklogGrowing",
        "ResizeFailureRatioHigh",
        "ResizeNoConsumers",
        "ResizeDeadLetters",
        "ResizeWebhooksFailing",
        "ResizeApiNotReady",
        "ResizeBrokerOutage",
    } <= set(names)
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert len(rule["annotations"]["summary"]) > 40, rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
