"""Headless Chromium for the browser tests (Debian's `chromium` + `chromium-driver`, driven by selenium,
offline), and a screenshot of the page whenever a test that uses it fails.

Screenshots go to `$AGENTGYM_SCREENSHOTS` (default `test-screenshots/` in the working directory).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


def screenshot_dir() -> Path:
    return Path(os.environ.get("AGENTGYM_SCREENSHOTS", "test-screenshots"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """One headless Chromium for the session."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, request):
    """The session's Chromium; when the test fails, the page it shows is saved as a PNG."""
    yield chromium
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        folder = screenshot_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{request.node.name}.png"
        chromium.save_screenshot(str(path))
        print(f"screenshot of the failing page: {path}")
    chromium.switch_to.default_content()
