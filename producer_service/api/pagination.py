"""Opaque cursors for job lists: the (created_at, id) of the last job on a page."""

import base64
import json
from datetime import datetime
from uuid import UUID

from producer_service.errors import InvalidRequest
from producer_service.records import JobRecord


def encode_cursor(record: JobRecord) -> str:
    raw = json.dumps([record.created_at.isoformat(), str(record.id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        created_at, job_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(created_at), UUID(job_id)
    except (ValueError, TypeError):
        raise InvalidRequest(
            "The cursor is not one this API handed out.",
            errors=[{"loc": ["query", "cursor"], "msg": "Invalid cursor", "type": "value_error"}],
        ) from None
