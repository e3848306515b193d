"""BabyAI in text: minigrid levels through a real HTTP server, the bot as expert, the text view."""

from __future__ import annotations

import numpy as np
import pytest

from agentgym import EnvClient
from agentgym.errors import UnknownTask
from envs.babyai import BabyAIEnv
from envs.babyai.env import HELD_IN_LEVELS, HELD_OUT_LEVELS, parse_task
from envs.babyai.text import describe


@pytest.fixture(scope="module")
def server(served):
    return served("babyai")


def test_splits_hold_out_levels_and_seeds() -> None:
    env = BabyAIEnv()
    held_in, held_out = env.tasks("held_in"), env.tasks("held_out")
    assert len(held_in) == 240 and len(held_out) == 105 and not set(held_in) & set(held_out)
    assert {parse_task(t)[0] for t in held_in} == set(HELD_IN_LEVELS)
    assert {parse_task(t)[0] for t in held_out} == set(HELD_OUT_LEVELS)
    assert env.split_of("babyai-GoToLocal-s9999") == "held_in" and env.split_of("babyai-GoToLocal-s10000") == "held_out"
    for bad in ("babyai-GoTo-s1", "babyai-GoToLocal-s01", "babyai-GoToLocal", "maze-4x4-s0"):
        with pytest.raises(KeyError):
            env.split_of(bad)


def test_text_view_places_objects_and_walls() -> None:
    image = np.zeros((7, 7, 3), dtype=np.uint8)
    image[:, :, 0] = 1  # empty floor everywhere
    image[3, 2] = (6, 0, 0)  # a red ball 4 steps ahead
    image[5, 5] = (4, 2, 2)  # a locked blue door 2 right, 1 forward
    image[0, 6] = (2, 5, 0)  # a wall 3 steps to the left
    assert describe(image, None) == [
        "You see a locked blue door 2 steps right and 1 step forward.",
        "You see a red ball 4 steps forward.",
        "You see a wall 3 steps left.",
    ]


def test_precondition_errors_keep_the_episode() -> None:
    env = BabyAIEnv()
    task = "babyai-PutNextLocal-s10000"
    first = env.reset(task)
    assert first.text.startswith("Your mission: put the ") and first.available_actions[2] == "go forward"
    result = env.step("drop")
    assert not result.info["valid"] and result.info["error"] == "You carry nothing to drop." and not result.done
    assert "Unknown action 'jump'" in env.step("jump").info["error"]
    assert env.step("turn left").observation.text.startswith("You turned left.")


def test_expert_wins_sample_over_http(client: EnvClient) -> None:
    for split in ("held_in", "held_out"):
        tasks = client.tasks(split)
        for task in tasks[:: len(tasks) // 6]:
            with client.session(task_id=task) as s:
                actions = client.expert(task)
                for i, action in enumerate(actions):
                    result = s.step(action)
                    assert result.info["valid"], (task, action, result.info["error"])
                    assert result.done == (i == len(actions) - 1)
                assert result.info["won"] and result.reward == 1.0
    with pytest.raises(UnknownTask):
        client.session(task_id="babyai-BossLevel-s0")


def test_reset_is_deterministic(client: EnvClient) -> None:
    task = "babyai-GoToSeqS5R2-s10003"
    with client.session(task_id=task) as a, client.session(task_id=task) as b:
        assert a.observation == b.observation
        a.step("turn right")
        assert a.reset() == b.observation
