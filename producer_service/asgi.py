"""The API for an ASGI server started on its own, such as uvicorn with several processes:

    PROMETHEUS_MULTIPROC_DIR=/run/resize-metrics uvicorn --factory producer_service.asgi:app \\
        --workers 4 --http producer_service.api.server:BoundedHeadProtocol \\
        --host 0.0.0.0 --port 8000

Each process reads the settings from the environment (and `.env`) and builds its own app, as
`python -m producer_service` does for its one process; HOST and PORT are uvicorn's options here.
"""

from fastapi import FastAPI

from producer_service.app import create_app
from shared.logs import configure_logging
from shared.settings import Settings


def app() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
