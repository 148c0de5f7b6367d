"""The docs cannot drift from the code: every relative link in README.md, docs/ and
tests/README.md resolves (the file, and the heading an anchor names), and every command line
they show for a job parses with that job's own argument parser."""

import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path

import pytest

from smoot_dist.cli.flags import build_parser

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", REPO / "tests" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
JOB = re.compile(r"(?:^|/)jobs/(\w+)\.py$|^smoot-([\w-]+)$")
MAX_README_LINES = 250


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {_slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def _links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text()))


def test_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; the manual belongs in docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in _links(page):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def _command_lines(page: Path) -> list[str]:
    """The shell lines of a page's code blocks, continuation lines joined."""
    out = []
    for block in FENCE.findall(page.read_text()):
        out += block.replace("\\\n", " ").splitlines()
    return out


def _job_commands(page: Path) -> list[tuple[str, list[str], str]]:
    """(job, its arguments, the line) for every line that runs a job: `python jobs/X.py ...`,
    `smoot-X ...`, also after `ray job submit ... --`."""
    found = []
    for line in _command_lines(page):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # not shell (a table, a traceback): no job here
            continue
        for i, word in enumerate(words):
            m = JOB.search(word)
            if m and (i == 0 or words[i - 1].endswith("python") or "/" in word):
                if m[2] and i != 0:
                    continue
                job = (m[1] or m[2]).replace("-", "_")
                if (REPO / "smoot_dist" / "cli" / f"{job}.py").is_file() and job != "flags":
                    found.append((job, words[i + 1:], line.strip()))
                break
    return found


def _parse(job: str, args: list[str]) -> str | None:
    """None if `args` parse with the job's own parser; else what it printed."""
    flags = importlib.import_module(f"smoot_dist.cli.{job}").FLAGS
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        try:
            build_parser(flags).parse_args(args)
        except SystemExit as stop:
            if stop.code not in (0, None):  # --help exits 0
                return said.getvalue().strip()
    return None


def test_the_pages_show_job_command_lines():
    """The check below has something to check: the tour and the topic pages show jobs."""
    jobs = {job for page in PAGES for job, _, _ in _job_commands(page)}
    assert {"train", "evaluate", "compare", "explain", "reproduce", "sweep",
            "prepare_data", "motivation"} <= jobs, jobs


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_job_command_line_parses_with_its_jobs_parser(page):
    failures = [f"{line}\n    -> {said}" for job, args, line in _job_commands(page)
                if (said := _parse(job, args)) is not None]
    assert not failures, f"{page.relative_to(REPO)}:\n" + "\n".join(failures)


def test_the_battery_table_names_every_declared_metric_with_its_family():
    # evaluate.py --help points here for what each metric measures: a metric added to the
    # registry, or moved to another family, must be stated on the page too
    from smoot_dist.metrics import battery_metrics, get_metric

    page = (REPO / "docs" / "evaluation.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([\w ]+?) \|", page, re.M))
    stated = {name: rows.get(name) for name in battery_metrics()}
    assert stated == {name: get_metric(name).family for name in battery_metrics()}
