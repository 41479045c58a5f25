"""Opaque cursors for job lists: the (created_at, id) of the last job on a page."""

import base64
import json
import re
from datetime import UTC, datetime
from uuid import UUID

from producer_service.errors import InvalidRequest
from producer_service.records import JobRecord

# One this API hands out is about 100 characters; anything much longer is not one, and is
# refused before it is decoded at all.
MAX_CURSOR_LENGTH = 160
# Exactly what `encode_cursor` writes, matched as text: no JSON parser ever sees the nested
# data a hostile cursor could carry.
_SHAPE = re.compile(r'\["([0-9T:.+-]{10,40})", "([0-9a-f-]{36})"\]')


def encode_cursor(record: JobRecord) -> str:
    raw = json.dumps([record.created_at.isoformat(), str(record.id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        shape = _SHAPE.fullmatch(base64.urlsafe_b64decode(cursor.encode("ascii")).decode())
        if shape is None:
            raise ValueError("not a cursor")
        created_at = datetime.fromisoformat(shape[1])
        if created_at.tzinfo is None:
            raise ValueError("no time zone")
        # In UTC as the store keeps it, so it compares alike on every backend.
        return created_at.astimezone(UTC), UUID(shape[2])
    except (ValueError, OverflowError):  # binascii.Error and Unicode errors are ValueErrors
        raise InvalidRequest(
            "The cursor is not one this API handed out.",
            errors=[{"loc": ["query", "cursor"], "msg": "Invalid cursor", "type": "value_error"}],
        ) from None
