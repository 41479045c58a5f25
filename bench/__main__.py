"""`python -m bench`: run the benchmark and print its table (markdown) on stdout."""

import logging
import sys

import pyvips

from bench.errors import BenchError
from bench.options import parse_options
from bench.run import run
from shared.logs import configure_logging
from worker_service.render import prepare_libvips

logger = logging.getLogger("bench")


def main() -> None:
    options = parse_options()
    configure_logging("INFO", "text")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    # As in the worker; and a cache would let a second pass over the same bytes skip work.
    prepare_libvips()
    # The limits loops get the service's thread budget (libvips read its own variable at start).
    if "VIPS_CONCURRENCY" in options.extra_env:
        pyvips.concurrency_set(int(options.extra_env["VIPS_CONCURRENCY"]))
    try:
        report = run(options)
    except* BenchError as failures:  # alone, or from concurrent submits
        for failure in failures.exceptions:
            logger.error("%s", failure)
        sys.exit(1)
    table = report.markdown()
    sys.stdout.write(table)
    if options.output is not None:
        options.output.write_text(table)


if __name__ == "__main__":
    main()
