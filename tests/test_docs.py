"""The guide (docs/, mkdocs.yml) builds in strict mode, and the README is its front page.

`mkdocs build --strict` fails on any warning: a broken link or anchor, a page missing from the nav, a nav entry
without its page (mkdocs.yml's `validation`). The site is built into a temporary folder, so nothing tracked is
written. The README is what GitHub shows first: short, the two lines CI runs, a link to every page of the guide.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAIN_JOB = "    pip install . && pytest benchmarks --benchmark-json results.json"
TEST_LINE = '    pip install -e ".[test]" && pytest'


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("material") is None:
        pytest.fail("mkdocs-material not installed (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], cwd=config.parent, capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=120)


def nav_pages(nav) -> list[str]:
    """The page files mkdocs.yml's nav names, in order."""
    if isinstance(nav, str):
        return [nav]
    items = nav.values() if isinstance(nav, dict) else nav
    return [page for item in items for page in nav_pages(item)]


class Pictures(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_the_guide_builds_strictly_with_every_picture(tmp_path):
    site = tmp_path / "site"
    result = build(ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    shown = []
    for page in site.rglob("*.html"):
        parser = Pictures()
        parser.feed(page.read_text())
        for src in parser.sources:
            if src.startswith(("http:", "https:", "data:")):
                continue
            picture = Path(unquote(urljoin(page.relative_to(site).as_posix(), src)))
            assert (site / picture).is_file(), f"{page.relative_to(site)} shows {src}, absent from the site"
            shown.append(picture.as_posix())
    # the plots of the generated results page and the pictures of the other pages, under baselines/ in the repo
    assert "baselines/nvidia-h100-80gb-hbm3/report/flux-dev.png" in shown and "history.png" in shown
    assert not any(p.name == "hooks" for p in site.iterdir())  # the hook is configuration, not a page


def test_a_broken_link_or_a_page_outside_the_nav_fails_the_build(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "baselines").symlink_to(ROOT / "baselines")
    (tmp_path / "docs" / "orphan.md").write_text("# Orphan\n")
    (tmp_path / "docs" / "options.md").write_text((ROOT / "docs" / "options.md").read_text()
                                                  + "\nSee [a page](no-such-page.md), [a section](gate.md#nowhere).\n")
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 3, result.stderr
    for what in ('not included in the "nav"', "'no-such-page.md'", "'gate.md#nowhere'"):
        assert any(what in line for line in warnings), result.stderr
    assert "  - orphan.md" in result.stderr


def test_the_readme_is_a_front_page_linking_every_page_of_the_guide():
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= 300
    assert MAIN_JOB in lines and TEST_LINE in lines  # `.ci/run` runs the second
    assert TEST_LINE.strip() in (ROOT / ".ci" / "run").read_text().splitlines()
    first_screen = "\n".join(lines[:30])
    assert "docs/compare.md" in first_screen and "docs/gate.md" in first_screen
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert [link for link in links if not (ROOT / link).exists()] == []
    pages = nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    guide = text.split("## The guide", 1)[1]
    assert sorted(re.findall(r"\]\(docs/([^)#]+\.md)\)", guide)) == sorted(pages)  # one row per page
