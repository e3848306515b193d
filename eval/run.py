"""Run a suite through the runner against live servers, store the trajectories, compute the metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agentgym.action_formats import ActionFormat
from agentgym.client import AsyncEnvClient
from agentgym.env_server import EnvServer
from agentgym.feedback import Strategy
from agentgym.llm import LLM, Sampling
from agentgym.runner import Runner, RunnerConfig
from eval.metrics import EvalMetrics, compute_metrics
from eval.suites import Suite, SuiteEntry
from trajectories.collect import collect, progress_bars
from trajectories.store import TrajectoryStore


@dataclass
class EvalRun:
    """Where one model's evaluation on one suite writes."""

    out_dir: Path

    def store(self, entry: SuiteEntry) -> TrajectoryStore:
        return TrajectoryStore(self.out_dir / "trajectories" / f"{entry.env}-{entry.split}.jsonl")

    def trajectories(self, suite: Suite) -> list:
        return [t for entry in suite.entries for t in self.store(entry)]


@contextlib.contextmanager
def env_servers(envs: list[str], given: dict[str, list[str]] | None = None) -> Iterator[dict[str, list[str]]]:
    """URLs per environment: the given ones, and a freshly started server for every other env."""
    urls = {k: list(v) for k, v in (given or {}).items()}
    with contextlib.ExitStack() as stack:
        for env in envs:
            if env not in urls:
                urls[env] = [stack.enter_context(EnvServer(env, max_sessions=512)).url]
        yield urls


async def run_suite(suite: Suite, llm: LLM | None, env_urls: dict[str, list[str]], out_dir: str | Path,
                    strategies: list[Strategy] | None = None, sampling: Sampling | None = None,
                    concurrency: int = 16, resume: bool = True, show_progress: bool = True,
                    history: int | None = None, action_format: ActionFormat | None = None) -> EvalMetrics:
    """Play every entry of the suite (skipping episodes already stored when `resume`) and return metrics.

    The entries run side by side, `concurrency` episodes in flight in all, so the LLM server batches
    replies across envs and splits.
    """
    run = EvalRun(Path(out_dir))
    limit = asyncio.Semaphore(concurrency)

    async def play(entry: SuiteEntry, progress) -> None:
        async with AsyncEnvClient(env_urls[entry.env]) as env:
            tasks = entry.tasks if isinstance(entry.tasks, list) else (await env.tasks(entry.split))[: entry.tasks]
            config = RunnerConfig(sampling=sampling or Sampling(temperature=0.0), max_steps=entry.max_steps,
                                  concurrency=concurrency, history=history)
            runner = Runner(llm, env, strategies or [], config, action_format=action_format)
            await collect(runner, entry.split, len(tasks) * entry.episodes_per_task, run.store(entry),
                          resume=resume, tasks=tasks, label=f"eval {entry.env} {entry.split}",
                          progress=progress, limit=limit)

    with progress_bars(show_progress) as progress:
        await asyncio.gather(*(play(entry, progress) for entry in suite.entries))
    return compute_metrics(run.trajectories(suite))
