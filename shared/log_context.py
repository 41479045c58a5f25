"""Which job a log line is about, without passing it to every function that logs.

The job of the code running now is a context variable: the worker binds it once per delivery
(each delivery runs in an asyncio task of its own, so it lasts until that delivery is settled),
the API around each use case for a job. Threads started with `asyncio.to_thread` and the worker's
executor run in a copy of the context, so their lines carry it too.

libvips warns from threads of its own, which have no context. `in_worker_thread` marks a thread
that runs libvips for a job; while exactly one does, a context-less warning can only be that
job's (`sole_job_in_threads`).
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class JobRef:
    job_id: str
    # The delivery of the job's task (1 for the first); None on lines about the job as a whole.
    attempt: int | None = None


_current: ContextVar[JobRef | None] = ContextVar("job", default=None)
_threads: dict[int, JobRef] = {}
_threads_lock = threading.Lock()


def current_job() -> JobRef | None:
    return _current.get()


def bind_job(job_id: UUID | str, attempt: int | None = None) -> None:
    """Mark the rest of the current task (and what it starts) as about this job."""
    _current.set(JobRef(str(job_id), attempt))


@contextmanager
def about_job(job_id: UUID | str, attempt: int | None = None) -> Iterator[None]:
    """Mark what runs inside the block as about this job."""
    token = _current.set(JobRef(str(job_id), attempt))
    try:
        yield
    finally:
        _current.reset(token)


@contextmanager
def in_worker_thread() -> Iterator[None]:
    """Note this thread's job (from its context) while the block runs libvips for it."""
    job = current_job()
    if job is None:
        yield
        return
    ident = threading.get_ident()
    with _threads_lock:
        _threads[ident] = job
    try:
        yield
    finally:
        with _threads_lock:
            del _threads[ident]


def sole_job_in_threads() -> JobRef | None:
    """The job running in a worker thread, if exactly one is; else None (it may be any)."""
    with _threads_lock:
        jobs = set(_threads.values())
    return jobs.pop() if len(jobs) == 1 else None
