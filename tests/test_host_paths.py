"""No committed generated file shows a path of the host that made it (issue 33): the generated sections (README, docs/)
and the reports under baselines/ are read elsewhere, where /root/... or /tmp/... means nothing, and leaks a
machine's layout. Their generators shorten such paths (`store.results.without_host_paths`, `readme.generated_by`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from diffbench.face import readme
from diffbench.store.results import describe_failure, without_host_paths

ROOT = Path(__file__).resolve().parents[1]
HOST_PATH = re.compile(r"(?<![\w.:/~…-])/(?:root|home|tmp|Users|work|mnt|var|opt|srv|scratch)/")
SECTION = re.compile(r"<!-- diffbench:(\w+):start -->(.*?)<!-- diffbench:\1:end -->", re.DOTALL)


def generated_markdown() -> dict[str, str]:
    """Each committed generated text: the sections between diffbench markers (README, the guide's pages), the
    reports."""
    found = {}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for m in SECTION.finditer(page.read_text()):
            found[f"{page.relative_to(ROOT)}:{m.group(1)}"] = m.group(2)
    for path in sorted((ROOT / "baselines").rglob("report*.md")) + sorted((ROOT / "baselines").rglob("report*/*.md")):
        found[str(path.relative_to(ROOT))] = path.read_text()
    return found


def test_there_is_generated_markdown_to_scan():
    texts = generated_markdown()
    assert any(":results" in name for name in texts) and any(name.endswith("report.md") for name in texts)


@pytest.mark.parametrize("name", sorted(generated_markdown()))
def test_no_host_path_in_committed_generated_markdown(name):
    text = generated_markdown()[name]
    leaks = [line.strip() for line in text.splitlines() if HOST_PATH.search(line)]
    assert leaks == [], f"{name} shows host paths (regenerate it with the command on its first line): {leaks[:3]}"


@pytest.mark.parametrize(("message", "shown"), [
    ("written to /root/out/nvidia-h200/references/flux-dev-synthetic.npz; check them",
     "written to …/nvidia-h200/references/flux-dev-synthetic.npz; check them"),
    ('File "/tmp/site/diffusers/hooks/hooks.py", line 216', 'File "…/diffusers/hooks/hooks.py", line 216'),
    ("see https://example.org/a/b/c.html", "see https://example.org/a/b/c.html"),  # a URL is no host path
    ("baselines/cpu/run.json and 1/2 it/s", "baselines/cpu/run.json and 1/2 it/s"),  # nor is a relative path
])
def test_failures_are_described_without_host_paths(message, shown):
    assert without_host_paths(message) == shown
    assert describe_failure(dict(error_type="E", message=message)) == f"E: {shown}"
    assert not HOST_PATH.search(describe_failure(dict(error_type="E", message=message)))


def test_the_generated_by_note_names_paths_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    note = readme.generated_by(["report", str(tmp_path / "runs" / "a.json"), "--out", "/tmp/x/y/z/report"])
    assert "`diffbench report runs/a.json --out '…/y/z/report'`" in note
