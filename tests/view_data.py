"""Run folders for the viewer's tests, made by the real runner against a real maze server.

A scripted policy (the `ScriptedLLM` test double) errs on purpose: an unparsable reply, then an action the
maze refuses, each followed by the expert's next move, so the trajectories carry erroneous and refined turns.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentgym.client import AsyncEnvClient
from agentgym.feedback import make_strategies
from agentgym.llm import ScriptedLLM
from agentgym.runner import Runner
from eval.metrics import compute_metrics
from eval.report import write_report
from trajectories.store import TrajectoryStore

TASKS = 3


def erring_script(plan: list[str]) -> list[str]:
    """An unparsable reply, the first move, a move the maze does not know (`fly`), then the rest of the plan."""
    moves = [f"Thought: I go on.\nAction: {a}" for a in plan]
    return ["I am not sure what to do.", moves[0], "Thought: try something\nAction: fly", *moves[1:]]


async def _collect(url: str, out: Path) -> None:
    async with AsyncEnvClient(url) as env:
        tasks = (await env.tasks("held_in"))[:TASKS]
        for task in tasks:  # one task at a time: the scripted policy reads only the latest messages
            plan = await env.expert(task)
            runner = Runner(ScriptedLLM(erring_script(plan), model="scripted"), env, make_strategies("refine"))
            TrajectoryStore(out / "eval-agent" / "trajectories" / "maze-held_in.jsonl").append(
                await runner.run_episode(task))
            teacher = Runner(ScriptedLLM(["Thought: north it is.\nAction: move north"], model="scripted"), env,
                             make_strategies("teacher"))
            TrajectoryStore(out / "eval-teacher" / "trajectories" / "maze-held_in.jsonl").append(
                await teacher.run_episode(task))
            expert = Runner(None, env)
            for split in ("held_in", "held_out"):
                task_of_split = task if split == "held_in" else (await env.tasks(split))[tasks.index(task)]
                TrajectoryStore(out / "eval-expert" / "trajectories" / f"maze-{split}.jsonl").append(
                    await expert.run_episode(task_of_split))


def make_runs(url: str, out: Path) -> Path:
    """`out/eval-agent`, `out/eval-teacher`, `out/eval-expert`: trajectories, each with an eval report."""
    asyncio.run(_collect(url, out))
    for name in ("eval-agent", "eval-expert"):
        trajs = [t for f in sorted((out / name / "trajectories").glob("*.jsonl")) for t in TrajectoryStore(f)]
        write_report(compute_metrics(trajs, resamples=200), out / name, model=trajs[0].model, suite="view-test")
    return out
