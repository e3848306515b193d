"""GRPO against a live environment server: env tokens are masked, rewards come from the environment."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from tests.test_training_data import episode
from training.grpo import GRPORecipe, episode_tensors, train_grpo


def test_episode_tensors_mask_everything_but_model_tokens(model_dir):
    tok = AutoTokenizer.from_pretrained(model_dir)
    traj = episode(bad=("fly",), actions=("move north",))
    seq = episode_tensors(traj, tok)
    assert len(seq["completion_ids"]) == len(seq["env_mask"])
    prompt = tok.decode(seq["prompt_ids"])
    assert prompt.endswith("<|im_start|>assistant\n") and "Task t1." in prompt
    model_text = tok.decode([t for t, m in zip(seq["completion_ids"], seq["env_mask"], strict=True) if m])
    # in RL every action the policy took is trained on, erroneous ones included (they earn the penalty)
    assert model_text == "Thought: hm\nAction: fly<|im_end|>\nThought: ok\nAction: move north<|im_end|>\n"
    env_text = tok.decode([t for t, m in zip(seq["completion_ids"], seq["env_mask"], strict=True) if not m])
    assert "is not valid here" in env_text and "Observation after move north" in env_text


@pytest.mark.slow
def test_grpo_smoke_run_against_live_maze(server_factory, tmp_path):
    maze = server_factory("maze")
    recipe = GRPORecipe(max_steps=2, per_device_train_batch_size=2, num_generations=2, max_turns=2,
                        max_new_tokens=16, tasks=4, learning_rate=1e-4, invalid_penalty=0.25)
    result = train_grpo([maze.url], "smollm2", tmp_path / "grpo", recipe, progress=False)
    assert result["steps"] == 2
    assert len(result["rewards"]) == 2 and all(len(r) == 2 for r in result["rewards"])
    # rewards are the env's: won (1) or not (0), minus the penalty per invalid action
    for r in (x for step in result["rewards"] for x in step):
        assert r <= 1.0 and (r * 4) == int(r * 4)
    assert result["rollout_s"] > 0 and result["update_s"] > 0
    assert (tmp_path / "grpo" / "adapter" / "adapter_config.json").is_file()
    logged = [h for h in result["log"] if "reward" in h]
    assert logged and all("completions/mean_length" in h for h in logged)
