"""Evaluation metrics over trajectories: success with Wilson intervals, means with bootstrap intervals.

Everything here is a pure function of the trajectories (and a seed), so a report can be recomputed
from the JSONL store at any time and gives the same numbers.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from agentgym.trajectory import AGENT_FAILURES, Trajectory

Attempt = Literal["first", "last", "best"]
ALL = "all"  # the env (or split) name of pooled rows
SPLIT_ORDER = ("held_in", "held_out", "held_out_reworded")
UNKNOWN_SPLIT = "unknown"  # episodes that failed before the server told their split


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    p, z2 = k / n, z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    lo = 0.0 if k == 0 else max(0.0, center - half)
    hi = 1.0 if k == n else min(1.0, center + half)
    return lo, hi


def bootstrap_mean(values: Sequence[float], resamples: int = 2000, confidence: float = 0.95,
                   seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): percentile bootstrap interval of the mean, deterministic for a given seed."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap_mean of no values")
    mean = float(x.mean())
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // x.size)  # bounded memory; depends only on the data size
    means = np.concatenate([x[rng.integers(0, x.size, size=(min(chunk, resamples - i), x.size))].mean(axis=1)
                            for i in range(0, resamples, chunk)])
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    # Clamp float noise (e.g. constant values) so the interval always holds the point estimate.
    return mean, min(float(lo), mean), max(float(hi), mean)


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test: (z, two-sided p-value); (0, 1) when it is undefined."""
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (k1 / n1 - k2 / n2) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def select_attempts(trajs: Iterable[Trajectory], attempt: Attempt = "first") -> list[Trajectory]:
    """One trajectory per episode (model, env, task, episode): the first, last or best attempt.

    `best` takes a win first, then the highest score, then reward, then the earliest attempt. An
    attempt without a split (it failed before its session opened) borrows its siblings' split. The
    result is sorted, so the metrics do not depend on the order the episodes finished in.
    """
    if attempt not in ("first", "last", "best"):
        raise ValueError(f"attempt must be first, last or best, not {attempt!r}")
    episodes: dict[tuple[str, str, str, int], list[Trajectory]] = defaultdict(list)
    for t in trajs:
        episodes[(t.model, t.env, t.task_id, t.episode)].append(t)
    chosen = []
    for group in episodes.values():
        group.sort(key=lambda t: t.attempt)
        if attempt == "first":
            pick = group[0]
        elif attempt == "last":
            pick = group[-1]
        else:
            pick = max(group, key=lambda t: (t.won, t.score, t.reward, -t.attempt))
        if not pick.split:
            pick = _with_split(pick, next((t.split for t in group if t.split), UNKNOWN_SPLIT))
        chosen.append(pick)
    # A fixed order (runs finish episodes in any order) keeps the bootstrap reproducible from the store.
    return sorted(chosen, key=lambda t: (t.model, t.env, t.split, t.task_id, t.episode))


def _with_split(t: Trajectory, split: str) -> Trajectory:
    copy = Trajectory.from_dict(t.to_dict())
    copy.split = split
    return copy


def assistant_actions(t: Trajectory) -> int:
    """Actions the agent proposed: its assistant turns (teacher-corrected replacements included)."""
    return sum(turn.role == "assistant" for turn in t.turns)


@dataclass
class Interval:
    """A point estimate with its 95% interval."""

    value: float
    lo: float
    hi: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class GroupMetrics:
    """The metrics of one (env, split) cell; env or split is `all` for pooled rows."""

    env: str
    split: str
    n: int
    won: int
    success: Interval
    reward: Interval
    score: Interval
    mean_steps: float
    actions: int
    invalid_actions: int
    invalid_rate: float  # invalid actions / assistant actions, pooled over episodes
    mean_completion_tokens: float
    errors: int  # infrastructure failures: episodes ended by the env or the LLM failing (counted as failures)
    mean_duration_s: float
    agent_failures: int = 0  # episodes the agent lost: gave up after erroneous turns, out of steps, lost
    endings: dict[str, int] = field(default_factory=dict)  # episodes per way of ending (trajectory.ENDINGS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroupMetrics:
        data = dict(d)
        for name in ("success", "reward", "score"):
            data[name] = Interval(**data[name])
        return cls(**data)


