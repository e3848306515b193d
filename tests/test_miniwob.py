"""MiniWoB++ in a real headless Chromium behind a real HTTP server: experts win, sessions free their browser."""

from __future__ import annotations

import psutil
import pytest

from agentgym.errors import UnknownTask
from envs.miniwob import MiniWoBEnv
from envs.miniwob.env import HELD_IN_TASKS, HELD_OUT_TASKS, parse_task
from envs.miniwob.page import describe


@pytest.fixture(scope="module")
def server(server_factory):
    return server_factory("miniwob")


def drivers(pid: int) -> dict[int, list[psutil.Process]]:
    """Each chromedriver under the server (one per browser), with the processes it started (chromium's)."""
    return {p.pid: [p, *p.children(recursive=True)]
            for p in psutil.Process(pid).children(recursive=True) if p.name() == "chromedriver"}


def test_splits_hold_out_task_types_and_seeds() -> None:
    env = MiniWoBEnv()
    held_in, held_out = env.tasks("held_in"), env.tasks("held_out")
    assert len(held_in) == 180 and len(held_out) == 100 and not set(held_in) & set(held_out)
    assert {parse_task(t)[0] for t in held_in} == set(HELD_IN_TASKS)
    assert {parse_task(t)[0] for t in held_out} == set(HELD_OUT_TASKS)
    assert env.split_of("miniwob-click-test-s10000") == "held_out"
    for bad in ("miniwob-book-flight-s0", "miniwob-click-test-s01", "click-test-s1"):
        with pytest.raises(KeyError):
            env.split_of(bad)


def test_page_text_labels_inputs() -> None:
    dom = [
        {"ref": 1, "parent": 0, "tag": "body", "text": "", "value": "", "id": "", "classes": ""},
        {"ref": 2, "parent": 1, "tag": "label", "text": "", "value": "", "id": "", "classes": ""},
        {"ref": 3, "parent": 2, "tag": "input_checkbox", "text": "", "value": False, "id": "ch0", "classes": ""},
        {"ref": -1, "parent": 2, "tag": "t", "text": "red", "value": "", "id": "", "classes": ""},
        {"ref": 4, "parent": 1, "tag": "input_text", "text": "", "value": "ab", "id": "name", "classes": ""},
        {"ref": 5, "parent": 1, "tag": "p", "text": "Hello.", "value": "", "id": "", "classes": ""},
        {"ref": 6, "parent": 1, "tag": "button", "text": "Submit", "value": "", "id": "", "classes": ""},
    ]
    assert describe("Select red.", dom) == (
        'Task: Select red.\nPage text: Hello.\n[3] checkbox "red"\n[4] textbox "name (contains \'ab\')"\n'
        '[6] button "Submit"'
    )


@pytest.mark.parametrize("task_id", ["miniwob-click-link-s0", "miniwob-login-user-s10003"])
def test_expert_wins_and_the_session_frees_its_browser(client, server, task_id) -> None:
    actions = client.expert(task_id)  # the server's expert browser, kept for later calls
    before = drivers(server.pid)
    with client.session(task_id=task_id) as s:
        during = drivers(server.pid)
        (own,) = set(during) - set(before)  # this session's own chromedriver
        assert any("chrom" in p.name() and p.name() != "chromedriver" for p in during[own])  # and its chromium
        for i, action in enumerate(actions):
            result = s.step(action)
            assert result.info["valid"] and result.done == (i == len(actions) - 1)
        assert result.info["won"] and result.reward == 1.0
    _, alive = psutil.wait_procs(during[own], timeout=20)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]  # the browser is gone, all of it
    assert set(drivers(server.pid)) == set(before)


def test_invalid_actions_are_feedback(client) -> None:
    with client.session(task_id="miniwob-click-link-s1") as s:
        assert s.observation.text.startswith('Task: Click on the link "')
        result = s.step("click 999")
        assert not result.info["valid"] and "no element [999]" in result.info["error"] and not result.done
        result = s.step("press enter")
        assert not result.info["valid"] and "click <ref>" in result.info["error"]
    with pytest.raises(UnknownTask):
        client.session(task_id="miniwob-book-flight-s0")
