"""What a PromQL expression reads: each metric name with the label names its selector matches on.
Enough to check that a dashboard or an alert rule names only series the services export
(promtool is not available here). It reads the subset of PromQL the deploy files use: selectors,
function calls, aggregations with `by (...)`, ranges and subqueries, binary operators."""

import re
from dataclasses import dataclass

# Their parentheses hold label names, not series.
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_SELECTOR = re.compile(r"(?P<name>[a-zA-Z_:][\w:]*)\s*(?P<matchers>\{[^}]*\})?\s*(?P<call>\()?")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


@dataclass(frozen=True)
class Selector:
    metric: str
    labels: frozenset[str]


def selectors(expr: str) -> list[Selector]:
    """The series selectors of `expr`, in order."""
    bare = _RANGE.sub("", _GROUPING.sub("", expr))
    found = []
    for match in _SELECTOR.finditer(bare):
        name = match["name"]
        if match["call"] or name.lower() in _KEYWORDS or _is_exponent(bare, match.start()):
            continue
        labels = frozenset(_MATCHER.findall(match["matchers"] or ""))
        found.append(Selector(name, labels))
    return found


def _is_exponent(text: str, start: int) -> bool:
    """A letter right after a digit belongs to a number or a duration (`1e-9`, `offset 5m`)."""
    return start > 0 and text[start - 1].isdigit()
