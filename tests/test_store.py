"""The trajectory store and collection resume: nothing lost, nothing duplicated, one writer per file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from agentgym import AsyncEnvClient
from agentgym.feedback import Reflect
from agentgym.llm import ScriptedLLM
from agentgym.runner import Runner, RunnerConfig
from agentgym.trajectory import Trajectory
from trajectories.collect import collect, failures_path
from trajectories.store import StoreLocked, TrajectoryStore

ROOT = Path(__file__).parent.parent


def traj(episode: int, attempt: int = 0) -> Trajectory:
    return Trajectory(env="echo", task_id=f"echo-{episode}", split="held_in", model="m", episode=episode,
                      attempt=attempt)


def test_a_whole_record_without_its_newline_is_kept(tmp_path):
    store = TrajectoryStore(tmp_path / "t.jsonl")
    store.append(traj(0))
    store.append(traj(1))
    store.path.write_bytes(store.path.read_bytes().rstrip(b"\n"))  # killed between the record and its newline
    assert store.keys() == {("echo-0", 0), ("echo-1", 1)}  # counted as stored ...
    store.append(traj(2))
    assert store.keys() == {("echo-0", 0), ("echo-1", 1), ("echo-2", 2)}  # ... and still there after an append


def test_a_torn_last_line_is_dropped_and_the_next_append_is_whole(tmp_path):
    store = TrajectoryStore(tmp_path / "t.jsonl")
    store.append(traj(0))
    store.append(traj(1))
    data = store.path.read_bytes()
    store.path.write_bytes(data[: len(data) - 40])  # killed mid-write
    assert store.keys() == {("echo-0", 0)}
    store.append(traj(2))
    assert [t.episode for t in store] == [0, 2]
    assert all(orjson.loads(line) for line in store.path.read_bytes().splitlines())


def test_lines_of_the_wrong_shape_are_skipped_not_fatal(tmp_path):
    path = tmp_path / "t.jsonl"
    good = orjson.dumps(traj(0).to_dict())
    bad = [b"[1, 2]", b'"text"', b"null", b"{}", b'{"env": "e", "task_id": "t", "split": "s", "model": "m", '
           b'"turns": 5}', b'{"env": "e", "task_id": "t", "split": "s", "model": "m", "version": 99}', b"{oops"]
    path.write_bytes(b"\n".join([bad[0], good, *bad[1:], orjson.dumps(traj(1).to_dict())]) + b"\n")
    assert [t.episode for t in TrajectoryStore(path)] == [0, 1]


def test_two_processes_cannot_append_to_one_file(tmp_path):
    path = tmp_path / "t.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from trajectories.store import TrajectoryStore\n"
         f"with TrajectoryStore({str(path)!r}).open():\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLocked, match="another process"):
            TrajectoryStore(path).append(traj(0))
    finally:
        holder.kill()
        holder.wait()
    TrajectoryStore(path).append(traj(0))  # the lock went with its process
    assert TrajectoryStore(path).keys() == {("echo-0", 0)}


def test_infrastructure_failures_are_played_again_on_resume(server_factory, tmp_path):
    server = server_factory("echo", max_sessions=1)
    store = TrajectoryStore(tmp_path / "run.jsonl")

    async def run(concurrency: int):
        async with AsyncEnvClient(server.url) as env:
            runner = Runner(None, env, [], RunnerConfig(concurrency=concurrency))
            return await collect(runner, "held_in", 4, store, resume=True, show_progress=False)

    first = asyncio.run(run(concurrency=4))  # 4 episodes at once against a cap of 1: some get 503
    failed = TrajectoryStore(failures_path(store)).load()
    assert first.aborted == len(failed) >= 1 and first.episodes + first.aborted == 4
    assert all(t.aborted and t.error.startswith("TooManySessions") for t in failed)
    assert len(store.load()) == first.episodes
    second = asyncio.run(run(concurrency=1))
    assert second.skipped == first.episodes and second.aborted == 0
    keys = [t.key for t in store]
    assert sorted(keys) == [(f"echo-{i}", i) for i in range(4)]  # each episode once


def test_reflection_attempts_are_stored_as_they_end_and_resume_after_the_last(maze, tmp_path):
    store = TrajectoryStore(tmp_path / "run.jsonl")
    stored_when_reflecting: list[int] = []

    def reply(messages) -> str:
        if "You did not complete the task" in messages[-1]["content"]:
            stored_when_reflecting.append(len(store.load()))
            return "I walked into walls."
        return "Thought: try.\nAction: go nowhere"

    async def run(episodes: int):
        async with AsyncEnvClient(maze.url) as env:
            runner = Runner(ScriptedLLM(reply), env, [Reflect(attempts=3)], RunnerConfig(max_steps=2, concurrency=1))
            return await collect(runner, "held_in", episodes, store, resume=True, show_progress=False)

    asyncio.run(run(1))
    assert stored_when_reflecting == [1, 2]  # each attempt was on disk before the next began
    assert [(t.episode, t.attempt) for t in store] == [(0, 0), (0, 1), (0, 2)]
    lines = store.path.read_bytes().splitlines(keepends=True)
    store.path.write_bytes(b"".join(lines[:2]))  # as if killed after attempt 1 was stored
    stats = asyncio.run(run(2))
    assert [(t.episode, t.attempt) for t in store] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert stats.skipped == 0 and stats.episodes == 4
