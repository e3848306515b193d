"""The AgentRefine ablation's pieces: arm data (erroneous turns masked or learned), equal-token SFT steps, the
report (each arm against expert-only, the cost of rewording). The stages it runs are the pipeline's."""

from __future__ import annotations

import pytest

from eval.metrics import compute_metrics
from eval.report import write_report
from tests.test_training_data import episode
from training.ablation import AblationConfig, arm_data, load_ablation_config, steps_for, write_ablation_report
from training.sft import SFTRecipe
from trajectories.store import TrajectoryStore


def _store(path, trajs):
    store = TrajectoryStore(path)
    for t in trajs:
        store.append(t)
    return path.parent


def _erroneous_flags(path):
    return [[t.erroneous for t in traj.turns if t.role == "assistant"] for traj in TrajectoryStore(path)]


def test_refine_arms_differ_only_in_whether_erroneous_turns_are_learned(tmp_path):
    demos = tmp_path / "demos"
    demos.mkdir()
    _store(demos / "maze.jsonl", [episode("a", actions=("go", "stop"))])
    explored = tmp_path / "explored"
    explored.mkdir()
    _store(explored / "maze.jsonl", [episode("b", bad=("fly",), actions=("go",)), episode("c", won=False)])
    masked = arm_data("refine_masked", demos, explored, tmp_path / "masked.jsonl")
    learned = arm_data("refine_learned", demos, explored, tmp_path / "learned.jsonl")
    expert = arm_data("expert", demos, None, tmp_path / "expert.jsonl")
    assert masked["kept"] == learned["kept"] == 2 and expert["kept"] == 1  # the lost episode is filtered out
    assert masked["turns"]["masked_erroneous"] == 1 and masked["turns"]["refinement"] == 1
    assert learned["turns"]["learned_erroneous"] == 1 and "masked_erroneous" not in learned["turns"]
    assert [True, False] in _erroneous_flags(tmp_path / "masked.jsonl")
    assert not any(any(f) for f in _erroneous_flags(tmp_path / "learned.jsonl"))  # nothing masked out


def test_arms_get_steps_for_the_same_token_budget(tmp_path, model_dir):
    # a recipe without a batch size trains with SFTRecipe's own, and the steps must count with that one
    short = tmp_path / "short.jsonl"
    _store(short, [episode(f"t{i}") for i in range(4)])
    long = tmp_path / "long.jsonl"
    _store(long, [episode(f"t{i}", actions=tuple(f"go {'far ' * 30}{j}" for j in range(3))) for i in range(4)])
    cfg = AblationConfig(model=model_dir, token_budget=20_000, sft={"learning_rate": 1e-4})
    a, b = steps_for(short, cfg), steps_for(long, cfg)
    assert b["mean_tokens"] > a["mean_tokens"] and a["steps"] > b["steps"]
    batch = SFTRecipe().per_device_train_batch_size
    for plan in (a, b):  # within one step's worth of the budget
        assert 0 <= plan["steps"] * batch * plan["mean_tokens"] - cfg.token_budget < batch * plan["mean_tokens"]


def test_unknown_arm_is_an_error():
    with pytest.raises(ValueError, match="unknown arm"):
        load_ablation_config(None, ["arms=[expert, magic]"])


def _results(folder, won_by_split):
    trajs = [episode(f"{s}{i}", won=i < k, split=s, episode=i) for s, (k, n) in won_by_split.items() for i in range(n)]
    write_report(compute_metrics(trajs, resamples=50), folder, model="m", suite="s")
    return str(folder / "results.json")


def test_report_tests_each_arm_against_expert_and_measures_rewording(tmp_path):
    cfg = AblationConfig(envs=["maze"], token_budget=1000)
    rows = []
    for arm, wins in [("refine_masked", (30, 25, 24)), ("expert", (10, 5, 2))]:  # expert need not come first
        split_wins = dict(zip(cfg.eval_splits, [(w, 40) for w in wins], strict=True))
        rows.append({"arm": arm, "data": {"kept": 3, "turns": {"demonstration": 5, "masked_erroneous": 1}},
                     "plan": {"steps": 2}, "train_tokens": 1000, "results": _results(tmp_path / arm, split_wins)})
    report = write_ablation_report(rows, cfg, tmp_path / "report")
    text = (report / "report.md").read_text()
    assert "| expert | expert demonstrations only | 3 | 5 | 1 / 0 | 2 | 1,000 | 10/40, 25.0%" in text
    assert "| refine_masked | +50.0 points, p = " in text  # 30/40 against 10/40 held-in
    assert "| expert | +0.0 points" not in text  # expert is the reference, not an arm tested against itself
    assert "no explored episode was won" in text  # refine_masked's data above holds demonstrations only
    assert "- expert: +7.5 points" in text and "- refine_masked: +2.5 points" in text  # held-out minus reworded
    assert (report / "ablation.png").stat().st_size > 1000
