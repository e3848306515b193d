"""Evaluation metrics against values computed by hand."""

from __future__ import annotations

import json
import math

import pytest

from agentgym.trajectory import Trajectory, Turn
from eval.metrics import (
    ALL,
    EvalMetrics,
    assistant_actions,
    bootstrap_mean,
    compute_metrics,
    select_attempts,
    two_proportion_z,
    wilson,
)


def make_traj(env: str = "maze", split: str = "held_in", task: str = "t0", episode: int = 0, won: bool = False,
              attempt: int = 0, reward: float | None = None, score: float | None = None, actions: int = 3,
              invalid: int = 0, tokens: int = 10, error: str | None = None, model: str = "m") -> Trajectory:
    """A trajectory with `actions` assistant turns of `tokens` completion tokens each, `invalid` of them invalid."""
    turns = [Turn("system", "sys", kind="instruction"), Turn("user", "task", kind="instruction")]
    for i in range(actions):
        bad = i < invalid
        turns.append(Turn("assistant", f"Action: a{i}", kind="action", action=f"a{i}", valid=not bad, erroneous=bad,
                          completion_tokens=tokens))
        turns.append(Turn("user", "obs", kind="feedback" if bad else "observation", feedback=bad))
    return Trajectory(env=env, task_id=task, split=split, model=model, episode=episode, attempt=attempt, turns=turns,
                      reward=float(won) if reward is None else reward, score=float(won) if score is None else score,
                      won=won, steps=actions, invalid_actions=invalid, error=error, duration_s=1.0,
                      ended="won" if won else "env_error" if error else "lost")


def cell(k: int, n: int, env: str = "maze", split: str = "held_in", **kw) -> list[Trajectory]:
    """n episodes of distinct tasks (ids unique per env and split, as envs make them), the first k won."""
    return [make_traj(env, split, task=f"{split}-{i}", episode=i, won=i < k, **kw) for i in range(n)]


# -- Wilson ------------------------------------------------------------------------------------
# Wilson: center = (p + z^2/2n) / (1 + z^2/n), half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2), z = 1.96.
def test_wilson_7_of_10():
    # p = 0.7, z^2 = 3.8416, z^2/n = 0.38416, denominator = 1.38416
    # center = (0.7 + 0.19208) / 1.38416 = 0.89208 / 1.38416 = 0.644492
    # half = 1.96 / 1.38416 * sqrt(0.021 + 0.009604) = 1.416021 * 0.174940 = 0.247718
    # -> [0.396774, 0.892210]
    lo, hi = wilson(7, 10)
    assert lo == pytest.approx(0.396774, abs=1e-5)
    assert hi == pytest.approx(0.892210, abs=1e-5)


def test_wilson_0_of_5_and_5_of_5():
    # 0/5: p = 0, denominator = 1 + 3.8416/5 = 1.76832, center = 0.38416 / 1.76832 = 0.217246,
    # half = 1.96 / 1.76832 * sqrt(3.8416 / 100) = 1.108396 * 0.196 = 0.217246 -> [0, 0.434492]
    assert wilson(0, 5) == (0.0, pytest.approx(0.434492, abs=1e-5))
    # 5/5 is the mirror image: [1 - 0.434492, 1] = [0.565508, 1]
    assert wilson(5, 5) == (pytest.approx(0.565508, abs=1e-5), 1.0)


def test_wilson_edges():
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(50, 100)
    assert 0.5 - lo == pytest.approx(hi - 0.5)  # symmetric at p = 1/2
    with pytest.raises(ValueError):
        wilson(6, 5)


