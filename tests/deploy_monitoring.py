"""The monitoring files in deploy/ as the tests read them: every PromQL expression of the Grafana
dashboard and of the Prometheus alerting rules, with where it comes from."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy/grafana/image-resize.json"
RULES = ROOT / "deploy/prometheus/image-resize-alerts.yaml"
LABEL_VALUES = re.compile(r"label_values\((\w+),\s*(\w+)\)")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(RULES.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def expressions() -> Iterator[tuple[str, str]]:
    """(where, expr) for every query the dashboard runs and every rule evaluates."""
    for panel in panels():
        for target in panel["targets"]:
            yield f"panel {panel['title']!r}", target["expr"]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(metric, label) reads the metric's series that carry the label.
            metric, label = LABEL_VALUES.fullmatch(variable["definition"]).groups()  # type: ignore[union-attr]
            yield f"variable {variable['name']!r}", f'{metric}{{{label}!=""}}'
    for rule in alert_rules():
        yield f"alert {rule['alert']}", rule["expr"]
