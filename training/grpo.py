"""Multi-turn GRPO against live environment servers: TRL's GRPOTrainer with a `rollout_func`.

The rollout plays whole episodes with the same `Runner` the collector uses (ReAct turns, parser,
feedback), the policy being the model under training (`HFGenerateLLM`). Each episode becomes one
sequence: the first two messages are the prompt; everything after is the completion, in which only
the model's own tokens count (`env_mask` = 0 on observations, feedback and chat headers). The reward
is the environment's, minus an optional penalty per invalid action.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.client import AsyncEnvClient, EnvClient
from agentgym.llm import LLM, Completion, Sampling
from agentgym.runner import Runner, RunnerConfig
from agentgym.trajectory import Trajectory
from training.recipes import load_recipe
from trajectories.export import rows_to_dataset, tokenize_messages

log = logging.getLogger(__name__)


@dataclass
class GRPORecipe:
    lora_r: int = 16
    lora_alpha: int = 32
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    learning_rate: float = 1e-5
    max_steps: int = 50
    per_device_train_batch_size: int = 4  # sequences per step = prompts x num_generations
    num_generations: int = 4
    gradient_accumulation_steps: int = 1
    beta: float = 0.0
    max_turns: int = 8  # env steps per episode
    max_new_tokens: int = 64  # tokens per assistant turn
    temperature: float = 1.0
    invalid_penalty: float = 0.1  # subtracted per invalid action (reward shaping)
    tasks: int = 32  # held-in tasks in the training set
    seed: int = 0
    logging_steps: int = 1


class HFGenerateLLM(LLM):
    """The policy under training as an LLM backend: plain `generate` (the CPU path)."""

    def __init__(self, model, tokenizer, name: str = "policy"):
        self.hf_model, self.tokenizer, self.model = model, tokenizer, name
        self._lock = asyncio.Lock()  # one generate at a time on a shared model

    async def chat(self, messages, sampling: Sampling, n: int = 1) -> list[Completion]:
        import torch

        inputs = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True).to(self.hf_model.device)
        width = inputs["input_ids"].shape[1]

        def run():
            with torch.no_grad():
                return self.hf_model.generate(**inputs, max_new_tokens=sampling.max_tokens, do_sample=True,
                                              temperature=max(sampling.temperature, 1e-3), top_p=sampling.top_p,
                                              num_return_sequences=n, pad_token_id=self.tokenizer.pad_token_id)

        async with self._lock:
            out = await asyncio.to_thread(run)
        texts = self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        pad = self.tokenizer.pad_token_id
        return [Completion(t, width, int((o[width:] != pad).sum())) for t, o in zip(texts, out, strict=True)]


def episode_tensors(traj: Trajectory, tokenizer) -> dict[str, list]:
    """Prompt ids (system + first user + assistant header), completion ids and the model-token mask."""
    messages = [{"role": t.role, "content": t.text, "train": t.role == "assistant"} for t in traj.turns]
    head = tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in messages[:2]],
                                         add_generation_prompt=True, tokenize=False)
    n_prompt = len(tokenizer(head, add_special_tokens=False)["input_ids"])
    full = tokenize_messages(messages, tokenizer)
    return {"prompt_ids": full["input_ids"][:n_prompt], "completion_ids": full["input_ids"][n_prompt:],
            "env_mask": full["assistant_masks"][n_prompt:]}


def sequence_logprobs(model, prompt_ids: list[int], completion_ids: list[int]) -> list[float]:
    """Log-probabilities of the completion tokens under `model` (what the sampler assigned them)."""
    import torch

    ids = torch.tensor([prompt_ids + completion_ids], device=model.device)
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt_ids) - 1:-1].float()
    return torch.log_softmax(logits, -1).gather(1, ids[0, len(prompt_ids):, None])[:, 0].tolist()


def make_rollout(env_urls: list[str], recipe: GRPORecipe, strategies=(), stats: dict | None = None):
    """A `rollout_func` for GRPOTrainer: each prompt names a task and gets one episode. TRL's sampler already
    repeats every prompt `num_generations` times, which makes the group whose rewards GRPO compares."""

    def rollout(prompts: list, trainer) -> dict[str, Any]:
        task_ids = [p[-1]["content"] if isinstance(p, list) else str(p) for p in prompts]
        policy = HFGenerateLLM(trainer.model, trainer.processing_class)
        config = RunnerConfig(sampling=Sampling(temperature=recipe.temperature, max_tokens=recipe.max_new_tokens),
                              max_steps=recipe.max_turns, concurrency=len(task_ids))

        async def play() -> list[Trajectory]:
            async with AsyncEnvClient(env_urls) as env:
                runner = Runner(policy, env, list(strategies), config)
                results = await asyncio.gather(*(runner.run_episode(t, i) for i, t in enumerate(task_ids)))
                return list(results)

        t0 = time.monotonic()
        was_training = trainer.model.training
        trainer.model.eval()
        trajs = asyncio.run(play())
        out: dict[str, list] = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": [],
                                "env_reward": []}
        for traj in trajs:
            seq = episode_tensors(traj, trainer.processing_class)
            out["prompt_ids"].append(seq["prompt_ids"])
            out["completion_ids"].append(seq["completion_ids"])
            out["env_mask"].append(seq["env_mask"])
            out["logprobs"].append(sequence_logprobs(trainer.model, seq["prompt_ids"], seq["completion_ids"]))
            out["env_reward"].append(traj.reward - recipe.invalid_penalty * traj.invalid_actions)
        trainer.model.train(was_training)
        if stats is not None:
            stats.setdefault("rollout_s", []).append(time.monotonic() - t0)
            stats.setdefault("rewards", []).append(out["env_reward"])
        return out

    return rollout


def env_reward(completions, env_reward: list[float], **kwargs) -> list[float]:
    """The reward the rollout measured in the environment."""
    return list(env_reward)


def train_grpo(env_urls: list[str], model: str, out: str | os.PathLike, recipe: GRPORecipe | str | None = None,
               strategies=(), progress: bool = True) -> dict[str, Any]:
    """GRPO with LoRA on held-in tasks of the env served at `env_urls`; returns per-step timings and rewards."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from agentgym.models import resolve_model

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    recipe = recipe if isinstance(recipe, GRPORecipe) else load_recipe(GRPORecipe, recipe)
    out = Path(out)
    with EnvClient(env_urls) as client:
        tasks = client.tasks("held_in")[: recipe.tasks]
    dataset = rows_to_dataset([{"prompt": [{"role": "user", "content": t}]} for t in tasks])
    path = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    on_gpu = torch.cuda.is_available()
    net = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if on_gpu else torch.float32)
    args = GRPOConfig(
        output_dir=str(out / "checkpoints"), learning_rate=recipe.learning_rate, max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.per_device_train_batch_size, num_generations=recipe.num_generations,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps, beta=recipe.beta, seed=recipe.seed,
        max_completion_length=recipe.max_turns * (recipe.max_new_tokens + 256), logging_steps=recipe.logging_steps,
        save_strategy="no", report_to=[], bf16=on_gpu, use_cpu=not on_gpu, disable_tqdm=not progress,
    )
    stats: dict[str, Any] = {}
    trainer = GRPOTrainer(model=net, reward_funcs=[env_reward], args=args, train_dataset=dataset,
                          processing_class=tokenizer, rollout_func=make_rollout(env_urls, recipe, strategies, stats),
                          peft_config=LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha,
                                                 target_modules=recipe.target_modules, task_type="CAUSAL_LM"))
    t0 = time.monotonic()
    trainer.train()
    total = time.monotonic() - t0
    adapter_dir = out / "adapter"
    trainer.model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    rollout = sum(stats.get("rollout_s", []))
    return {"adapter_dir": str(adapter_dir), "steps": trainer.state.global_step, "total_s": total,
            "rollout_s": rollout, "update_s": total - rollout, "rewards": stats.get("rewards", []),
            "log": trainer.state.log_history}
