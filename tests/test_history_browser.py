"""The history page of the committed baselines/ in a real headless Chromium: it loads offline without errors and
plots exactly the series the data model holds. Its screenshot is docs/history.png (the README shows it).

Chromium comes from the OS packages (`apt-get install chromium`, which .ci/run does), driven by playwright; never
`playwright install` (no browser downloads). Without /usr/bin/chromium the test skips, unless
DIFFBENCH_REQUIRE_BROWSER=1 (CI sets it), where a missing browser is a failure.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from diffbench.face import history_page

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "history.png"
# Headless with nothing that reaches out: the page must work from the file alone.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _unavailable(reason: str):
    if os.environ.get("DIFFBENCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and DIFFBENCH_REQUIRE_BROWSER=1 requires the browser test", pytrace=False)
    pytest.skip(f"{reason} (set DIFFBENCH_REQUIRE_BROWSER=1 to make this a failure)")


@contextmanager
def chromium():
    """The OS's Chromium, headless, through playwright. Checked in the test itself (not a fixture), so that a
    required but missing browser is a test failure, not a setup error."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.slow  # 5-8 s on a 2-core CPU: starting Chromium and drawing some 180 series
def test_the_baselines_history_page_renders_every_series(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the page names its sources as given: `baselines`, as in the README's command
    with chromium() as browser:
        check_page(browser, tmp_path / "history.html")


def check_page(browser, out: Path) -> None:
    page_data = history_page.write([Path("baselines")], out)
    expected = {f"history-{kind}": len(page_data.of_kind(kind)[0]) for kind in page_data.kinds}

    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    console_errors, page_errors, requests = [], [], []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(out.as_uri())
    # plotly draws asynchronously: wait until every figure's div holds its data
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length === {len(expected)}")
    plotted = page.evaluate("Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')]"
                            ".map(div => [div.id, div.data.length]))")
    assert console_errors == [] and page_errors == []
    assert plotted == expected and sum(plotted.values()) == len(page_data.series)
    assert {"nvidia-h100-80gb-hbm3", "nvidia-h200"} <= set(page_data.kinds)
    assert [url for url in requests if not url.startswith(("file:", "data:", "blob:"))] == []  # offline
    SCREENSHOT.parent.mkdir(exist_ok=True)  # only a page that passed replaces the README's picture
    page.screenshot(path=str(SCREENSHOT), full_page=True)
