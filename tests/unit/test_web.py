"""The page at `/` as HTTP: open without a key, its assets served as what they are, a strict
Content-Security-Policy that its own markup keeps to, and nothing of it in the API's document.
(What it does in a browser is tests/browser.)"""

import re

from pydantic import SecretStr

from producer_service.api.web import WEB_DIR
from tests.support.served import Serve

# Files the page loads: <link href>, <script src>, and each module's imports.
REFERENCE = re.compile(r'(?:href|src)="(/web/[^"]+)"|from "\./([^"]+)"')


def assets() -> set[str]:
    found: set[str] = set()
    for text in [p.read_text() for p in (WEB_DIR / "index.html", *WEB_DIR.glob("*.js"))]:
        for page_path, module in REFERENCE.findall(text):
            found.add(page_path or f"/web/{module}")
    return found


async def test_the_page_and_its_assets_are_open_even_with_api_keys(serve: Serve) -> None:
    async with serve(api_keys=SecretStr("k-0123456789")) as served:
        http = served.api.http
        page = await http.get("/")
        answers = {path: await http.get(path) for path in assets()}
        presets = await http.get("/v1/presets")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert {"/web/app.js", "/web/style.css", "/web/api.js", "/web/events.js"} <= answers.keys()
    for path, answer in answers.items():
        assert answer.status_code == 200, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        kind = "text/css" if path.endswith(".css") else "text/javascript"
        assert answer.headers["content-type"].startswith(kind), path
    assert presets.status_code == 401  # the page's data still needs the key


async def test_the_page_runs_only_its_own_files(serve: Serve) -> None:
    async with serve() as served:
        page = await served.api.http.get("/")
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["img-src"] == "'self' blob: data:"
    assert policy["object-src"] == "'none'"
    assert "unsafe" not in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    # What the policy would block: inline scripts, inline styles, handlers in attributes.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", page.text)


async def test_the_page_is_not_part_of_the_api_document(serve: Serve) -> None:
    async with serve() as served:
        spec = (await served.api.http.get("/openapi.json")).json()
        missing = await served.api.http.get("/web/nothing.js")
    assert [path for path in spec["paths"] if path == "/" or path.startswith("/web")] == []
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
