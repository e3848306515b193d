"""Filters that turn collected trajectories into training data, and the split guard."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from agentgym.errors import AgentGymError
from agentgym.trajectory import Trajectory


class SplitLeakError(AgentGymError):
    """Held-out tasks must never reach training data."""

    code = "split_leak"


def guard_split(trajs: list[Trajectory]) -> None:
    """Raise if any trajectory comes from a held-out task."""
    leaked = sorted({f"{t.env}:{t.task_id}" for t in trajs if t.split != "held_in"})
    if leaked:
        raise SplitLeakError(
            f"{len(leaked)} held-out task(s) in training data (e.g. {', '.join(leaked[:3])}): training on them "
            "would measure memorisation, not generalisation. Collect training data with --split held_in."
        )


@dataclass
class FilterSpec:
    """What to keep. Every criterion left at its default keeps everything it looks at."""

    success_only: bool = True
    min_reward: float | None = None
    min_valid_ratio: float | None = None  # valid actions / assistant actions
    max_turns: int | None = None
    dedupe: bool = True  # one trajectory per (env, task, action sequence)
    drop_errors: bool = True  # episodes that ended by an env or LLM failure (infrastructure, not the agent)


def valid_ratio(traj: Trajectory) -> float:
    actions = [t for t in traj.turns if t.role == "assistant"]
    return sum(bool(t.valid) for t in actions) / len(actions) if actions else 0.0


def apply_filters(trajs: list[Trajectory], spec: FilterSpec) -> tuple[list[Trajectory], Counter]:
    """The kept trajectories and, per reason, how many were dropped. Held-out data raises."""
    guard_split(trajs)
    kept, dropped, seen = [], Counter(), set()
    for traj in trajs:
        reason = None
        if spec.drop_errors and traj.infra_failure:
            reason = "ended by an env or LLM failure"
        elif spec.success_only and not traj.won:
            reason = "not won"
        elif spec.min_reward is not None and traj.reward < spec.min_reward:
            reason = f"reward < {spec.min_reward}"
        elif spec.min_valid_ratio is not None and valid_ratio(traj) < spec.min_valid_ratio:
            reason = f"valid-action ratio < {spec.min_valid_ratio}"
        elif spec.max_turns is not None and len(traj.turns) > spec.max_turns:
            reason = f"more than {spec.max_turns} turns"
        elif spec.dedupe:
            key = (traj.env, traj.task_id, tuple(t.action for t in traj.turns if t.role == "assistant"))
            if key in seen:
                reason = "duplicate"
            seen.add(key)
        if reason:
            dropped[reason] += 1
        else:
            kept.append(traj)
    return kept, dropped
