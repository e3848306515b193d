"""A real SFT run on the embedded model: masked tokens carry no loss, loss falls, the adapter loads, and
vLLM's engine inside this process serves the merged model, playing maze through the runner (one vLLM
start-up proves both the merged folder and the in-process backend; the shared test vLLM serves the base)."""

from __future__ import annotations

import asyncio

import pytest

from tests.test_training_data import episode
from training.sft import SFTRecipe, build_sft_trainer, run_sft
from trajectories.export import to_messages, tokenize_messages
from trajectories.store import TrajectoryStore

pytestmark = pytest.mark.slow


def test_sft_masks_errors_learns_and_is_served(tmp_path, model_dir, maze):
    store = TrajectoryStore(tmp_path / "data.jsonl")
    trajs = [episode(f"t{i}", bad=("fly away",), actions=("move north", "move east")) for i in range(6)]
    for t in trajs:
        store.append(t)
    recipe = SFTRecipe(max_steps=4, learning_rate=2e-3, per_device_train_batch_size=3, max_length=512)
    trainer = build_sft_trainer(store.path, "smollm2", tmp_path / "out", recipe, progress=False)

    # The labels are -100 exactly where the assistant mask is 0: erroneous turns carry no loss.
    expected = tokenize_messages(to_messages(trajs[0]), trainer.processing_class)
    row = trainer.train_dataset[0]
    assert row["input_ids"] == expected["input_ids"]
    assert [label != -100 for label in row["labels"]] == [bool(m) for m in expected["assistant_masks"]]
    learned = trainer.processing_class.decode([t for t, lab in zip(row["input_ids"], row["labels"], strict=True)
                                               if lab != -100])
    assert "move north" in learned and "fly away" not in learned

    result = run_sft(trainer, recipe, tmp_path / "out")
    assert len(result.losses) == 4 and result.losses[-1] < result.losses[0]
    report = (tmp_path / "out" / "training_report.md").read_text()
    assert "| steps | 4 |" in report and f"| loss | {result.losses[0]:.4g} | {result.losses[-1]:.4g} |" in report
    assert (tmp_path / "out" / "training_curves.png").stat().st_size > 1000

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tok = trainer.processing_class
    prompt = tok.apply_chat_template(
        [{"role": "system", "content": "You are an agent."}, {"role": "user", "content": "Task t1."}],
        add_generation_prompt=True, tokenize=False)
    target = "Thought: ok\nAction: move north<|im_end|>"
    ids = tok(prompt + target, return_tensors="pt", add_special_tokens=False)["input_ids"]
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])

    def nll(model) -> float:  # mean negative log-likelihood of the learned reply
        with torch.no_grad():
            logits = model(ids).logits[0, n_prompt - 1:-1].float()
        return torch.nn.functional.cross_entropy(logits, ids[0, n_prompt:]).item()

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    before = nll(base)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), result.adapter_dir)
    assert nll(tuned) < before  # the adapter loads and makes the demonstrated reply more likely

    from agentgym import AsyncEnvClient
    from agentgym.feedback import EnvError
    from agentgym.llm import Sampling, VLLMEngineLLM
    from agentgym.runner import Runner, RunnerConfig

    llm = VLLMEngineLLM(result.merged_dir, enforce_eager=True)  # two short episodes: not worth a compile

    async def play():
        try:
            async with AsyncEnvClient(maze.url) as env:
                runner = Runner(llm, env, [EnvError()], RunnerConfig(sampling=Sampling(max_tokens=24), max_steps=2))
                return await runner.run([(0, "maze-4x4-s0"), (1, "maze-4x4-s1")])
        finally:
            await llm.aclose()

    trajs = asyncio.run(play())
    assert len(trajs) == 2 and all(t.error is None or "gave up" in t.error for t in trajs)
    assert {t.model for t in trajs} == {result.merged_dir}
    replies = [t for traj in trajs for t in traj.turns if t.role == "assistant"]
    assert replies and all(t.completion_tokens > 0 and t.prompt_tokens > 50 for t in replies)
