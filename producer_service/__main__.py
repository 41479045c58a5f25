"""`python -m producer_service`: the API alone, served by uvicorn on HOST:PORT.

`python -m producer_service migrate` brings the job store's schema up to date and exits (the
API also does this at start; this is for deployments that migrate as a step of their own).
"""

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator

import uvicorn

from producer_service.api.server import server_config
from producer_service.app import create_app
from producer_service.db.store import JobStore
from producer_service.presets import PresetsFileError
from shared.logs import configure_logging
from shared.settings import Settings

logger = logging.getLogger(__name__)


class Server(uvicorn.Server):
    """uvicorn's server, with SIGTERM and SIGINT heard only while it serves.

    uvicorn's own handlers raise the stop signal again once it has stopped (an exit by signal
    for a requested stop), and stay in place for the rest of the process: a stop signal then
    does nothing. Here a requested stop exits 0, and one sent after the server is done (to a
    process stuck on its way out) ends it as usual.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.handle_exit, signum, None)
        try:
            yield
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)


def serve(settings: Settings) -> None:
    try:
        app = create_app(settings)
    except PresetsFileError as exc:
        sys.exit(str(exc))
    config = server_config(
        app,
        settings.host,
        settings.port,
        # Let in-flight submits finish their publish before the process exits.
        timeout_graceful_shutdown=int(settings.publish_timeout_seconds) + 5,
    )
    Server(config).run()


async def migrate(settings: Settings) -> None:
    if settings.database_url is None:  # the SQLite file in DATA_DIR, maybe its first use
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore.from_settings(settings)
    try:
        await store.migrate()
    finally:
        await store.close()
    logger.info("job store schema is up to date")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m producer_service", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["serve", "migrate"], default="serve")
    command = parser.parse_args().command
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if command == "migrate":
        asyncio.run(migrate(settings))
    else:
        serve(settings)


if __name__ == "__main__":
    main()
