"""Every file through submit -> follow -> download, a few at once, under a progress bar."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producer_service.cli.client import TIMEOUT, ApiError, Refused, ResizeApi, Unauthorized
from producer_service.cli.files import Input, output_file
from shared.schemas import JobStatus


class Result(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the job ran and failed
    CANCELLED = "cancelled"  # someone cancelled the job (POST /v1/jobs/{id}/cancel)
    REFUSED = "refused"  # the API did not take the file
    ERROR = "error"  # no answer, an unreadable file, a download that did not work


@dataclass(frozen=True)
class Outcome:
    path: Input
    folder: Path
    result: Result
    outputs: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Options:
    url: str
    api_key: str | None
    # The submit's form fields besides the file: `variants` or `preset`, or none.
    form: Mapping[str, str]
    concurrency: int
    retries: int
    # Names this run's idempotency keys: a retried submit reuses its key, a new run does not.
    run_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def idempotency_key(self, path: Input) -> str:
        return str(uuid.uuid5(self.run_id, str(path.resolve() if isinstance(path, Path) else path)))


class Tracker:
    """One progress line: files done of all, and what the files in flight are doing."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task("files", total=total, states="")
        self.states: dict[Input, str] = {}
        self.unsuccessful = 0

    def update(self, path: Input, state: str) -> None:
        self.states[path] = state
        self._show()

    def done(self, outcome: Outcome) -> None:
        del self.states[outcome.path]
        self.unsuccessful += outcome.result is not Result.SUCCEEDED
        self.progress.advance(self.task)
        self._show()

    def _show(self) -> None:
        counts = Counter(self.states.values())
        shown = [f"{count} {state}" for state, count in sorted(counts.items())]
        if self.unsuccessful:
            shown.append(f"{self.unsuccessful} not succeeded")
        self.progress.update(self.task, states=", ".join(shown))


def progress_bar() -> Progress:
    """On stderr, so stdout holds the summary alone; rich draws it only on a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[states]}"),
        console=Console(stderr=True),
    )


async def run_batch(
    files: Sequence[Input], folders: Sequence[Path], options: Options, progress: Progress
) -> list[Outcome]:
    """Each file's outcome, in the order given; `options.concurrency` files in flight at once.
    Raises `Unauthorized` at the first 401, the files in flight cancelled and the rest not sent."""
    headers = {"Authorization": f"Bearer {options.api_key}"} if options.api_key else {}
    limits = httpx.Limits(max_connections=None)
    slots = asyncio.Semaphore(options.concurrency)
    tracker = Tracker(progress, len(files))
    async with httpx.AsyncClient(
        base_url=options.url, headers=headers, timeout=TIMEOUT, limits=limits
    ) as http:
        api = ResizeApi(http, options.retries)

        async def one(path: Input, folder: Path) -> Outcome:
            async with slots:
                outcome = await process(api, options, path, folder, tracker.update)
            tracker.done(outcome)
            return outcome

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(one(path, folder))
                    for path, folder in zip(files, folders, strict=True)
                ]
        except* Unauthorized as refused:
            raise refused.exceptions[0] from None  # the group cancelled the other files
        return [task.result() for task in tasks]


async def process(
    api: ResizeApi,
    options: Options,
    path: Input,
    folder: Path,
    track: Callable[[Input, str], None],
) -> Outcome:
    """Submit one file (or URL), wait for its job, download its outputs into `folder`."""
    track(path, "uploading" if isinstance(path, Path) else "submitting")
    try:
        job = await api.submit(path, options.form, options.idempotency_key(path))
    except Refused as exc:
        return Outcome(path, folder, Result.REFUSED, reason=str(exc))
    except (ApiError, OSError) as exc:
        return Outcome(path, folder, Result.ERROR, reason=str(exc))
    try:
        job = await api.follow(job.id, lambda seen: track(path, seen.status.value))
        if job.status is JobStatus.FAILED:
            reason = f"{job.error.code}: {job.error.message}" if job.error else "failed"
            return Outcome(path, folder, Result.FAILED, reason=reason)
        if job.status is JobStatus.CANCELLED:
            return Outcome(path, folder, Result.CANCELLED, reason="cancelled before it ended")
        track(path, "downloading")
        for output in job.outputs:
            await api.download(output, output_file(folder, output.name, output.format))
    except (ApiError, OSError) as exc:
        return Outcome(path, folder, Result.ERROR, reason=str(exc))
    return Outcome(path, folder, Result.SUCCEEDED, outputs=len(job.outputs))
