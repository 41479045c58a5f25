"""Process-wide logging for both services: one line per record, to stderr, and no credential
in any of them. A broker or database URL with a password (in a message, an exception, a
traceback) is written with the password replaced, whoever logged it."""

import logging
import re

_CREDENTIALS = re.compile(r"(?P<prefix>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@\s/]*@")
REDACTED = "***"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    """`text` with the password of every `scheme://user:password@host` URL replaced."""
    return _CREDENTIALS.sub(rf"\g<prefix>:{REDACTED}@", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # libvips reports every step of every resize at INFO; only its warnings are news.
    logging.getLogger("pyvips").setLevel(logging.WARNING)
