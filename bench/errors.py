"""The one error the bench raises: a run that could not measure what it was asked to."""


class BenchError(Exception):
    """The corpus, a process, the broker or a job let the run down; the message says which."""
