"""The main job end to end with a tiny config, through the real env servers and the real vLLM."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
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
        "sft={max_steps: 2, per_device_train_batch_size: 2, max_length: 512}", "trained_as=merged",
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
    # the trained model was merged and served by a vLLM of its own, stopped at the end
    sft = json.loads((run / "stages" / "sft.json").read_text())
    assert (Path(sft["merged"]) / "config.json").is_file()
    assert "| serve_trained |" in (report / "timings.md").read_text()
    assert not [p for p in psutil.process_iter(["cmdline"]) if sft["merged"] in " ".join(p.info["cmdline"] or [])]
    filtered = json.loads((run / "stages" / "filter.json").read_text())
    assert filtered["kept"] >= 4  # at least the expert's wins

    # A second run resumes: every stage is skipped.
    capsys.readouterr()
    run_pipeline(cfg)
    out = capsys.readouterr().out
    assert out.count("skipped") == 5


def test_eval_and_report_commands(vllm_server, tmp_path):
    import subprocess
    import sys

    suite = tmp_path / "tiny.yaml"
    suite.write_text("name: tiny\nentries:\n  - {env: wordle, split: held_out, tasks: 2, max_steps: 2}\n")
    for name in ("a", "b"):
        done = subprocess.run([sys.executable, "-m", "agentgym.cli", "eval", "--suite", str(suite), "--out",
                               str(tmp_path / name), "--llm-url", vllm_server.url, "--max-tokens", "16",
                               "--model", "ignored-with-a-url"], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "wordle" in done.stdout and (tmp_path / name / "report.md").is_file()
        # the report names the model the server answered as, not the --model default
        assert f"**model**: {vllm_server.model_name}" in (tmp_path / name / "report.md").read_text()
    trajs = TrajectoryStore(tmp_path / "a" / "trajectories" / "wordle-held_out.jsonl").load()
    assert len(trajs) == 2 and all(t.split == "held_out" for t in trajs)
    done = subprocess.run([sys.executable, "-m", "agentgym.cli", "report", str(tmp_path / "a"), str(tmp_path / "b"),
                           "--out", str(tmp_path / "cmp"), "--labels", "first,second"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    text = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "first" in text and "second" in text and (tmp_path / "cmp" / "comparison.png").is_file()


def test_self_evolution_two_iterations(vllm_server, tmp_path):
    from agentgym.pipeline import run_evolve

    cfg = load_config(None, [
        f"out={tmp_path / 'evo'}", f"vllm_url={vllm_server.url}", "envs=[wordle]", "eval_tasks=1",
        "eval_max_steps=2", "expert_episodes=3", "agent_episodes=1", "collect_max_steps=2", "max_tokens=16",
        "iterations=2", "sft={max_steps: 1, per_device_train_batch_size: 2, max_length: 768}", "trained_as=lora",
    ])
    out = run_evolve(cfg)
    history = json.loads((out / "evolution.json").read_text())
    assert [h["iteration"] for h in history] == [0, 1]
    assert all(set(h) >= {"held_in", "held_out"} for h in history)
    # iteration 1 trains on its own data merged with iteration 0's: the expert's repeated demonstrations
    # meet their earlier copies and are deduplicated, so the data never shrinks
    first = json.loads((out / "stages" / "filter_0.json").read_text())
    second = json.loads((out / "stages" / "filter_1.json").read_text())
    assert second["kept"] >= first["kept"] >= 3
    assert second["dropped"].get("duplicate", 0) >= 3
    models = {t.model for t in TrajectoryStore(out / "iter-1" / "collect" / "wordle-agent.jsonl")}
    assert models == {"iter-0"}  # iteration 1 explored with the model trained in iteration 0
