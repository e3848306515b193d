"""Training speed: SFT tokens/s with and without packing, and a GRPO step split into rollout and update.

    .venv/bin/python bench/bench_training.py --sft-steps 6 --grpo-steps 2             # this CPU machine
    python -m bench.bench_training --model /tmp/models/smollm2 --episodes 256 --sft-steps 30 --batch 16 \\
        --grpo-steps 3 --grpo-batch 16 --generators vllm hf hf1                        # the GPU device

GRPO runs once per rollout generator, side by side on the same tasks: `vllm` = TRL's colocated vLLM,
`hf` = transformers' `generate` on the batched turns of all episodes, `hf1` = `generate` one turn at a time.

The SFT data are expert trajectories of the maze env (collected through the real server); both SFT runs
train the same data for the same number of steps, and tokens/s counts the real (non-padding) tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from agentgym.client import AsyncEnvClient
from agentgym.env_server import EnvServer
from agentgym.runner import Runner, RunnerConfig
from trajectories.store import TrajectoryStore


def expert_data(env_url: str, episodes: int, path: Path) -> int:
    async def main():
        async with AsyncEnvClient(env_url) as env:
            tasks = await env.tasks("held_in")
            return await Runner(None, env, [], RunnerConfig(concurrency=32)).run(
                [(i, tasks[i % len(tasks)]) for i in range(episodes)])

    store = TrajectoryStore(path)
    for t in asyncio.run(main()):
        store.append(t)
    return episodes


def sft_speed(data: Path, model: str, steps: int, batch: int, packing: bool, max_length: int, out: Path) -> dict:
    from training.sft import SFTRecipe, build_sft_trainer

    recipe = SFTRecipe(max_steps=steps, per_device_train_batch_size=batch, packing=packing, max_length=max_length,
                       merge=False, logging_steps=max(1, steps // 3))
    trainer = build_sft_trainer(data, model, out, recipe, progress=False)
    seen = {"tokens": 0}
    collate = trainer.data_collator

    def counting(examples):  # count the real tokens each step trains on
        batch_ = collate(examples)
        mask = batch_.get("attention_mask")
        seen["tokens"] += int(mask.sum()) if mask is not None else int(batch_["input_ids"].numel())
        return batch_

    trainer.data_collator = counting
    t0 = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - t0
    return {"packing": packing, "steps": steps, "batch": batch, "tokens": seen["tokens"], "seconds": elapsed,
            "tokens_s": seen["tokens"] / elapsed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--episodes", type=int, default=32)
    ap.add_argument("--sft-steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--grpo-steps", type=int, default=2)
    ap.add_argument("--grpo-batch", type=int, default=4, help="sequences per GRPO step")
    ap.add_argument("--grpo-generations", type=int, default=2)
    ap.add_argument("--generators", nargs="+", default=["hf", "hf1"], choices=["vllm", "hf", "hf1"])
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    from training.grpo import GRPORecipe, train_grpo

    results: dict = {}
    with EnvServer("maze", max_sessions=1024) as server, tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "expert.jsonl"
        expert_data(server.url, args.episodes, data)
        packings = (False, True) if args.sft_steps else ()
        results["sft"] = [sft_speed(data, args.model, args.sft_steps, args.batch, packing, args.max_length,
                                    Path(tmp) / f"sft-{packing}") for packing in packings]
        for r in results["sft"]:
            print(f"SFT packing={r['packing']!s:5}: {r['tokens']} tokens in {r['seconds']:.1f} s = "
                  f"{r['tokens_s']:.0f} tokens/s ({r['steps']} steps of batch {r['batch']})", flush=True)
        results["grpo"] = {}
        for generator in args.generators if args.grpo_steps else []:
            recipe = GRPORecipe(max_steps=args.grpo_steps, per_device_train_batch_size=args.grpo_batch,
                                num_generations=args.grpo_generations, max_turns=4, max_new_tokens=48,
                                tasks=max(8, args.grpo_batch), use_vllm=generator == "vllm",
                                rollout_batch=1 if generator == "hf1" else 256)
            g = train_grpo([server.url], args.model, Path(tmp) / f"grpo-{generator}", recipe, progress=False)
            turns = sum(sum(sizes) for sizes in g["batch_sizes"])
            calls = sum(len(sizes) for sizes in g["batch_sizes"])
            results["grpo"][generator] = {k: g[k] for k in ("steps", "setup_s", "total_s", "rollout_s", "update_s",
                                                                        "generate_s", "logprobs_s")} | {
                "turns": turns, "generate_calls": calls,
                "rollout_s_per_step": [round(x, 2) for x in g["rollout_s_per_step"]]}
            print(f"GRPO [{generator}]: {g['steps']} steps of {args.grpo_batch} episodes x <= {recipe.max_turns} "
                  f"turns: {g['total_s'] / g['steps']:.1f} s/step = rollout {g['rollout_s'] / g['steps']:.1f} s"
                  f" + update {g['update_s'] / g['steps']:.1f} s; {turns} turns in {calls} generate calls; "
                  f"rollout per step {results['grpo'][generator]['rollout_s_per_step']}; "
                  f"of the rollout: generate {g['generate_s'] / g['steps']:.1f} s, logprobs "
                  f"{g['logprobs_s'] / g['steps']:.1f} s per step; trainer setup {g['setup_s']:.0f} s",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
