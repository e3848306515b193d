"""Reworded held-out variants: word swaps both ways, the `held_out_reworded` split through a real server,
the runner prompting with the reworded instruction, and suites that select the split."""

from __future__ import annotations

import asyncio

import pytest

from agentgym import AsyncEnvClient, EnvClient
from agentgym.errors import BadRequest, UnknownTask
from agentgym.registry import available, load
from agentgym.reworded import SUFFIX, Rewording, with_reworded_split
from agentgym.runner import Runner
from envs.maze import MazeEnv
from eval.suites import suite_from_dict

REWORDED = "held_out_reworded"


def test_rewording_swaps_whole_words_in_one_pass() -> None:
    r = Rewording(actions=(("go to", "move to"), ("move", "put"), ("take", "pick up")), text=(("arrive", "get"),))
    assert r.to_agent("go to the fridge; move the apple; you arrive") == "move to the fridge; put the apple; you get"
    assert r.to_env("move to fridge 1") == "go to fridge 1"
    assert r.to_env("put apple 1 to table 1") == "move apple 1 to table 1"
    assert r.to_agent("remove mistake takes") == "remove mistake takes"  # only whole words
    assert r.to_env("arrive") == "arrive"  # text swaps are one-way
    assert r.stray_word("move to fridge 1") is None and r.stray_word("pick up apple 1 from table 1") is None
    assert r.stray_word("go to fridge 1") == "go to" and r.stray_word("move apple 1 to table 1") == "move"


def test_every_env_with_words_declares_a_rewording() -> None:
    declared = {name for name in available() if load(name).rewording is not None}
    assert declared == set(available()) - {"echo"}
    assert with_reworded_split(load("maze")) is load("maze")  # wrapping is idempotent
    assert REWORDED not in load("echo").info()["splits"]


@pytest.mark.parametrize("name", ["textcraft", "babyai", "maze", "webshop"])
def test_same_tasks_and_rewards_in_other_words(name: str) -> None:
    env = load(name)()
    reworded, held_out = env.tasks(REWORDED), env.tasks("held_out")
    assert reworded == [t + SUFFIX for t in held_out] and env.split_of(reworded[0]) == REWORDED
    task = held_out[len(held_out) // 2]
    plain_actions, plain_obs = env.expert(task), env.reset(task)
    plain = [env.step(a) for a in plain_actions]
    actions, obs = env.expert(task + SUFFIX), env.reset(task + SUFFIX)
    assert actions != plain_actions and len(actions) == len(plain_actions) and obs.text != plain_obs.text
    results = [env.step(a) for a in actions]
    assert [r.reward for r in results] == [r.reward for r in plain] and results[-1].info["won"]
    with pytest.raises(KeyError):
        env.split_of(env.tasks("held_in")[0] + SUFFIX)  # held-in tasks have no reworded variant


def test_reworded_maze_wall_reads_as_a_place_not_a_direction() -> None:
    env = load("maze")()
    task = env.tasks(REWORDED)[0]
    obs = env.reset(task)
    closed = [d for d in ("up", "down", "left", "right") if d not in obs.available_actions[0].split()
              and all(d not in a.split() for a in obs.available_actions)]
    error = env.step(f"head {closed[0]}").info["error"]
    assert "to the up" not in error and "to the down" not in error
    assert any(place in error for place in ("above", "below", "to the left", "to the right"))


def test_reworded_split_over_http(maze) -> None:
    with EnvClient(maze.url) as client:
        info = client.info()
        assert REWORDED in info["splits"] and "head up" in info["reworded"]["instruction"]
        tasks = client.tasks(REWORDED)
        assert len(tasks) == len(client.tasks("held_out"))
        with client.session(split=REWORDED, index=0) as s:
            assert s.split == REWORDED and s.task_id == tasks[0]
            assert all(a.split()[0] == "head" for a in s.observation.available_actions)
            for action in client.expert(tasks[0]):
                result = s.step(action)
            assert result.info["won"] and result.reward == 1.0
            assert not s.reset().text.count("north")
            result = s.step("move north")  # the old words are spent turns with an error
            assert not result.info["valid"] and result.info["error"].startswith("'move' is not a command here")
            assert s.step(s.observation.available_actions[0]).info["valid"]
        with pytest.raises(UnknownTask):
            client.session(task_id=client.tasks("held_in")[0] + SUFFIX)
    with EnvClient(maze.url) as client, pytest.raises(BadRequest, match="has splits"):
        client.tasks("held_out_paraphrased")


def test_runner_prompts_reworded_sessions_with_the_reworded_instruction(maze) -> None:
    task = MazeEnv().tasks("held_out")[0] + SUFFIX

    async def main():
        async with AsyncEnvClient(maze.url) as env:
            return await Runner(None, env, []).run_task(task)

    [traj] = asyncio.run(main())
    assert traj.won and traj.split == REWORDED
    first = traj.turns[1].text
    assert "head up" in first and "move north" not in first


@pytest.mark.parametrize("fmt", ["function_calling", "tool_calls"])
def test_reworded_sessions_offer_tools_in_their_own_words(maze, fmt) -> None:
    # the expert, written as calls of the reworded tools, wins: the calls write the reworded commands
    from agentgym.action_formats import make_format

    task = MazeEnv().tasks("held_out")[0] + SUFFIX

    async def main():
        async with AsyncEnvClient(maze.url) as env:
            return await Runner(None, env, [], action_format=make_format(fmt)).run_task(task)

    [traj] = asyncio.run(main())
    assert traj.won and traj.split == REWORDED
    [tool] = traj.tools
    assert tool["function"]["name"] == "head"
    assert tool["function"]["parameters"]["properties"]["direction"]["enum"] == ["up", "down", "right", "left"]
    system = traj.turns[0].text
    if fmt == "function_calling":  # the prompt lists the functions; native tool calls get them as `tools`
        assert '"head"' in system and "north" not in system
    actions = [t.action for t in traj.turns if t.role == "assistant"]
    assert actions and all(a.split()[0] == "head" for a in actions)


def test_suites_select_the_reworded_split() -> None:
    suite = suite_from_dict({"entries": [{"env": "alfworld", "split": REWORDED, "tasks": 5}]})
    assert suite.entries[0].split == REWORDED
    with pytest.raises(ValueError, match="split must be one of"):
        suite_from_dict({"entries": [{"env": "alfworld", "split": "reworded", "tasks": 5}]})


def test_eval_suite_runs_the_reworded_split(maze, tmp_path) -> None:
    """The expert through eval's suite runner: both splits scored, the same success in other words."""
    from eval.run import run_suite

    suite = suite_from_dict({"entries": [{"env": "maze", "split": "held_out", "tasks": 3},
                                         {"env": "maze", "split": REWORDED, "tasks": 3}]})
    metrics = asyncio.run(run_suite(suite, None, {"maze": [maze.url]}, tmp_path, show_progress=False))
    rows = {g.split: g for g in metrics.splits}
    assert list(rows) == ["held_out", REWORDED]
    assert rows["held_out"].success.value == rows[REWORDED].success.value == 1.0
