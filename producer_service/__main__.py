"""`python -m producer_service`: the API alone, served by uvicorn on HOST:PORT."""

import signal
from types import FrameType

import uvicorn

from producer_service.app import create_app
from shared.settings import Settings, configure_logging


def _stopped(signum: int, frame: FrameType | None) -> None:
    """uvicorn raises the stop signal again once it has shut down gracefully: a clean exit."""


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        # Let in-flight submits finish their publish before the process exits.
        timeout_graceful_shutdown=int(settings.publish_timeout_seconds) + 5,
    )


if __name__ == "__main__":
    main()
