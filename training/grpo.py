"""Multi-turn GRPO against live environment servers: TRL's GRPOTrainer with a `rollout_func`.

The rollout plays whole episodes with the same `Runner` the collector uses (ReAct turns, parser,
feedback), the policy being the model under training. The episodes of a step run concurrently and their
turns are generated in batches (`BatchedLLM`): by TRL's colocated vLLM on a GPU (TRL syncs the weights
before each rollout), by transformers' `generate` on the CPU. Each episode becomes one
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
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from agentgym.client import AsyncEnvClient, EnvClient
from agentgym.llm import BatchedLLM, BatchGenerate, Completion, Sampling, vllm_sampling_params
from agentgym.runner import Runner, RunnerConfig
from agentgym.trajectory import Trajectory
from training.recipes import load_recipe
from training.report import write_training_report
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
    rollout_batch: int = 256  # most prompts per generate call (1 = one at a time)
    use_vllm: bool | None = None  # None: TRL's colocated vLLM when there is a GPU and vLLM is installed
    vllm_gpu_memory_utilization: float = 0.3
    # "colocate": vLLM inside the trainer's process, on its GPU; "server": a `trl vllm-serve` on other GPUs
    # (`vllm_server_url`), the trainer on the rest (launched by `accelerate` for several).
    vllm_mode: str = "colocate"
    vllm_server_url: str = "http://127.0.0.1:8000"
    # A horizon curriculum (AgentGym-RL's ScalingInter): [[from step, turns], ...], e.g. [[0, 4], [100, 8],
    # [200, 16]]; empty: `max_turns` throughout.
    horizon: list[list[int]] = field(default_factory=list)
    deadline_s: float = 0.0  # > 0: stop training (and save) once this many seconds have passed


def hf_batch_generate(model, tokenizer) -> BatchGenerate:
    """Sampling with transformers' `generate` on a left-padded batch (the CPU path)."""

    def generate(prompts: list[list[dict]], sampling: Sampling) -> list[Completion]:
        import torch

        texts = [tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in prompts]
        # left padding: the new tokens must follow every prompt
        enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left",
                        add_special_tokens=False).to(model.device)
        greedy = sampling.temperature <= 0
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=sampling.max_tokens, do_sample=not greedy,
                                 temperature=None if greedy else sampling.temperature,
                                 top_p=None if greedy else sampling.top_p, pad_token_id=tokenizer.pad_token_id)
        width, stops = enc["input_ids"].shape[1], {tokenizer.eos_token_id, tokenizer.pad_token_id}
        completions = []
        for row, mask in zip(out[:, width:].tolist(), enc["attention_mask"].sum(1).tolist(), strict=True):
            length = next((i for i, t in enumerate(row) if t in stops), len(row))
            finish = "stop" if length < len(row) else "length"
            completions.append(Completion(tokenizer.decode(row[:length], skip_special_tokens=True), mask, length,
                                          finish))
        return completions

    return generate


def vllm_batch_generate(llm, tokenizer) -> BatchGenerate:
    """Sampling with vLLM's offline `LLM` (TRL's colocate mode keeps its weights equal to the policy's)."""

    def generate(prompts: list[list[dict]], sampling: Sampling) -> list[Completion]:
        texts = [tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in prompts]
        outs = llm.generate(texts, vllm_sampling_params(sampling), use_tqdm=False)
        return [Completion(o.outputs[0].text, len(o.prompt_token_ids), len(o.outputs[0].token_ids),
                           o.outputs[0].finish_reason) for o in outs]

    return generate


def vllm_server_batch_generate(client, tokenizer) -> BatchGenerate:
    """Sampling with a `trl vllm-serve` server (TRL's server mode pushes the policy's weights to it)."""

    def generate(prompts: list[list[dict]], sampling: Sampling) -> list[Completion]:
        texts = [tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in prompts]
        ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        out = client.generate(prompts=ids, temperature=sampling.temperature, top_p=sampling.top_p,
                              max_tokens=sampling.max_tokens, logprobs=None,
                              generation_kwargs={"stop": sampling.stop} if sampling.stop else None)
        return [Completion(tokenizer.decode(c, skip_special_tokens=True), len(p), len(c),
                           "length" if len(c) >= sampling.max_tokens else "stop")
                for p, c in zip(ids, out["completion_ids"], strict=True)]

    return generate


def turns_at(recipe: GRPORecipe, step: int) -> int:
    """The turn limit at training step `step`: the last horizon stage started by then, else `max_turns`."""
    limit = recipe.max_turns
    for start, turns in sorted(recipe.horizon):
        if step >= start:
            limit = turns
    return limit


