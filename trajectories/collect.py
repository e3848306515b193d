"""A collection run: episodes of one environment split, played by the runner, streamed into a store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentgym.client import AsyncEnvClient
from agentgym.errors import AgentGymError
from agentgym.runner import Runner
from agentgym.trajectory import Trajectory
from trajectories.store import TrajectoryStore


@dataclass
class CollectStats:
    episodes: int = 0
    won: int = 0
    skipped: int = 0
    completion_tokens: int = 0
    errors: int = 0
    aborted: int = 0  # episodes the machinery failed (kept beside the store; --resume plays them again)
    started: float = field(default_factory=time.monotonic)

    @property
    def success(self) -> float:
        return self.won / self.episodes if self.episodes else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / max(1e-9, time.monotonic() - self.started)

    def add(self, traj: Trajectory) -> None:
        if traj.aborted:
            self.aborted += 1
            return
        self.episodes += 1
        self.won += traj.won
        self.errors += traj.infra_failure
        self.completion_tokens += traj.completion_tokens


def failures_path(store: TrajectoryStore) -> Path:
    """Where a run keeps the episodes the machinery failed: beside the store, not matching `*.jsonl`."""
    return store.path.with_name(store.path.name + ".failed")


def plan_jobs(tasks: list[str], episodes: int, done: set[tuple[str, int]]) -> list[tuple[int, str]]:
    """Episode i plays task i mod len(tasks); episodes already stored are skipped."""
    if not tasks:
        raise AgentGymError("no tasks to collect: the split is empty")
    jobs = [(i, tasks[i % len(tasks)]) for i in range(episodes)]
    return [(i, t) for i, t in jobs if (t, i) not in done]


def progress_bars(show: bool = True) -> Progress:
    """The progress display collections draw their bars on (one per collection; several may share it)."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("success {task.fields[success]:.0%}  {task.fields[tps]:.0f} tok/s"), TimeElapsedColumn()]
    return Progress(*columns, disable=not show, transient=False)


def stored_progress(runner: Runner, store: TrajectoryStore) -> tuple[set[tuple[str, int]], dict]:
    """The episodes a store holds in full, and the last stored attempt of those a kill interrupted
    between reflection attempts (to continue after it)."""
    last: dict[tuple[str, int], Trajectory] = {}
    for traj in store:
        if traj.key not in last or traj.attempt > last[traj.key].attempt:
            last[traj.key] = traj
    done = {key for key, traj in last.items() if runner.is_last_attempt(traj)}
    return done, {key: traj for key, traj in last.items() if key not in done}


async def collect(runner: Runner, split: str, episodes: int, store: TrajectoryStore, resume: bool = False,
                  tasks: list[str] | None = None, show_progress: bool = True, label: str = "",
                  progress: Progress | None = None, limit: asyncio.Semaphore | None = None) -> CollectStats:
    """Play `episodes` episodes of `split` (or of `tasks`) and append each trajectory as it finishes.

    Without `resume`, an existing non-empty store is an error (nothing is overwritten); with it,
    episodes already in the store are skipped, so a killed run continues where it stopped: an episode
    interrupted between reflection attempts goes on with its next attempt, and one the machinery failed
    (a server unreachable or overloaded, an LLM timeout: kept in `<out>.failed`, not in the store) is
    played again. The store is locked for the run: a second process on the same file is refused.
    Collections run side by side share a `progress` display and a `limit` on episodes in flight.
    """
    failures = TrajectoryStore(failures_path(store))
    with store.open(), failures.open():
        stored = store.load()
        if stored and not resume:
            raise AgentGymError(f"{store.path} already holds {len(stored)} trajectories: pass --resume to continue "
                                "that run, or choose another --out")
        done, previous = stored_progress(runner, store)
        env: AsyncEnvClient = runner.env
        tasks = tasks or await env.tasks(split)
        jobs = plan_jobs(tasks, episodes, done)
        stats = CollectStats(skipped=episodes - len(jobs))
        with contextlib.nullcontext(progress) if progress else progress_bars(show_progress) as progress:
            bar = progress.add_task(label or f"collect {split}", total=len(jobs), success=0.0, tps=0.0)

            def record(traj: Trajectory) -> None:
                traj.split = traj.split or split  # an episode whose session never opened still has a split
                (failures if traj.aborted else store).append(traj)  # first: a crash after this loses nothing
                stats.add(traj)
                progress.update(bar, advance=int(runner.is_last_attempt(traj)), success=stats.success,
                                tps=stats.tokens_per_s)

            await runner.run(jobs, on_trajectory=record, limit=limit, previous=previous)
    return stats
