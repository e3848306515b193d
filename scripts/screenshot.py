"""Save a PNG of a web page as headless Chromium renders it (the README's screenshots of `agentgym view`).

    python scripts/screenshot.py URL OUT.png [--width 1280] [--height 900] [--click CSS]...
"""

from __future__ import annotations

import argparse
import shutil
import tempfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--click", action="append", default=[], help="CSS selector to click first; repeatable")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    with tempfile.TemporaryDirectory() as profile:
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                     f"--window-size={args.width},{args.height}", f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "chromedriver"))
        try:
            driver.get(args.url)
            for selector in args.click:
                driver.find_element("css selector", selector).click()
            driver.save_screenshot(args.out)
        finally:
            driver.quit()
    print(args.out)


if __name__ == "__main__":
    main()
