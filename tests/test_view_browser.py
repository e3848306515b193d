"""`agentgym view` in headless Chromium (selenium, offline): the marks of a trajectory's turns, buying in the
web shop by clicking, a live run appearing while it is written, and a screenshot when a test fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentgym import EnvClient
from agentgym.trajectory import Trajectory
from tests.browser import needs_chromium
from trajectories.store import TrajectoryStore

pytestmark = needs_chromium
ACTION = re.compile(r"^(search|click)\[(.*)\]$")


def wait(driver, seconds: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds)


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_trajectory_page_marks_erroneous_and_refined_turns(browser, view_server, view_runs):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select

    browser.get(f"{view_server.url}/trajectories")
    browser.execute_script("window.notReloaded = true")
    Select(browser.find_element(By.NAME, "run")).select_by_value("runs/eval-agent")  # htmx swaps the rows
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "summary"), "3 trajectories"))
    assert browser.execute_script("return window.notReloaded") is True
    assert "run=runs%2Feval-agent" in browser.current_url  # the filter is in the address, to share
    browser.find_element(By.CSS_SELECTOR, "#rows tbody tr a").click()
    wait(browser).until(EC.presence_of_element_located((By.ID, "chart")))

    record = records(view_runs / "eval-agent" / "trajectories")[0]
    articles = browser.find_elements(By.CSS_SELECTOR, "article.turn")
    assert len(articles) == len(record["turns"])
    backgrounds = {}
    for turn, article in zip(record["turns"], articles, strict=True):
        badges = [b.text for b in article.find_elements(By.CSS_SELECTOR, ".mark") if b.is_displayed()]
        assert ("erroneous" in badges) == turn["erroneous"]
        assert ("refinement" in badges) == turn["refinement"]
        if turn["erroneous"] or turn["refinement"]:
            backgrounds.setdefault("erroneous" if turn["erroneous"] else "refinement", set()).add(
                article.value_of_css_property("background-color"))
        if turn["role"] == "assistant":
            train = article.find_element(By.CSS_SELECTOR, ".train").text
            assert train == ("masked" if turn["erroneous"] else "learned")
    # the two kinds of turns are told apart at a glance: one colour each, and not the plain one
    plain = articles[0].value_of_css_property("background-color")
    assert len(backgrounds["erroneous"]) == len(backgrounds["refinement"]) == 1
    assert len({plain, *backgrounds["erroneous"], *backgrounds["refinement"]}) == 3
    dots = browser.find_elements(By.CSS_SELECTOR, "svg#chart circle.dot")
    assert len(dots) == record["steps"]
    refused = [t for t in record["turns"] if t["role"] == "assistant" and t["action"] and t["erroneous"]]
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg#chart circle.dot.erroneous")) == len(refused) > 0


@pytest.fixture(scope="module")
def shop(server_factory):
    return server_factory("webshop")


def test_buying_in_the_web_shop_by_clicking_gets_the_text_interfaces_reward(browser, view_server, shop):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC

    task = "webshop-3"
    with EnvClient(shop.url) as client:
        plan = client.expert(task)
        plan.insert(-1, "click[Features]")  # a detour through a product's features and back
        plan.insert(-1, "click[< Prev]")
        with client.session(task_id=task) as s:
            results = [s.step(action) for action in plan]
    assert results[-1].done and all(r.info["valid"] for r in results)

    browser.get(f"{view_server.url}/play")
    browser.find_element(By.NAME, "url").send_keys(shop.url)
    browser.find_element(By.NAME, "task_id").send_keys(task)
    browser.find_element(By.CSS_SELECTOR, "#play-start button[type=submit]").click()
    for action in plan:
        frame = wait(browser).until(EC.presence_of_element_located((By.ID, "page")))
        browser.switch_to.frame(frame)
        verb, arg = ACTION.match(action).groups()
        if verb == "search":
            box = wait(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR, "form[role=search] input")))
            box.send_keys(arg, Keys.ENTER)
        else:
            buttons = [b for b in wait(browser).until(
                EC.presence_of_all_elements_located((By.CSS_SELECTOR, "[data-click]")))
                if b.get_attribute("data-click") == arg]
            assert len(buttons) == 1, f"one button [{arg}] on the page"
            buttons[0].click()
        browser.switch_to.default_content()
        wait(browser).until(EC.staleness_of(frame))  # the play screen reloads with the outcome
    result = wait(browser).until(EC.presence_of_element_located((By.ID, "result")))
    assert float(result.get_attribute("data-reward")) == results[-1].reward
    assert result.get_attribute("data-won") == str(results[-1].info["won"]).lower()

    browser.find_element(By.ID, "save").click()
    wait(browser).until(EC.presence_of_element_located((By.ID, "outcome")))
    demo = [t for t in TrajectoryStore(view_server.demos_path) if t.task_id == task][-1]
    assert [t.action for t in demo.turns if t.role == "assistant"] == plan
    assert demo.model == "human" and demo.reward == results[-1].reward


def test_live_page_shows_episodes_as_they_are_stored(browser, view_server, view_runs):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    browser.get(f"{view_server.url}/live")
    shown = len(browser.find_elements(By.CSS_SELECTOR, "#feed li"))
    browser.execute_script("window.notReloaded = true")
    record = records(view_runs / "eval-expert" / "trajectories")[-1]
    TrajectoryStore(view_server.live_dir / "eval-now" / "trajectories" / "maze-held_out.jsonl").append(
        Trajectory.from_dict(record))
    wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#feed li")) == shown + 1)
    newest = browser.find_element(By.CSS_SELECTOR, "#feed li")
    assert record["task_id"] in newest.text and "won" in newest.text
    assert browser.execute_script("return window.notReloaded") is True
    row = wait(browser).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, '#files tr[data-file$="eval-now/trajectories/maze-held_out.jsonl"] .episodes')))
    assert row.text == "1"


FAILING = '''
def test_fails_on_a_page(browser):
    browser.get("data:text/html,<h1 id=x>the page under test</h1>")
    assert browser.find_element("id", "x").text == "another page"
'''


def test_a_failing_browser_test_leaves_a_screenshot(tmp_path):
    (tmp_path / "conftest.py").write_text("from tests.browser import browser, chromium, pytest_runtest_makereport"
                                          "  # noqa: F401\n")
    (tmp_path / "test_inner.py").write_text(FAILING)
    shots = tmp_path / "shots"
    env = {**os.environ, "AGENTGYM_SCREENSHOTS": str(shots),
           "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 1 and "1 failed" in proc.stdout, proc.stdout + proc.stderr
    shot = shots / "test_fails_on_a_page.png"
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 1000
    assert f"screenshot of the failing page: {shot}" in proc.stdout
