"""The summary printed once every file is done: one row per file, then the totals."""

from collections import Counter
from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from producer_service.cli.batch import Outcome, Result

STYLES = {
    Result.SUCCEEDED: "green",
    Result.FAILED: "red",
    Result.CANCELLED: "yellow",
    Result.REFUSED: "red",
    Result.ERROR: "yellow",
}


def summary(outcomes: Sequence[Outcome]) -> Table:
    """Per file: its result, and the folder its outputs are in or the reason it has none."""
    counts = Counter(outcome.result for outcome in outcomes)
    totals = ", ".join(f"{counts[result]} {result}" for result in Result if counts[result])
    files = "1 file" if len(outcomes) == 1 else f"{len(outcomes)} files"
    table = Table(title="Summary", caption=f"{files}: {totals}")
    table.add_column("file", overflow="fold")
    table.add_column("status")
    table.add_column("outputs", justify="right")
    table.add_column("saved in / reason", overflow="fold")
    for outcome in outcomes:
        succeeded = outcome.result is Result.SUCCEEDED
        # Text, not markup: a path or a reason may hold brackets ("[Errno 2] ...").
        table.add_row(
            Text(str(outcome.path)),
            Text(outcome.result, style=STYLES[outcome.result]),
            str(outcome.outputs) if succeeded else "-",
            Text(str(outcome.folder) if succeeded else outcome.reason),
        )
    return table