def policy_llm(trainer, recipe: GRPORecipe) -> BatchedLLM:
    """The model under training as the runner's LLM: TRL's vLLM (colocated or a server) when it has one,
    else `generate`."""
    if getattr(trainer, "use_vllm", False) and recipe.vllm_mode == "server":
        generate = vllm_server_batch_generate(trainer.vllm_generation.vllm_client, trainer.processing_class)
    elif getattr(trainer, "use_vllm", False):
        generate = vllm_batch_generate(trainer.vllm_generation.llm, trainer.processing_class)
    else:
        generate = hf_batch_generate(trainer.model, trainer.processing_class)
    return BatchedLLM(generate, max_batch=recipe.rollout_batch)


def episode_tensors(traj: Trajectory, tokenizer) -> dict[str, list]:
    """Prompt ids (system + first user + assistant header), completion ids and the model-token mask."""
    messages = [{"role": t.role, "content": t.text, "train": t.role == "assistant"} for t in traj.turns]
    head = tokenizer.apply_chat_template([{"role": m["role"], "content": m["content"]} for m in messages[:2]],
                                         add_generation_prompt=True, tokenize=False)
    n_prompt = len(tokenizer(head, add_special_tokens=False)["input_ids"])
    full = tokenize_messages(messages, tokenizer)
    return {"prompt_ids": full["input_ids"][:n_prompt], "completion_ids": full["input_ids"][n_prompt:],
            "env_mask": full["assistant_masks"][n_prompt:]}


def sequence_logprobs(model, sequences: list[tuple[list[int], list[int]]], batch: int = 16) -> list[list[float]]:
    """Log-probabilities of each completion's tokens under `model`, for (prompt_ids, completion_ids) pairs.

    Sequences go through the model `batch` at a time, right-padded (real tokens keep positions 0..n-1)."""
    import torch

    pad = 0
    result: list[list[float]] = []
    for start in range(0, len(sequences), batch):
        chunk = [p + c for p, c in sequences[start:start + batch]]
        width = max(map(len, chunk))
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in chunk], device=model.device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in chunk], device=model.device)
        with torch.no_grad():
            logps = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1)
        taken = logps.gather(2, ids[:, 1:, None])[..., 0]
        for row, (prompt, completion) in zip(taken.tolist(), sequences[start:start + batch], strict=True):
            result.append(row[len(prompt) - 1:len(prompt) - 1 + len(completion)])
    return result


