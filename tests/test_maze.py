"""The maze environment: generation in process, and episodes through a real HTTP server.

What every env must do (splits, experts, unknown ids, determinism) is checked by test_env_contract.py."""

from __future__ import annotations

import pytest

from agentgym import EnvClient
from envs.maze import HELD_IN_SIZES, HELD_OUT_SIZES, MazeEnv, parse_task
from envs.maze.grid import OPPOSITE, distances, generate, shortest_path


@pytest.fixture(scope="module")
def server(maze):
    return maze


# -- in process ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size,seed", [(4, 0), (5, 7), (7, 1000), (8, 1049), (12, 3)])
def test_generated_maze_is_perfect(size: int, seed: int) -> None:
    maze = generate(size, size, seed)
    edges = 0
    for cell, dirs in maze.passages.items():
        for d in dirs:
            nxt = maze.move(cell, d)
            assert maze.in_bounds(nxt), "a passage leads out of the grid"
            assert OPPOSITE[d] in maze.passages[nxt], "passages are two-way"
            edges += 1
    cells = size * size
    assert edges // 2 == cells - 1  # a spanning tree: connected and without cycles
    dist = distances(maze.passages, maze.start)
    assert len(dist) == cells  # every cell reachable, so the goal is too
    assert dist[maze.goal] == max(dist.values()) > 0
    assert len(shortest_path(maze)) == dist[maze.goal]


def test_generation_is_deterministic_and_varied() -> None:
    generate.cache_clear()
    a = generate(5, 5, 12)
    generate.cache_clear()
    assert generate(5, 5, 12) == a
    assert len({generate(5, 5, s).passages.__repr__() for s in range(20)}) == 20


def test_splits_hold_out_sizes_and_seeds() -> None:
    env = MazeEnv()
    held_in, held_out = env.tasks("held_in"), env.tasks("held_out")
    assert len(held_in) == 200 and len(held_out) == 100
    assert {parse_task(t)[0] for t in held_in} == set(HELD_IN_SIZES)
    assert {parse_task(t)[0] for t in held_out} == set(HELD_OUT_SIZES)
    assert not {parse_task(t)[2] for t in held_in} & {parse_task(t)[2] for t in held_out}
    for bad in ["maze-5x5-s1000", "maze-7x7-s3", "maze-5x4-s1", "maze-5x5-s01", "maze-5x5", "maze-axb-s1"]:
        with pytest.raises((KeyError, ValueError)):
            env.split_of(bad)


def test_step_budget_grows_with_the_maze() -> None:
    env = MazeEnv()
    assert env.max_steps_for("maze-4x4-s0") == 64 and env.max_steps_for("maze-5x5-s3") == 100
    assert env.max_steps_for("maze-8x8-s1000") == MazeEnv.max_steps == 256  # the largest maze's
    assert "You have 64 turns." in env.reset("maze-4x4-s0").text


# -- through the server --------------------------------------------------------------------------
def test_info_and_budget(client: EnvClient) -> None:
    info = client.info()
    assert info["name"] == "maze" and "move north" in info["instruction"] and info["max_steps"] == 256
    with client.session(task_id="maze-4x4-s0") as s:
        assert s.state()["max_steps"] == 64  # the server enforces each maze's own budget
        results = [s.step("jump") for _ in range(64)]
        assert not any(r.done for r in results[:-1]) and results[-1].truncated and not results[-1].terminated
        assert "step budget (64) is spent" in results[-1].observation.text


def test_expert_explores_with_available_moves_within_twice_the_cells(client: EnvClient) -> None:
    """The expert is a depth-first explorer that sees only what the agent sees: at least as long as a
    shortest path, and never more than two moves per passage of the maze."""
    task = "maze-7x7-s1003"
    actions = client.expert(task)
    assert len(shortest_path(generate(7, 7, 1003))) <= len(actions) <= 2 * (7 * 7 - 1)
    with client.session(task_id=task) as s:
        for i, action in enumerate(actions):
            assert action in s.observation.available_actions
            result = s.step(action)
            assert result.info["valid"] and result.done == (i == len(actions) - 1)
        assert result.info["won"] and result.reward == 1.0


def test_invalid_actions_keep_the_episode(client: EnvClient) -> None:
    with client.session(task_id="maze-5x5-s3") as s:
        open_dirs = [a.split()[1] for a in s.observation.available_actions]
        blocked = next(d for d in ("north", "south", "east", "west") if d not in open_dirs)
        result = s.step(f"move {blocked}")
        assert not result.info["valid"] and not result.done
        assert result.info["error"].startswith(f"There is a wall to the {blocked}")
        assert f"open directions: {', '.join(open_dirs)}" in result.info["error"]
        result = s.step("fly up")
        assert not result.info["valid"] and not result.done and "move <direction>" in result.info["error"]
        result = s.step(open_dirs[0].upper())  # the bare direction, any case
        assert result.info["valid"] and not result.done


def test_observation_carries_a_map(client: EnvClient) -> None:
    with client.session(task_id="maze-7x7-s1001") as s:
        first = s.observation
        assert "A" in first.extra["map"] and "G" in first.extra["map"]
        assert s.step(first.available_actions[0]).observation.extra["map"] != first.extra["map"]  # A moved
