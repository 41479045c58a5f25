"""`/problems/{slug}`: the page a problem's `type` names, saying what it means and what to do.

Every problem the API answers with has one: the `ApiProblem` family (its docstrings are the
text) and the few answers made outside it (unknown paths and methods, oversized headers, not
ready). RFC 9457 asks for a `type` that resolves to documentation for people; this is it.
"""

import html
import inspect
import re
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from producer_service.errors import ApiProblem

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class ProblemPage:
    slug: str
    status: int
    title: str
    about: str


# The answers that are not ApiProblems: Starlette's own, the server's and /readyz's.
_OTHERS = (
    ProblemPage(
        "not-found", 404, "Not Found", "Nothing is served at this path. See `/docs` for routes."
    ),
    ProblemPage(
        "method-not-allowed",
        405,
        "Method Not Allowed",
        "This path exists, but not with this method; the `Allow` header lists the ones it takes.",
    ),
    ProblemPage(
        "headers-too-large",
        431,
        "Request Header Fields Too Large",
        "The request line and headers together are over 32 KiB. The connection is closed.",
    ),
    ProblemPage(
        "not-ready",
        503,
        "Not ready",
        "`/readyz`: the broker, the job store or the disk cannot take a job now; `checks` says "
        "which. A load balancer should send no submits here until it answers 200 again.",
    ),
)


def _service_errors(cls: type[ApiProblem]) -> list[type[ApiProblem]]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in _service_errors(child))]


def _catalogue() -> dict[str, ProblemPage]:
    pages = [
        ProblemPage(e.slug, e.status, e.title, inspect.getdoc(e) or e.title)
        for e in _service_errors(ApiProblem)
    ]
    return {page.slug: page for page in sorted([*pages, *_OTHERS], key=lambda p: p.status)}


PAGES = _catalogue()


def _text(markdown: str) -> str:
    """Escaped text with `code` spans, the only markup the docstrings use."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(" ".join(markdown.split())))


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        status_code=status,
        content="<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; '
        'padding: 0 1rem">'
        f"{body}</body></html>",
    )


@router.get("/problems", response_class=HTMLResponse)
async def problem_index() -> HTMLResponse:
    items = "".join(
        f'<li><a href="/problems/{p.slug}">{p.status} {html.escape(p.title)}</a></li>'
        for p in PAGES.values()
    )
    intro = "Every error answer is <code>application/problem+json</code>; its "
    intro += "<code>type</code> is one of these pages."
    return _page("Problems", f"<h1>Problems</h1><p>{intro}</p><ul>{items}</ul>")


@router.get("/problems/{slug}", response_class=HTMLResponse)
async def problem_page(slug: str) -> HTMLResponse:
    page = PAGES.get(slug)
    if page is None:
        index = '<h1>Unknown problem</h1><p><a href="/problems">All problems</a></p>'
        return _page("Unknown problem", index, status=404)
    return _page(
        page.title,
        f"<h1>{page.status} {html.escape(page.title)}</h1><p>{_text(page.about)}</p>"
        f"<p>Type <code>/problems/{page.slug}</code>. "
        '<a href="/problems">All problems</a> · <a href="/docs">API docs</a></p>',
    )
