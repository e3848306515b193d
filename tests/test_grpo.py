"""GRPO against a live environment server: env tokens are masked, rewards come from the environment."""

from __future__ import annotations

import time

import pytest
from transformers import AutoTokenizer

from tests.test_training_data import episode
from training.grpo import GRPORecipe, episode_tensors, train_grpo, turns_at


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


def test_horizon_curriculum_grows_the_turn_limit_in_stages():
    fixed = GRPORecipe(max_turns=12)
    assert [turns_at(fixed, s) for s in (0, 150, 299)] == [12, 12, 12]
    staged = GRPORecipe(max_turns=12, horizon=[[200, 16], [0, 4], [100, 8]])  # stage order does not matter
    assert [turns_at(staged, s) for s in (0, 99, 100, 199, 200, 299)] == [4, 4, 8, 8, 16, 16]


def test_server_mode_generates_from_the_chat_templated_token_ids(model_dir):
    # TRL's server mode: the rollout sends token ids to `trl vllm-serve` through the trainer's VLLMClient
    from agentgym.llm import Sampling
    from training.grpo import vllm_server_batch_generate

    tok = AutoTokenizer.from_pretrained(model_dir)
    sent = {}

    class FakeClient:  # a test double of trl's VLLMClient: answers each prompt with "Action: wait"
        def generate(self, prompts, **kwargs):
            sent.update(prompts=prompts, **kwargs)
            return {"completion_ids": [tok("Action: wait", add_special_tokens=False)["input_ids"]] * len(prompts)}

    generate = vllm_server_batch_generate(FakeClient(), tok)
    messages = [[{"role": "user", "content": "Task t1."}], [{"role": "user", "content": "Task t2."}]]
    out = generate(messages, Sampling(temperature=1.0, max_tokens=16, stop=["\nObservation"]))
    assert [c.text for c in out] == ["Action: wait"] * 2 and all(c.finish_reason == "stop" for c in out)
    expected = tok.apply_chat_template(messages[0], add_generation_prompt=True, tokenize=False)
    assert all(isinstance(t, int) for t in sent["prompts"][0])
    assert tok.decode(sent["prompts"][0]) == expected and out[0].prompt_tokens == len(sent["prompts"][0])
    assert sent["generation_kwargs"] == {"stop": ["\nObservation"]} and sent["max_tokens"] == 16


def test_deadline_stops_training_and_the_log_records_each_steps_turn_limit():
    from types import SimpleNamespace

    from training.grpo import _horizon_and_deadline

    recipe = GRPORecipe(max_turns=12, horizon=[[0, 4], [2, 8]], deadline_s=60.0)
    state, control = SimpleNamespace(global_step=2, log_history=[{"reward": 0.5}]), SimpleNamespace(
        should_training_stop=False)
    callback = _horizon_and_deadline(recipe, started=time.monotonic())
    callback.on_log(None, state, control)
    assert state.log_history[-1]["turn_limit"] == 4  # logged after step 2, whose rollout ran at step 1
    callback.on_step_end(None, state, control)
    assert not control.should_training_stop
    late = _horizon_and_deadline(recipe, started=time.monotonic() - 61)
    late.on_step_end(None, state, control)
    assert control.should_training_stop


@pytest.mark.slow
def test_grpo_smoke_run_against_live_maze(maze, tmp_path):
    # one step proves the loop (rollouts on the live env, env rewards, an update, the adapter and report)
    recipe = GRPORecipe(max_steps=1, per_device_train_batch_size=2, num_generations=2, max_turns=2,
                        max_new_tokens=16, tasks=4, learning_rate=1e-4, invalid_penalty=0.25)
    result = train_grpo([maze.url], "smollm2", tmp_path / "grpo", recipe, progress=False)
    assert result["steps"] == 1
    assert len(result["rewards"]) == 1 and all(len(r) == 2 for r in result["rewards"])
    # rewards are the env's: won (1) or not (0), minus the penalty per invalid action
    for r in (x for step in result["rewards"] for x in step):
        assert r <= 1.0 and (r * 4) == int(r * 4)
    assert result["rollout_s"] > 0 and result["update_s"] > 0
    # the two episodes of a step play concurrently: their first turns are generated in one batch
    assert result["generator"] == "transformers"
    assert [sizes[0] for sizes in result["batch_sizes"]] == [2]
    assert (tmp_path / "grpo" / "adapter" / "adapter_config.json").is_file()
    logged = [h for h in result["log"] if "reward" in h]
    assert logged and all("completions/mean_length" in h for h in logged)
    report = (tmp_path / "grpo" / "training_report.md").read_text()
    assert "| generator | transformers |" in report and "| reward |" in report
    assert (tmp_path / "grpo" / "training_curves.png").stat().st_size > 1000


@pytest.mark.slow
def test_sequence_logprobs_in_a_padded_batch_equal_one_at_a_time(model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from training.grpo import sequence_logprobs

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    texts = [("Hello there", " general Kenobi"), ("A much longer prompt that needs no padding at all", " ok"),
             ("Hi", " a reply that is the longest completion of the three")]
    seqs = [(tok(p)["input_ids"], tok(c)["input_ids"]) for p, c in texts]
    batched = sequence_logprobs(model, seqs, batch=3)
    single = [sequence_logprobs(model, [s], batch=1)[0] for s in seqs]
    assert [len(b) for b in batched] == [len(c) for _, c in seqs]
    for b, s in zip(batched, single, strict=True):
        assert b == pytest.approx(s, abs=1e-4)
    # and the values are the model's: the first completion token's logprob from a plain forward pass
    ids = torch.tensor([seqs[0][0] + seqs[0][1]])
    with torch.no_grad():
        logits = model(ids).logits[0, len(seqs[0][0]) - 1]
    assert batched[0][0] == pytest.approx(torch.log_softmax(logits, -1)[seqs[0][1][0]].item(), abs=1e-4)
