"""The history page of the committed baselines/ in a real headless Chromium: it loads offline without errors, says
what each GPU kind's latest night changed, and draws the picked scenario's series, exactly those the data model
holds. Its screenshot is docs/history.png, replaced only on purpose: DIFFBENCH_UPDATE_SCREENSHOTS=1.

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


@pytest.mark.slow  # 10-20 s on a 2-core CPU: starting Chromium and drawing a scenario per GPU kind, twice
def test_the_baselines_history_page_says_what_changed_and_draws_each_scenario(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the page names its sources as given: `baselines`, as in the guide's command
    with chromium() as browser:
        check_page(browser, tmp_path / "history.html", tmp_path / "history.png")


def drawn(page) -> dict[str, int]:
    return page.evaluate("Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')]"
                         ".map(div => [div.id, div.data.length]))")


def check_page(browser, out: Path, screenshot: Path) -> None:
    page_data = history_page.write([Path("baselines")], out)
    assert {"nvidia-h100-80gb-hbm3", "nvidia-h200"} <= set(page_data.kinds)

    def series_of(kind: str, scenario: str) -> int:
        return sum(s.scenario == scenario for s in page_data.of_kind(kind)[0])

    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    console_errors, page_errors, requests = [], [], []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(out.as_uri())
    # each kind draws its first scenario (the latest night's flagged come first) once the page has loaded
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length === {len(page_data.kinds)}")
    firsts = {kind: page.eval_on_selector(f"#pick-{kind}", "select => select.value") for kind in page_data.kinds}
    assert drawn(page) == {f"history-{kind}": series_of(kind, scenario) for kind, scenario in firsts.items()}
    # each kind says what its latest night changed, with the gate's verdict line
    summaries = page.eval_on_selector_all(".latest", "divs => divs.map(div => div.innerText)")
    assert summaries and all("Latest night" in text and ("OK:" in text or "FAIL:" in text or "INCOMPLETE:" in text)
                             for text in summaries)
    # another scenario, picked: its own series replace the first one's
    kind = "nvidia-h200"
    options = page.eval_on_selector(f"#pick-{kind}", "select => [...select.options].map(o => o.value)")
    assert sorted(options) == sorted({s.scenario for s in page_data.of_kind(kind)[0]})
    page.select_option(f"#pick-{kind}", options[-1])
    page.wait_for_function(f"document.getElementById('history-{kind}').data.length === "
                           f"{series_of(kind, options[-1])}")
    page.select_option(f"#pick-{kind}", "flux-dev-fp8dqrow-regional-fuse-bs1")
    page.wait_for_function(f"document.getElementById('history-{kind}').data.length === "
                           f"{series_of(kind, 'flux-dev-fp8dqrow-regional-fuse-bs1')}")
    assert console_errors == [] and page_errors == []
    assert [url for url in requests if not url.startswith(("file:", "data:", "blob:"))] == []  # offline
    page.screenshot(path=str(screenshot), full_page=False)
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("DIFFBENCH_UPDATE_SCREENSHOTS") == "1":  # the guide's picture, replaced on purpose only
        SCREENSHOT.write_bytes(screenshot.read_bytes())
