"""What the API's consumers (events, webhook tries) share: reading a body, and the outcome
when the job store fails. Each settles through `shared.settle`."""

import logging
from typing import TypeVar

from aio_pika.abc import AbstractIncomingMessage
from pydantic import BaseModel, ValidationError

from shared.settle import DeadLetter, Requeue, settle
from shared.tracing import failed

logger = logging.getLogger(__name__)

# A store that fails is given a moment before the message is handed back, not a hot loop.
STORE_FAILURE_PAUSE_SECONDS = 1.0

Body = TypeVar("Body", bound=BaseModel)


async def read_body(message: AbstractIncomingMessage, model: type[Body], what: str) -> Body | None:
    """The message's body as `model`; None, the message dropped, when it is not one (a
    message that can never be read must not come back)."""
    try:
        return model.model_validate_json(message.body)
    except ValidationError as exc:
        logger.error("dropping an unreadable %s %s: %s", what, message.message_id, exc)
        await settle(message, DeadLetter())
        return None


def store_down(doing: str) -> Requeue:
    """The job store failed while `doing` what a message asks: hand the message back to be
    delivered again, after a moment."""
    logger.warning("%s failed: the job store is not answering; retrying", doing)
    failed(f"{doing}: the job store is not answering")
    return Requeue(STORE_FAILURE_PAUSE_SECONDS)
