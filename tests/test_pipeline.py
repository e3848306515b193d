"""The main job end to end with a tiny config, through the real env servers and the real vLLM."""

from __future__ import annotations

import json

import pytest

from agentgym.pipeline import load_config, run_pipeline
from eval.metrics import compute_metrics
from eval.report import load_results
from trajectories.store import TrajectoryStore

pytestmark = pytest.mark.slow


def test_pipeline_end_to_end_and_report_matches_trajectories(vllm_server, tmp_path, capsys):
    cfg = load_config(None, [
        f"out={tmp_path / 'run'}", f"vllm_url={vllm_server.url}", "envs=[maze]", "eval_tasks=2",
        "eval_max_steps=3", "expert_episodes=4", "agent_episodes=2", "collect_max_steps=3", "max_tokens=24",
        "sft={max_steps: 2, per_device_train_batch_size: 2, max_length: 512, merge: false}",
    ])
    report = run_pipeline(cfg)
    run = tmp_path / "run"
    for name in ("comparison.md", "comparison.png", "timings.md"):
        assert (report / name).is_file(), name
    for stage in ("eval_base", "collect", "filter", "sft", "eval_trained"):
        assert (run / "stages" / f"{stage}.json").is_file(), stage

    # The reported numbers are the metrics of the trajectories on disk.
    for label in ("eval-base", "eval-trained"):
        trajs = [t for p in sorted((run / label / "trajectories").glob("*.jsonl")) for t in TrajectoryStore(p)]
        assert len(trajs) == 4  # 2 tasks x 2 splits
        reported = load_results(run / label).metrics
        assert reported.to_dict() == compute_metrics(trajs).to_dict()
    assert {t.model for p in (run / "eval-trained" / "trajectories").glob("*.jsonl")
            for t in TrajectoryStore(p)} == {"trained"}
    filtered = json.loads((run / "stages" / "filter.json").read_text())
    assert filtered["kept"] >= 4  # at least the expert's wins

    # A second run resumes: every stage is skipped.
    capsys.readouterr()
    run_pipeline(cfg)
    out = capsys.readouterr().out
    assert out.count("skipped") == 5
