"""The README stays a first read, and every link in the documentation leads somewhere."""

import json
import re
from pathlib import Path

import pytest

from shared.schemas import Job
from tests.support import ROOT

DOCUMENTS = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    text = FENCE.sub("", document.read_text())
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_readme_is_a_first_read_with_the_two_commands_on_its_first_screen() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300
    first_screen = "\n".join(lines[:30])
    assert "make run" in first_screen
    assert "make test" in first_screen


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(document: Path) -> None:
    broken = []
    for target in LINK.findall(FENCE.sub("", document.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        missing_heading = anchor and linked.suffix == ".md" and anchor not in anchors(linked)
        if not linked.exists() or missing_heading:
            broken.append(target)
    assert broken == []


def test_the_readme_curl_session_shows_a_job_as_the_api_answers_it() -> None:
    """The session's status answer is printed whole, so it cannot drift from the schema."""
    session = (ROOT / "README.md").read_text().split("## A session with curl")[1]
    answer = re.search(r"^\$ curl -s \S+/v1/jobs/[0-9a-f-]+\n(\{.*?\})\n\n", session, re.M | re.S)
    assert answer is not None
    shown = json.loads(answer.group(1))
    assert list(shown) == list(Job.model_fields)
    Job.model_validate(shown)
