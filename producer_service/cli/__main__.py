"""`resize submit PATH... --out DIR` (or `python -m producer_service.cli submit ...`): the
arguments and exit status. `main` is the `resize` console script (pyproject.toml)."""

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from producer_service.cli.batch import Options, Result, progress_bar, run_batch
from producer_service.cli.client import Unauthorized
from producer_service.cli.files import as_input, collect, output_folders
from producer_service.cli.report import summary

API_KEY_VARIABLE = "IMAGE_RESIZE_API_KEY"

SUBMIT_EPILOG = """\
An http:// or https:// argument is not a file: the service fetches the image from that URL
itself (it is sent as source_url), so the URL must be one the service can reach.

Outputs are written to DIR/<stem>/<variant name>.<ext> (.jpg, .png, .webp or .avif), <stem>
being the input's file name without its extension (of a URL, its path's last part). Inputs
whose stems match (ignoring case) are ordered by path, files before URLs: the first gets
DIR/<stem>, the next DIR/<stem>-2, DIR/<stem>-3, and so on (a/x.jpg -> DIR/x, b/x.png ->
DIR/x-2).

Every request is retried, up to --retries times, when the API answers 429 or 503 (after its
Retry-After) or does not answer; each file's submits carry one Idempotency-Key, so a retry
never makes a second job.

A 401 (a key the API does not know) stops the run at once: the first submit goes alone, so a
wrong key costs one request.

Exit status: 0 when every job succeeded and every output was saved, 1 otherwise, 2 for a
usage error."""


def variants_json(text: str) -> str:
    """The `--variants` text as given, once it is known to be a JSON array."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, list):
        raise argparse.ArgumentTypeError("not a JSON array of variants")
    return text


def at_least(lowest: int) -> Callable[[str], int]:
    def number(text: str) -> int:
        value = int(text)
        if value < lowest:
            raise argparse.ArgumentTypeError(f"must be at least {lowest}")
        return value

    return number


def program() -> str:
    """How the user started it: the `resize` console script, or `python -m`."""
    name = Path(sys.argv[0]).name
    return "python -m producer_service.cli" if name == "__main__.py" else name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=program(), description="Command-line client of the API.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    submit = commands.add_parser(
        "submit",
        help="resize files, folders or URLs of images and download the results",
        description="Submit images through the API (with a progress bar on a terminal), wait\n"
        "for their jobs, download every output into DIR and print a summary.",
        epilog=SUBMIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    submit.add_argument(
        "paths",
        nargs="+",
        type=as_input,
        metavar="PATH",
        help="an image (always sent), a folder (every file under it, hidden ones left out), or "
        "an http(s) URL the service fetches the image from",
    )
    chosen = submit.add_mutually_exclusive_group()
    chosen.add_argument(
        "--variants",
        type=variants_json,
        metavar="JSON",
        help="the variants of every job, as a JSON array (default: the service's defaults)",
    )
    chosen.add_argument("--preset", metavar="NAME", help="a preset of the service instead")
    submit.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to save")
    submit.add_argument(
        "--priority",
        choices=["interactive", "bulk"],
        default="bulk",
        help="bulk jobs use what interactive ones leave, so a batch never holds up a person "
        "waiting for one image (default: %(default)s)",
    )
    submit.add_argument(
        "--url", default="http://127.0.0.1:8000", help="the API (default: %(default)s)"
    )
    submit.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_VARIABLE),
        metavar="KEY",
        help=f"sent as 'Authorization: Bearer KEY' (default: ${API_KEY_VARIABLE})",
    )
    submit.add_argument(
        "--concurrency",
        type=at_least(1),
        default=4,
        metavar="N",
        help="files in flight at once (default: %(default)s)",
    )
    submit.add_argument(
        "--retries",
        type=at_least(0),
        default=5,
        metavar="N",
        help="retries per request (default: %(default)s)",
    )
    return parser


def form_fields(args: argparse.Namespace) -> dict[str, str]:
    fields = {"priority": args.priority}
    if args.variants is not None:
        fields["variants"] = args.variants
    elif args.preset is not None:
        fields["preset"] = args.preset
    return fields


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.paths if isinstance(path, Path) and not path.exists()]
    if missing:
        parser.error(f"no such file or folder: {', '.join(missing)}")
    files = collect(args.paths)
    if not files:
        parser.error("no files to submit (hidden files in folders are left out)")
    options = Options(args.url, args.api_key, form_fields(args), args.concurrency, args.retries)
    try:
        with progress_bar() as progress:
            batch = run_batch(files, output_folders(files, args.out), options, progress)
            outcomes = asyncio.run(batch)
    except KeyboardInterrupt:
        return 130
    except Unauthorized as exc:
        sys.stderr.write(
            f"Stopped at the first 401 ({exc}): no further file was sent.\n"
            f"Give the right key with --api-key KEY or ${API_KEY_VARIABLE}.\n"
        )
        return 1
    Console().print(summary(outcomes))
    return 0 if all(outcome.result is Result.SUCCEEDED for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