def make_rollout(env_urls: list[str], recipe: GRPORecipe, strategies=(), stats: dict | None = None):
    """A `rollout_func` for GRPOTrainer: each prompt names a task and gets one episode. TRL's sampler already
    repeats every prompt `num_generations` times, which makes the group whose rewards GRPO compares."""

    def rollout(prompts: list, trainer) -> dict[str, Any]:
        task_ids = [p[-1]["content"] if isinstance(p, list) else str(p) for p in prompts]
        policy = policy_llm(trainer, recipe)
        turns = turns_at(recipe, trainer.state.global_step)
        config = RunnerConfig(sampling=Sampling(temperature=recipe.temperature, max_tokens=recipe.max_new_tokens),
                              max_steps=turns, concurrency=len(task_ids))

        async def play() -> list[Trajectory]:
            async with AsyncEnvClient(env_urls) as env:
                runner = Runner(policy, env, list(strategies), config)
                results = await asyncio.gather(*(runner.run_episode(t, i) for i, t in enumerate(task_ids)))
                return list(results)

        t0 = time.monotonic()
        was_training = trainer.model.training
        trainer.model.eval()
        trajs = asyncio.run(play())
        t_logprobs = time.monotonic()
        out: dict[str, list] = {"prompt_ids": [], "completion_ids": [], "env_mask": [], "env_reward": []}
        for traj in trajs:
            seq = episode_tensors(traj, trainer.processing_class)
            out["prompt_ids"].append(seq["prompt_ids"])
            out["completion_ids"].append(seq["completion_ids"])
            out["env_mask"].append(seq["env_mask"])
            out["env_reward"].append(traj.reward - recipe.invalid_penalty * traj.invalid_actions)
        out["logprobs"] = sequence_logprobs(trainer.model, list(zip(out["prompt_ids"], out["completion_ids"],
                                                                    strict=True)))
        trainer.model.train(was_training)
        if stats is not None:
            stats.setdefault("rollout_s", []).append(time.monotonic() - t0)
            stats.setdefault("batch_sizes", []).append(policy.batch_sizes)
            stats.setdefault("generate_s", []).append(policy.generate_s)
            stats.setdefault("logprobs_s", []).append(time.monotonic() - t_logprobs)
            stats.setdefault("rewards", []).append(out["env_reward"])
            stats.setdefault("turn_limits", []).append(turns)
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
    if recipe.vllm_mode == "server" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # TRL gives only the main process a client of the vLLM server, and the rollout generates through it
        raise ValueError("vllm_mode=server runs one trainer process (the rollout generates through the main "
                         "process's client); give the other GPUs to `trl vllm-serve` (data_parallel_size)")
    out = Path(out)
    with EnvClient(env_urls) as client:
        tasks = client.tasks("held_in")[: recipe.tasks]
    dataset = rows_to_dataset([{"prompt": [{"role": "user", "content": t}]} for t in tasks])
    path = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    on_gpu = torch.cuda.is_available()
    use_vllm = recipe.use_vllm if recipe.use_vllm is not None else on_gpu and find_spec("vllm") is not None
    longest = max([recipe.max_turns, *(turns for _, turns in recipe.horizon)])
    max_completion = longest * (recipe.max_new_tokens + 256)
    net = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if on_gpu else torch.float32)
    args = GRPOConfig(
        output_dir=str(out / "checkpoints"), learning_rate=recipe.learning_rate, max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.per_device_train_batch_size, num_generations=recipe.num_generations,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps, beta=recipe.beta, seed=recipe.seed,
        max_completion_length=max_completion, logging_steps=recipe.logging_steps,
        save_strategy="no", report_to=[], bf16=on_gpu, use_cpu=not on_gpu, disable_tqdm=not progress,
        use_vllm=use_vllm, vllm_mode=recipe.vllm_mode, vllm_server_base_url=recipe.vllm_server_url,
        vllm_gpu_memory_utilization=recipe.vllm_gpu_memory_utilization,
        vllm_max_model_length=min(max_completion + 4096, getattr(net.config, "max_position_embeddings", 1 << 30)),
    )
    stats: dict[str, Any] = {}
    t_setup = time.monotonic()
    trainer = GRPOTrainer(model=net, reward_funcs=[env_reward], args=args, train_dataset=dataset,
                          processing_class=tokenizer, rollout_func=make_rollout(env_urls, recipe, strategies, stats),
                          peft_config=LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha,
                                                 target_modules=recipe.target_modules, task_type="CAUSAL_LM"))
    t0 = time.monotonic()
    setup = t0 - t_setup  # includes starting the colocated vLLM
    trainer.add_callback(_horizon_and_deadline(recipe, t0))
    trainer.train()
    total = time.monotonic() - t0
    adapter_dir = out / "adapter"
    main = trainer.accelerator.is_main_process  # under `accelerate launch`, one process saves and reports
    if main:
        trainer.model.save_pretrained(adapter_dir)
        tokenizer.save_pretrained(adapter_dir)
    rollout = sum(stats.get("rollout_s", []))
    result = {"adapter_dir": str(adapter_dir), "steps": trainer.state.global_step, "setup_s": setup,
              "total_s": total, "rollout_s": rollout, "update_s": total - rollout,
              "rollout_s_per_step": stats.get("rollout_s", []), "generate_s": sum(stats.get("generate_s", [])),
              "logprobs_s": sum(stats.get("logprobs_s", [])), "rewards": stats.get("rewards", []),
              "generator": f"vllm ({recipe.vllm_mode})" if use_vllm else "transformers",
              "batch_sizes": stats.get("batch_sizes", []), "turn_limits": stats.get("turn_limits", []),
              "log": trainer.state.log_history}
    steps = max(1, result["steps"])
    if not main:
        return result
    write_training_report(out, "GRPO run", result["log"], {
        "generator": result["generator"], "steps": result["steps"],
        "episodes per step": recipe.per_device_train_batch_size, "trainer setup s": round(setup, 1),
        "s per step": round(total / steps, 2), "rollout s per step": round(rollout / steps, 2),
        "update s per step": round((total - rollout) / steps, 2), "adapter": str(adapter_dir),
        "turn limit": f"{recipe.horizon} (curriculum)" if recipe.horizon else recipe.max_turns,
        "stopped by the deadline": recipe.deadline_s > 0 and result["steps"] < recipe.max_steps},
        curves=["reward", "reward_std", "turn_limit", "completions/mean_length", "loss"])
    return result


def _horizon_and_deadline(recipe: GRPORecipe, started: float):
    """A `TrainerCallback` that logs each step's turn limit and stops training (which then saves) once
    `recipe.deadline_s` seconds have passed since `started`."""
    from transformers import TrainerCallback

    class HorizonAndDeadline(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs) -> None:
            if state.log_history:  # logged after the step: its rollout ran at global_step - 1
                state.log_history[-1]["turn_limit"] = turns_at(recipe, max(0, state.global_step - 1))

        def on_step_end(self, args, state, control, **kwargs) -> None:
            if recipe.deadline_s > 0 and time.monotonic() - started > recipe.deadline_s:
                control.should_training_stop = True

    return HorizonAndDeadline()
