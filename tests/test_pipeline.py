"""The main job end to end with a tiny config, through the real env servers and the real vLLM."""

from __future__ import annotations

import json

import pytest

from eval.metrics import compute_metrics
from eval.report import load_results
from training.pipeline import load_config, run_pipeline, training_turns
from trajectories.store import TrajectoryStore

pytestmark = pytest.mark.slow

STAGES = ("eval_base", "demonstrate", "bc_data", "bc", "explore_0", "filter_0", "sft_0", "eval_0")


def tiny(tmp_path, vllm_server, *extra: str):
    # The teacher keeps explored episodes on the expert's plan, so they are won and carry corrected
    # (refinement) turns after the agent's masked erroneous ones: the data the loop must pass on.
    return load_config(None, [
        f"out={tmp_path / 'run'}", f"vllm_url={vllm_server.url}", "envs=[maze]", "eval_tasks=2",
        "eval_max_steps=3", "demo_episodes=4", "explore_episodes=2", "explore_max_steps=30", "max_tokens=32",
        "feedback=refine,teacher", "concurrency=4", "trained_as=lora", "retrain_from=base",
        "bc={max_steps: 1, per_device_train_batch_size: 2, max_length: 512}",
        "sft={max_steps: 1, per_device_train_batch_size: 2, max_length: 512}", *extra,
    ])


def test_pipeline_end_to_end_resumes_by_inputs(vllm_server, tmp_path, capsys):
    cfg = tiny(tmp_path, vllm_server)
    report = run_pipeline(cfg)
    run = tmp_path / "run"
    for name in ("comparison.md", "comparison.png", "timings.md", "evolution.json", "evolution.png"):
        assert (report / name).is_file(), name
    for stage in STAGES:
        assert (run / "stages" / f"{stage}.json").is_file(), stage

    # The reported numbers are the metrics of the trajectories on disk, agent and infra failures apart.
    for label, model in (("eval-base", "smollm2"), ("iter-0/eval", "trained")):
        trajs = [t for p in sorted((run / label / "trajectories").glob("*.jsonl")) for t in TrajectoryStore(p)]
        assert len(trajs) == 4 and {t.model for t in trajs} == {model}  # 2 tasks x 2 splits
        reported = load_results(run / label).metrics
        assert reported.to_dict() == compute_metrics(trajs).to_dict()
        assert reported.overall.agent_failures == sum(t.ended in ("gave_up", "out_of_steps", "lost") for t in trajs)
        assert reported.overall.errors == sum(t.infra_failure for t in trajs) == 0
        assert "| agent failures | infra failures |" in (run / label / "report.md").read_text()

    # Refined (teacher-corrected) turns reach the training data, their errors masked, and are reported.
    data = TrajectoryStore(run / "iter-0" / "train.jsonl").load()
    counts = training_turns(data)
    assert counts["refinement"] > 0 and counts["masked_erroneous"] > 0 and counts["demonstration"] > 0
    assert json.loads((run / "stages" / "filter_0.json").read_text())["turns"] == counts
    assert f"{counts['refinement']} of the" in (report / "comparison.md").read_text()
    demo = TrajectoryStore(run / "demonstrations" / "maze.jsonl").load()[0]
    thoughts = {t.text.splitlines()[0] for t in demo.turns if t.role == "assistant"}
    assert len(thoughts) > 1  # thoughts from the state, not one fixed sentence

    # The same config again: every stage is skipped and nothing is started.
    capsys.readouterr()
    run_pipeline(cfg)
    out = capsys.readouterr().out
    assert out.count("skipped") == len(STAGES) and "starting" not in out

    # A changed evaluation setting reruns the evaluations only, on fresh folders.
    run_pipeline(tiny(tmp_path, vllm_server, "eval_tasks=1"))
    out = capsys.readouterr().out
    assert out.count("skipped") == len(STAGES) - 2 and "[eval_base] inputs changed" in out
    assert len([t for p in (run / "eval-base" / "trajectories").glob("*.jsonl") for t in TrajectoryStore(p)]) == 2
    assert "eval_tasks: 1" in (run / "config.yaml").read_text()


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
    cfg = tiny(tmp_path, vllm_server, "iterations=2", "feedback=refine")
    report = run_pipeline(cfg)
    history = json.loads((report / "evolution.json").read_text())
    assert [h["model"] for h in history] == ["smollm2", "iter-0", "iter-1"]
    assert all(set(h) >= {"held_in", "held_out"} for h in history)
    run = tmp_path / "run"
    # iteration 1 trains on the demonstrations and both rounds' explorations, deduplicated
    first = json.loads((run / "stages" / "filter_0.json").read_text())
    second = json.loads((run / "stages" / "filter_1.json").read_text())
    assert second["kept"] >= first["kept"] >= 4
    models = {t.model for t in TrajectoryStore(run / "iter-1" / "explore" / "maze.jsonl")}
    assert models == {"iter-0"}  # round 1 explored with the model trained in round 0
