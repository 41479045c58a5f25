"""`python -m producer_service`: the API alone, served by uvicorn on HOST:PORT."""

import uvicorn

from producer_service.app import create_app
from shared.settings import Settings, configure_logging


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
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
