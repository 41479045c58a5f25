"""`python -m worker_service`: one worker. SIGTERM or SIGINT sets the stop event, nothing else."""

import asyncio
import signal

from shared.logs import configure_logging
from shared.settings import Settings
from worker_service.allocator import tune_malloc
from worker_service.priority import lower_priority
from worker_service.worker import Worker


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await Worker(settings).run(stop)


def main() -> None:
    tune_malloc()  # before libvips starts its threads
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    lower_priority(settings.worker_nice)  # before any thread starts
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