# -- two-proportion z-test ---------------------------------------------------------------------
def test_two_proportion_z_by_hand():
    # 45/50 vs 5/50: pooled p = 0.5, se = sqrt(0.25 * (1/50 + 1/50)) = 0.1, z = (0.9 - 0.1) / 0.1 = 8
    z, p = two_proportion_z(45, 50, 5, 50)
    assert z == pytest.approx(8.0)
    assert p < 1e-10
    # 5/10 vs 6/10: pooled p = 0.55, se = sqrt(0.2475 * 0.2) = 0.222486, z = -0.1 / 0.222486 = -0.449467,
    # p = erfc(0.449467 / sqrt 2) = 0.6531
    z, p = two_proportion_z(5, 10, 6, 10)
    assert z == pytest.approx(-0.449467, abs=1e-5)
    assert p == pytest.approx(0.6531, abs=1e-4)
    assert two_proportion_z(0, 10, 0, 10) == (0.0, 1.0)  # undefined: no variance


# -- bootstrap ---------------------------------------------------------------------------------
def test_bootstrap_is_deterministic_and_holds_the_mean():
    values = [0.0, 0.1, 0.5, 0.9, 1.0, 0.3, 0.3, 0.7]
    first = bootstrap_mean(values, resamples=2000, seed=7)
    assert first == bootstrap_mean(values, resamples=2000, seed=7)
    assert first != bootstrap_mean(values, resamples=2000, seed=8)
    mean, lo, hi = first
    assert mean == pytest.approx(sum(values) / len(values))  # 3.8 / 8 = 0.475
    assert lo < mean < hi
    assert 0.0 <= lo and hi <= 1.0


def test_bootstrap_constant_and_single_values():
    assert bootstrap_mean([0.25] * 9) == (0.25, 0.25, 0.25)
    assert bootstrap_mean([3.0]) == (3.0, 3.0, 3.0)
    with pytest.raises(ValueError):
        bootstrap_mean([])


def test_bootstrap_width_shrinks_with_n():
    small = bootstrap_mean([0.0, 1.0] * 5)
    large = bootstrap_mean([0.0, 1.0] * 500)
    assert large[2] - large[1] < small[2] - small[1]
    # the standard error of a 0/1 mean at n = 1000 is 0.5 / sqrt(1000) = 0.0158: width ~ 2 * 1.96 * 0.0158 = 0.062
    assert large[2] - large[1] == pytest.approx(0.062, abs=0.01)


# -- invalid actions ---------------------------------------------------------------------------
def test_invalid_action_rate_is_pooled_over_assistant_actions():
    a = make_traj(task="a", actions=4, invalid=1)
    b = make_traj(task="b", episode=1, actions=2, invalid=1)
    assert assistant_actions(a) == 4 and assistant_actions(b) == 2
    g = compute_metrics([a, b]).groups[0]
    # (1 + 1) invalid / (4 + 2) actions = 1/3, not the mean of per-episode rates (1/4 + 1/2) / 2 = 3/8
    assert (g.invalid_actions, g.actions) == (2, 6)
    assert g.invalid_rate == pytest.approx(1 / 3)


def test_teacher_corrected_turn_counts_as_an_action():
    t = make_traj(actions=2)
    t.turns.insert(3, Turn("user", "Teacher: do b", kind="teacher", feedback=True))
    t.turns.insert(3, Turn("assistant", "Action: x", kind="action", erroneous=True, valid=False))
    assert assistant_actions(t) == 3


def test_no_actions_gives_zero_rate():
    g = compute_metrics([make_traj(actions=0, error="EnvError: boom")]).overall
    assert (g.actions, g.invalid_rate, g.errors) == (0, 0.0, 1)


# -- attempt selection -------------------------------------------------------------------------
def reflect_episode() -> list[Trajectory]:
    """A reflect run: attempt 0 lost (score 0.2), 1 lost (score 0.6), 2 won; stored out of order."""
    return [make_traj(attempt=2, won=True), make_traj(attempt=0, score=0.2), make_traj(attempt=1, score=0.6)]


@pytest.mark.parametrize(("attempt", "expected"), [("first", 0), ("last", 2), ("best", 2)])
def test_attempt_selection(attempt, expected):
    chosen = select_attempts(reflect_episode() + [make_traj(task="other", won=True)], attempt)
    assert len(chosen) == 2
    assert next(t for t in chosen if t.task_id == "t0").attempt == expected


