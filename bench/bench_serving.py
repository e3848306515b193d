"""How to serve a trained model: vLLM start-up time and decode tokens/s for the base model without LoRA,
the base model on a LoRA-enabled server, a LoRA adapter on that server, and the same adapter merged; where
the server chose float32 (a CPU without native bf16), the base model in bfloat16 too.

    .venv/bin/python bench/bench_serving.py --concurrency 8 --tokens 64      # this CPU machine

The adapter is a rank-16 LoRA on every projection with random weights (its speed does not depend on what
it learned); the merged folder is that adapter folded into the base weights. Every request generates exactly
--tokens tokens (`ignore_eos` + `min_tokens`), --concurrency at once, --rounds times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from agentgym.llm import OpenAIChatLLM, Sampling
from agentgym.models import resolve_model
from agentgym.vllm_server import VLLMServer, serving_dtype


def make_adapter(base: str, out: Path) -> tuple[str, str]:
    """A random LoRA adapter on `base` and the same adapter merged into a full model folder."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(r=16, lora_alpha=32, init_lora_weights=False, task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    peft = get_peft_model(model, config)
    peft.save_pretrained(out / "adapter")
    peft.merge_and_unload().to(torch.bfloat16).save_pretrained(out / "merged")
    AutoTokenizer.from_pretrained(base).save_pretrained(out / "merged")
    return str(out / "adapter"), str(out / "merged")


async def decode_speed(url: str, model: str, concurrency: int, tokens: int, rounds: int) -> float:
    llm = OpenAIChatLLM(url, model=model)
    fixed = Sampling(temperature=1.0, max_tokens=tokens, extra={"ignore_eos": True, "min_tokens": tokens})
    prompt = [{"role": "user", "content": "Describe a maze you once walked through."}]
    await llm.chat(prompt, fixed)  # warm-up
    t0 = time.perf_counter()
    generated = 0
    for _ in range(rounds):
        replies = await asyncio.gather(*(llm.chat(prompt, fixed) for _ in range(concurrency)))
        generated += sum(r[0].completion_tokens for r in replies)
    await llm.aclose()
    return generated / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    base = resolve_model(args.model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        adapter, merged = make_adapter(base, Path(tmp))
        setups = [("base, LoRA off", dict(model=base), ["base"]),
                  ("LoRA on: base / adapter", dict(model=base, loras={"adapter": adapter}), ["base", "adapter"]),
                  ("merged, LoRA off", dict(model=merged), ["merged"])]
        if serving_dtype() != "bfloat16":  # the dtype the server chose here, beside the bf16 it passed over
            setups.append(("base, LoRA off, bfloat16", dict(model=base, extra_args=["--dtype", "bfloat16"]), ["base"]))
        for label, kwargs, served in setups:
            t0 = time.monotonic()
            with VLLMServer(served_name=served[0], **kwargs) as server:
                start = time.monotonic() - t0
                for name in served:
                    speed = asyncio.run(decode_speed(server.url, name, args.concurrency, args.tokens, args.rounds))
                    rows.append({"server": label, "model": name, "start_s": start, "tokens_s": speed})
                    print(f"{label:26} start {start:5.0f} s | {name:8} {speed:6.1f} tokens/s "
                          f"({args.concurrency} at once, {args.tokens} tokens each)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
