"""What the API and both services make of failures: reasons named, backoff bounded."""

import errno
import os
import sqlite3

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from producer_service.db.engine import failure_reason as store_failure
from producer_service.staging import failure_reason as storage_failure
from shared.connection import MAX_BACKOFF_SECONDS, backoff_seconds


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "full"),
        (errno.EDQUOT, "full"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "not writable"),
        (errno.ENOTDIR, "Not a directory"),
    ],
)
def test_a_disk_failure_is_named_by_its_errno(code: int, reason: str) -> None:
    assert storage_failure(OSError(code, os.strerror(code))) == reason


def sqlite_error(message: str, code: int) -> OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return OperationalError("UPDATE jobs ...", {}, error)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (sqlite_error("database is locked", 5), "locked"),
        (sqlite_error("attempt to write a readonly database", 8), "read-only"),
        (sqlite_error("attempt to write a readonly database", 8 | (5 << 8)), "read-only"),
        (sqlite_error("database or disk is full", 13), "disk full"),
        (PoolTimeout("QueuePool limit reached"), "not answering in time"),
        (OperationalError("connect", {}, ConnectionRefusedError(111, "refused")), "unreachable"),
    ],
)
def test_a_store_failure_is_named_without_its_driver_text(error: Exception, reason: str) -> None:
    assert store_failure(error) == reason


def test_backoff_doubles_with_jitter_up_to_a_cap() -> None:
    for failures in range(1, 12):
        ceiling = min(2 ** (failures - 1), MAX_BACKOFF_SECONDS)
        waits = [backoff_seconds(failures) for _ in range(50)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
    assert max(backoff_seconds(30) for _ in range(50)) <= MAX_BACKOFF_SECONDS
