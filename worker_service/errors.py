"""Why an attempt failed, and whether trying again could help.

JobFailure                  carries a stable `ErrorCode` and a message for people
├── PermanentFailure        the input is bad: fail the job now, dead-letter the delivery
└── TransientFailure        the moment was bad: retry with backoff, up to MAX_ATTEMPTS

JobCancelled                not a failure: the job was cancelled; ack, report `cancelled`
"""

from shared.messages import FailureInfo
from shared.schemas import ErrorCode


class JobFailure(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def info(self) -> FailureInfo:
        return FailureInfo(code=self.code, message=self.message)


class PermanentFailure(JobFailure):
    pass


class TransientFailure(JobFailure):
    pass


class JobCancelled(Exception):
    """The job was cancelled (its marker, or a notice): stop, keep nothing, never retry."""
