"""No credential reaches a log line, whoever logs it and however (message, argument, traceback)."""

import logging
import sys

from shared.logs import FORMAT, RedactingFormatter, redact


def test_passwords_in_urls_are_redacted_and_the_rest_kept() -> None:
    text = "amqp://resize:s3cret@rabbitmq:5672/ and postgresql://app:p%40ss@db/jobs, http://host/x"
    assert redact(text) == (
        "amqp://resize:***@rabbitmq:5672/ and postgresql://app:***@db/jobs, http://host/x"
    )


def test_a_formatted_record_and_its_traceback_carry_no_password() -> None:
    try:
        raise ConnectionError("cannot reach amqp://guest:hunter2@broker:5672/")
    except ConnectionError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "connecting to %s", ("amqp://u:hunter2@b/",), None
        )
        record.exc_info = sys.exc_info()
    line = RedactingFormatter(FORMAT).format(record)
    assert "hunter2" not in line
    assert "amqp://u:***@b/" in line
    assert "amqp://guest:***@broker:5672/" in line
