"""ALFWorld on generated households: ids and splits in process, a small sample planned into a fresh cache
and played through a real HTTP server, and the sped-up text generator checked against the original."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from agentgym import EnvClient
from agentgym.errors import UnknownTask
from envs.alfworld import ALFWorldEnv, engine, problems

HELD_IN = problems.listed("held_in")
HELD_OUT = problems.listed("held_out")


@pytest.fixture(scope="module")
def server(server_factory, env_cache):
    return server_factory("alfworld", extra_env={"AGENTGYM_CACHE": str(env_cache)})


def test_splits_hold_out_goals_and_rooms() -> None:
    env = ALFWorldEnv()
    assert len(HELD_IN) == 240 and len(HELD_OUT) == 120 and not set(HELD_IN) & set(HELD_OUT)
    kinds = {problems.parse_task(t)[0].kind for t in HELD_IN}
    assert kinds == set(problems.KINDS) == {problems.parse_task(t)[0].kind for t in HELD_OUT}
    seen_goals = {problems.parse_task(t)[0] for t in HELD_IN}
    assert all(not g.held_out() for g in seen_goals)
    out = [problems.parse_task(t) for t in HELD_OUT]
    assert all(seed >= problems.UNSEEN_SEED for _, seed in out)  # unseen rooms
    assert sum(g.held_out() for g, _ in out) >= 100 and not {g for g, _ in out} & seen_goals  # unseen goals
    assert all(env.split_of(t) == "held_in" for t in HELD_IN) and all(env.split_of(t) == "held_out" for t in HELD_OUT)
    seen = HELD_IN[0].rpartition("-s")[0]
    assert env.split_of(f"{seen}-s{problems.UNSEEN_SEED}") == "held_out"
    for bad in ("alfworld-heat-book-countertop-s0", "alfworld-pick-apple-countertop-s01", "alfworld-fly-s1"):
        with pytest.raises(KeyError):
            env.split_of(bad)


def test_problem_is_a_pure_function_of_the_id() -> None:
    goal, seed = problems.parse_task(HELD_OUT[3])
    text = problems.problem(goal, seed)
    assert text == problems.problem(goal, seed) and text != problems.problem(goal, seed + 1)
    assert f"(objectType {goal.obj}_bar_1 {goal.obj}Type)" in text and f"{goal.recep}Type" in text


@pytest.mark.parametrize("task_id", [HELD_OUT[3]])  # cool (the contract test plays a sample of every split)
def test_expert_wins_over_http(client: EnvClient, env_cache: Path, task_id: str) -> None:
    actions = client.expert(task_id)
    cached = next(env_cache.joinpath("alfworld").glob(f"*/{task_id}.json"))
    assert json.loads(cached.read_text())["walkthrough"] == actions
    with client.session(task_id=task_id) as s:
        goal = problems.parse_task(task_id)[0]
        assert s.observation.text.endswith(f"Your task is to: {goal.description()}.")
        for i, action in enumerate(actions):
            assert action in s.observation.available_actions
            result = s.step(action)
            assert result.info["valid"] and result.done == (i == len(actions) - 1)
        assert result.info["won"] and result.reward == 1.0


def test_invalid_command_is_feedback(client: EnvClient) -> None:
    with client.session(task_id=HELD_IN[1]) as s:
        result = s.step("fly to the moon")
        assert not result.info["valid"] and not result.done
        assert result.observation.text == "Nothing happens." and "fly to the moon" in result.info["error"]
    with pytest.raises(UnknownTask):
        client.session(task_id="alfworld-pick-apple-bed-s0")


def test_fast_text_generation_matches_the_original() -> None:
    """A random walk gives the same text and commands with TextWorld's own generator (fresh process)."""
    goal, seed = problems.parse_task(HELD_IN[2])
    data = engine.game_data(goal, seed)

    def walk(game) -> list:
        rng, state, out = random.Random(7), game.reset(), []
        for _ in range(4):
            command = rng.choice(state["admissible_commands"])
            state, _, _ = game.step(command)
            out.append([command, state.feedback, state["admissible_commands"]])
        return out

    code = (
        "import json, random, sys; from envs.alfworld import engine, problems\n"
        f"goal, seed = problems.parse_task({HELD_IN[2]!r})\n"
        "game = engine.start(engine.game_data(goal, seed), fast=False)\n"
        "rng, state, out = random.Random(7), game.reset(), []\n"
        "for _ in range(4):\n"
        "    command = rng.choice(state['admissible_commands'])\n"
        "    state, _, _ = game.step(command)\n"
        "    out.append([command, state.feedback, state['admissible_commands']])\n"
        "print(json.dumps(out))\n"
    )
    root = Path(__file__).resolve().parents[1]
    original = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300,
                              env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert original.returncode == 0, original.stderr[-2000:]
    assert walk(engine.start(data)) == json.loads(original.stdout.strip().splitlines()[-1])