def test_best_attempt_without_a_win_takes_the_highest_score():
    trajs = [make_traj(attempt=0, score=0.2), make_traj(attempt=1, score=0.6), make_traj(attempt=2, score=0.4)]
    assert select_attempts(trajs, "best")[0].attempt == 1
    assert select_attempts(trajs, "last")[0].attempt == 2


def test_attempts_are_per_episode_and_model():
    trajs = [make_traj(episode=0), make_traj(episode=1), make_traj(episode=0, model="other")]
    assert len(select_attempts(trajs)) == 3


def test_attempt_without_split_borrows_it():
    trajs = [make_traj(split="", error="ConnectError: refused", actions=0), make_traj(attempt=1, split="held_out")]
    assert select_attempts(trajs, "first")[0].split == "held_out"
    assert trajs[0].split == ""  # the input is not modified
    assert select_attempts([make_traj(split="")])[0].split == "unknown"


def test_bad_attempt_name():
    with pytest.raises(ValueError):
        select_attempts([], "middle")


# -- compute_metrics ---------------------------------------------------------------------------
def test_compute_metrics_by_hand():
    trajs = (cell(7, 10, env="maze", split="held_in", tokens=5)
             + cell(0, 5, env="maze", split="held_out", error="boom")  # all 5 errored
             + cell(5, 5, env="wordle", split="held_out", actions=2, invalid=1))
    m = compute_metrics(trajs)
    assert [(g.env, g.split, g.n, g.won) for g in m.groups] == [
        ("maze", "held_in", 10, 7), ("maze", "held_out", 5, 0), ("wordle", "held_out", 5, 5)]
    mi = m.group("maze", "held_in")
    assert mi.success.value == 0.7
    assert (mi.success.lo, mi.success.hi) == pytest.approx((0.396774, 0.892210), abs=1e-5)
    assert mi.reward.value == pytest.approx(0.7) and mi.reward.lo < 0.7 < mi.reward.hi
    assert mi.mean_steps == 3 and mi.mean_completion_tokens == 15  # 3 actions of 5 tokens
    assert m.group("maze", "held_out").errors == 5
    assert m.group("wordle", "held_out").invalid_rate == 0.5
    # pooled held_out: 5/10 won; held_in has only maze
    ho = m.group(ALL, "held_out")
    assert (ho.n, ho.won, ho.errors) == (10, 5, 5)
    assert m.split_names() == ["held_in", "held_out"]
    o = m.overall
    assert (o.env, o.split, o.n, o.won) == (ALL, ALL, 20, 12)
    # invalid: 5 wordle episodes x 1 / (10 x 3 + 5 x 3 + 5 x 2) actions = 5 / 55
    assert o.invalid_rate == pytest.approx(5 / 55)
    # tokens: maze 10 x 3 x 5 + maze 5 x 3 x 10 + wordle 5 x 2 x 10 = 400 over 20 episodes
    assert o.mean_completion_tokens == 20
    assert m.models == ["m"] and m.attempt == "first"


def test_metrics_serialise_and_round_trip():
    m = compute_metrics(cell(3, 8) + cell(1, 4, split="held_out"), attempt="best", resamples=500, seed=3)
    d = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert d == m.to_dict()
    assert EvalMetrics.from_dict(d) == m
    assert all(math.isfinite(g["success"]["lo"]) for g in d["groups"])


def test_metrics_are_deterministic():
    trajs = cell(3, 8) + cell(1, 4, split="held_out")
    for t in trajs:
        t.score = (t.episode % 7) / 7
    # the same episodes in another order (as concurrent runs store them) give the same numbers
    assert compute_metrics(trajs).to_dict() == compute_metrics(list(reversed(trajs))).to_dict()


def test_empty_input_raises():
    with pytest.raises(ValueError):
        compute_metrics([])
