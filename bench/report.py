"""The result of a run: a machine line, a settings line, one table row per figure and how long
each section took, rendered as markdown."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench.options import SECTIONS

# Decimals per unit.
_DIGITS = {
    "jobs/s": 2,
    "ratio": 2,
    "ms": 1,
    "µs": 0,
    "MiB": 0,
    "count": 0,
    "req/s": 1,
    "confirms/s": 0,
    "each": 2,
    "s": 2,
    "cores": 2,
}


@dataclass(frozen=True)
class Row:
    section: str
    measure: str
    value: float
    unit: str
    note: str


@dataclass
class Report:
    machine: str
    settings: str
    rows: list[Row] = field(default_factory=list)
    took: dict[str, float] = field(default_factory=dict)

    def add(self, section: str, measure: str, value: float, unit: str, note: str = "") -> None:
        self.rows.append(Row(section, measure, value, unit, note))

    @contextmanager
    def timed(self, part: str) -> Iterator[None]:
        """Add the time the block takes to `part`'s."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.took[part] = self.took.get(part, 0.0) + time.monotonic() - started

    def markdown(self) -> str:
        # Sections in their usual order, whatever order they ran in.
        rows = sorted(self.rows, key=lambda row: SECTIONS.index(row.section))
        took = ", ".join(f"{part} {seconds:.1f} s" for part, seconds in self.took.items())
        return "\n".join(
            [
                f"machine: {self.machine}  ",
                f"settings: {self.settings}",
                "",
                "| section | measure | value | unit | notes |",
                "| --- | --- | ---: | --- | --- |",
                *(
                    f"| {row.section} | {row.measure} | {row.value:.{_DIGITS[row.unit]}f} "
                    f"| {row.unit} | {row.note} |"
                    for row in rows
                ),
                "",
                f"took: {took}",
                "",
            ]
        )