@dataclass
class EvalMetrics:
    """Metrics of a whole run: one row per (env, split), pooled rows per split, and an overall row."""

    groups: list[GroupMetrics]
    splits: list[GroupMetrics]
    overall: GroupMetrics
    attempt: str = "first"
    models: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)  # feedback strategies seen in the trajectories
    trajectories: int = 0  # trajectories read, all attempts included
    resamples: int = 2000
    seed: int = 0

    def group(self, env: str, split: str) -> GroupMetrics | None:
        """The row for (env, split); env `all` gives the pooled row of a split."""
        rows = self.splits if env == ALL else self.groups
        return next((g for g in rows if g.env == env and g.split == split), None)

    def split_names(self) -> list[str]:
        return [g.split for g in self.splits]

    def to_dict(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "models": self.models, "feedback": self.feedback,
                "trajectories": self.trajectories, "resamples": self.resamples, "seed": self.seed,
                "groups": [g.to_dict() for g in self.groups], "splits": [g.to_dict() for g in self.splits],
                "overall": self.overall.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalMetrics:
        return cls(groups=[GroupMetrics.from_dict(g) for g in d["groups"]],
                   splits=[GroupMetrics.from_dict(g) for g in d["splits"]],
                   overall=GroupMetrics.from_dict(d["overall"]), attempt=d.get("attempt", "first"),
                   models=list(d.get("models", [])), feedback=list(d.get("feedback", [])),
                   trajectories=d.get("trajectories", 0), resamples=d.get("resamples", 2000), seed=d.get("seed", 0))


def group_metrics(env: str, split: str, trajs: Sequence[Trajectory], resamples: int = 2000,
                  seed: int = 0, z: float = 1.96) -> GroupMetrics:
    """Metrics of one cell from its already-selected trajectories (one per episode)."""
    n = len(trajs)
    if n == 0:
        raise ValueError(f"no trajectories for {env}/{split}")
    won = sum(t.won for t in trajs)
    actions = sum(assistant_actions(t) for t in trajs)
    invalid = sum(t.invalid_actions for t in trajs)
    return GroupMetrics(
        env=env, split=split, n=n, won=won,
        success=Interval(won / n, *wilson(won, n, z)),
        reward=Interval(*bootstrap_mean([t.reward for t in trajs], resamples, seed=seed)),
        score=Interval(*bootstrap_mean([t.score for t in trajs], resamples, seed=seed)),
        mean_steps=sum(t.steps for t in trajs) / n,
        actions=actions, invalid_actions=invalid, invalid_rate=invalid / actions if actions else 0.0,
        mean_completion_tokens=sum(t.completion_tokens for t in trajs) / n,
        errors=sum(t.infra_failure for t in trajs),
        mean_duration_s=sum(t.duration_s for t in trajs) / n,
        agent_failures=sum(t.ended in AGENT_FAILURES for t in trajs),
        endings=dict(sorted(Counter(t.ended for t in trajs).items())),
    )


def split_sort_key(split: str) -> tuple[int, str]:
    """held_in, held_out, then the other splits by name."""
    return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), split)


def compute_metrics(trajs: Iterable[Trajectory], attempt: Attempt = "first", resamples: int = 2000,
                    seed: int = 0) -> EvalMetrics:
    """Per (env, split) rows, per-split pooled rows and an overall row, from one attempt per episode."""
    trajs = list(trajs)
    chosen = select_attempts(trajs, attempt)
    if not chosen:
        raise ValueError("no trajectories to compute metrics from")
    cells: dict[tuple[str, str], list[Trajectory]] = defaultdict(list)
    by_split: dict[str, list[Trajectory]] = defaultdict(list)
    for t in chosen:
        cells[(t.env, t.split)].append(t)
        by_split[t.split].append(t)
    order = sorted(cells, key=lambda c: (split_sort_key(c[1]), c[0]))
    return EvalMetrics(
        groups=[group_metrics(env, split, cells[(env, split)], resamples, seed) for env, split in order],
        splits=[group_metrics(ALL, s, by_split[s], resamples, seed) for s in sorted(by_split, key=split_sort_key)],
        overall=group_metrics(ALL, ALL, chosen, resamples, seed),
        attempt=attempt, models=sorted({t.model for t in chosen}),
        feedback=list(dict.fromkeys(name for t in trajs for name in t.feedback)), trajectories=len(trajs),
        resamples=resamples, seed=seed,
    )
