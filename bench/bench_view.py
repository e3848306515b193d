"""What following a store costs the viewer, and how fast its pages answer, for a large run.

    .venv/bin/python bench/bench_view.py --trajectories 2000 --turns 20

Writes a store of synthetic maze-like trajectories into a temporary folder, then times `RunIndex`
(first read, a refresh with nothing new, a refresh after 10 appended episodes, one filter) in this
process, and the list and trajectory pages of `agentgym view` served by a child process.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from agentgym.trajectory import Trajectory, Turn
from eval.view.index import RunIndex
from eval.view.server import ViewServer
from trajectories.store import TrajectoryStore


def episode(i: int, turns: int) -> Trajectory:
    body = [Turn("system", "You are an agent.", kind="instruction"), Turn("user", "Maze. " * 60, kind="instruction")]
    for k in range(turns // 2):
        body.append(Turn("assistant", f"Thought: step {k}.\nAction: move north", kind="action", action="move north",
                         valid=k % 5 != 1, erroneous=k % 5 == 1, refinement=k % 5 == 2, completion_tokens=9))
        body.append(Turn("user", "Observation: You moved north. " * 8, kind="observation"))
    return Trajectory(env="maze", task_id=f"maze-5x5-s{i}", split="held_in", model="bench", feedback=["refine"],
                      turns=body, won=i % 3 == 0, reward=float(i % 3 == 0), steps=turns // 2)


def ms(t0: float) -> str:
    return f"{1e3 * (time.perf_counter() - t0):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=2000)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = TrajectoryStore(Path(tmp) / "run" / "trajectories" / "maze.jsonl")
        for i in range(args.trajectories):
            store.append(episode(i, args.turns))
        size = store.path.stat().st_size / 1e6
        print(f"store: {args.trajectories} trajectories of {args.turns + 2} turns, {size:.1f} MB")
        index = RunIndex([Path(tmp) / "run"])
        t0 = time.perf_counter()
        index.refresh()
        print(f"index, first read: {ms(t0)}")
        t0 = time.perf_counter()
        index.refresh()
        print(f"index, refresh with nothing new: {ms(t0)}")
        for i in range(10):
            store.append(episode(args.trajectories + i, args.turns))
        t0 = time.perf_counter()
        new = index.refresh()
        print(f"index, refresh after {len(new)} appended: {ms(t0)}")
        t0 = time.perf_counter()
        rows = index.select({"won": "yes", "env": "maze"})
        print(f"index, filter won=yes over {len(index.entries)}: {ms(t0)} ({len(rows)} rows)")
        with ViewServer([Path(tmp) / "run"], demos=Path(tmp) / "demos.jsonl") as viewer, httpx.Client() as http:
            for name, path in (("list page (last 500 rows)", "/trajectories"), ("trajectory page", "/trajectories/0-1"),
                               ("live poll, nothing new", f"/live/poll?since={len(index.entries)}")):
                http.get(viewer.url + path).raise_for_status()  # warm
                times = []
                for _ in range(10):
                    t0 = time.perf_counter()
                    http.get(viewer.url + path).raise_for_status()
                    times.append(time.perf_counter() - t0)
                print(f"view, {name}: median {1e3 * statistics.median(times):.1f} ms over 10")


if __name__ == "__main__":
    main()
