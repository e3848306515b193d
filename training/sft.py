"""Supervised fine-tuning on filtered trajectories: TRL's SFTTrainer with a PEFT LoRA adapter.

The loss covers exactly the tokens of trainable assistant turns (`assistant_masks`), so erroneous turns
stay in the context but out of the loss (AgentRefine).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentgym.models import resolve_model
from training.recipes import load_recipe
from training.report import write_training_report

log = logging.getLogger(__name__)


@dataclass
class SFTRecipe:
    """One SFT run's settings; a YAML recipe file sets any of them."""

    full_finetune: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                               "gate_proj", "up_proj", "down_proj"])
    learning_rate: float = 2e-4
    num_train_epochs: float = 2.0
    max_steps: int = -1  # > 0 overrides epochs
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_length: int = 2048
    packing: bool = False
    merge: bool = True  # also write a merged model folder that vLLM serves directly
    seed: int = 0
    logging_steps: int = 1


@dataclass
class SFTResult:
    out_dir: str
    adapter_dir: str | None
    merged_dir: str | None
    losses: list[float]
    train_tokens: int
    runtime_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_training_data(data: str | os.PathLike, tokenizer, max_length: int):
    """Trajectories (our JSONL store, or AgentGym's JSON) -> a tokenized dataset with masks.

    Held-out trajectories raise (the split guard); imported AgentGym data counts as held-in.
    """
    from trajectories.export import read_agentgym, to_dataset, tokenize_dataset
    from trajectories.filters import guard_split
    from trajectories.store import TrajectoryStore

    path = Path(data)
    trajs = read_agentgym(path) if path.suffix == ".json" else TrajectoryStore(path).load()
    if not trajs:
        raise ValueError(f"no trajectories in {path}")
    guard_split(trajs)
    return tokenize_dataset(to_dataset(trajs), tokenizer, max_length)


def build_sft_trainer(data, model: str, out: str | os.PathLike, recipe: SFTRecipe, progress: bool = True):
    """TRL's SFTTrainer for `model` on `data` (a path, or a dataset with `input_ids`/`assistant_masks`)."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    out = Path(out)
    model_path = resolve_model(model)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    dataset = data if not isinstance(data, (str, os.PathLike)) else load_training_data(data, tokenizer,
                                                                                      recipe.max_length)
    if len(dataset) == 0:
        raise ValueError("the training data has no trainable assistant turn")
    on_gpu = torch.cuda.is_available()
    # bf16 weights train poorly in fp32-less CPU kernels; fp32 on the CPU, bf16 on a GPU.
    dtype = torch.bfloat16 if on_gpu else torch.float32
    net = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    peft_config = None if recipe.full_finetune else LoraConfig(
        r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
        target_modules=recipe.target_modules, task_type="CAUSAL_LM")
    args = SFTConfig(
        output_dir=str(out / "checkpoints"), learning_rate=recipe.learning_rate,
        num_train_epochs=recipe.num_train_epochs, max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps, max_length=recipe.max_length,
        packing=recipe.packing, seed=recipe.seed, logging_steps=recipe.logging_steps, save_strategy="no",
        report_to=[], bf16=on_gpu, use_cpu=not on_gpu, disable_tqdm=not progress, dataset_num_proc=None,
    )
    return SFTTrainer(model=net, args=args, train_dataset=dataset, processing_class=tokenizer,
                      peft_config=peft_config)


def train_sft(data, model: str, out: str | os.PathLike, recipe: SFTRecipe | str | None = None,
              progress: bool = True) -> SFTResult:
    """Fine-tune `model` on `data`; write the adapter to `out/adapter` (and a merged model to
    `out/merged` when the recipe says so)."""
    recipe = recipe if isinstance(recipe, SFTRecipe) else load_recipe(SFTRecipe, recipe)
    return run_sft(build_sft_trainer(data, model, out, recipe, progress), recipe, out)


def run_sft(trainer, recipe: SFTRecipe, out: str | os.PathLike) -> SFTResult:
    """Train with a built trainer and save what the recipe asks for."""
    out = Path(out)
    tokenizer, dataset = trainer.processing_class, trainer.train_dataset
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    main = trainer.accelerator.is_main_process  # under `accelerate launch`, one process saves and reports
    adapter_dir, merged_dir = _save(trainer.model, tokenizer, recipe, out) if main else (None, None)
    tokens = int(sum(len(ids) for ids in dataset["input_ids"]) * (trainer.state.epoch or 0))
    runtime = result.metrics.get("train_runtime", 0.0)
    if main:
        write_training_report(out, "SFT run", trainer.state.log_history, {
            "steps": trainer.state.global_step, "sequences": len(dataset), "train tokens": tokens,
            "processes": trainer.accelerator.num_processes, "runtime s": round(runtime, 1),
            "tokens/s": round(tokens / max(runtime, 1e-9), 1), "adapter": adapter_dir, "merged model": merged_dir},
            curves=["loss", "grad_norm", "learning_rate"])
    return SFTResult(str(out), adapter_dir, merged_dir, losses, tokens, runtime)


def _save(trained, tokenizer, recipe: SFTRecipe, out: Path) -> tuple[str | None, str | None]:
    """Write the adapter and/or the merged model the recipe asks for; returns their folders."""
    import torch

    if recipe.full_finetune:
        merged_dir = str(out / "merged")
        trained.to(torch.bfloat16).save_pretrained(merged_dir)
        tokenizer.save_pretrained(merged_dir)
        return None, merged_dir
    adapter_dir, merged_dir = str(out / "adapter"), None
    trained.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    if recipe.merge:
        merged_dir = str(out / "merged")
        trained.merge_and_unload().to(torch.bfloat16).save_pretrained(merged_dir)
        tokenizer.save_pretrained(merged_dir)
    return adapter_dir, merged_dir
