"""Rollout efficiency: generated tokens/s while collecting, divided by vLLM's own tokens/s for the same
number of concurrent requests with the same prompt and output lengths; and the speed-up over a
sequential one-episode-at-a-time loop.

    .venv/bin/python bench/bench_rollout.py --concurrency 1 8 32                 # starts vLLM (CPU here)
    python -m bench.bench_rollout --llm-url http://127.0.0.1:8011 --concurrency 64 256   # a running server

Every LLM call generates exactly --tokens tokens (vLLM's `ignore_eos` + `min_tokens`), so collection
and the raw baseline do the same decoding work; the baseline's prompts have the collection's mean
prompt length and a distinct opening each (no free prefill from the prefix cache).
Episodes = 2 x concurrency per measurement (at least 4), against the maze env.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time

import aiohttp

from agentgym.client import AsyncEnvClient
from agentgym.env_server import EnvServer
from agentgym.feedback import EnvError
from agentgym.llm import OpenAIChatLLM, Sampling
from agentgym.runner import Runner, RunnerConfig


async def collection(llm_url: str, env_url: str, concurrency: int, tokens: int, steps: int) -> dict:
    fixed = Sampling(temperature=1.0, max_tokens=tokens, extra={"ignore_eos": True, "min_tokens": tokens})
    llm = OpenAIChatLLM(llm_url)
    async with AsyncEnvClient(env_url, max_connections=1024) as env:
        runner = Runner(llm, env, [EnvError()], RunnerConfig(sampling=fixed, max_steps=steps, max_retries=steps,
                                                             concurrency=concurrency))
        tasks = await env.tasks("held_in")
        episodes = max(4, 2 * concurrency)
        await runner.info()
        t0 = time.perf_counter()
        trajs = await runner.run([(i, tasks[i % len(tasks)]) for i in range(episodes)])
        elapsed = time.perf_counter() - t0
    await llm.aclose()
    calls = [t for traj in trajs for t in traj.turns if t.role == "assistant" and t.completion_tokens]
    generated = sum(t.completion_tokens for t in calls)
    return {"episodes": episodes, "calls": len(calls), "generated": generated, "seconds": elapsed,
            "tokens_s": generated / elapsed, "episodes_s": episodes / elapsed,
            "mean_prompt_tokens": sum(t.prompt_tokens for t in calls) / max(1, len(calls)),
            "errors": sum(t.infra_failure for t in trajs)}


async def raw_vllm(llm_url: str, concurrency: int, calls: int, prompt_tokens: int, tokens: int) -> dict:
    """The same number of requests straight to vLLM, `concurrency` in flight, one lean client."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async with http.get(llm_url + "/v1/models") as r:
            model = (await r.json())["data"][0]["id"]
        # ~1 token per repeated word for this tokenizer; the chat template adds about 30 more
        content = "word " * max(1, int(prompt_tokens) - 40)
        left = {"n": calls}
        generated = {"n": 0, "prompt": 0}

        async def worker() -> None:
            while left["n"] > 0:
                left["n"] -= 1
                # A distinct opening per request, so vLLM's prefix cache cannot skip the prefill that
                # collection (whose prompts differ per episode) has to pay.
                unique = f"request {left['n']} {random.random():.12f} {random.random():.12f}. "
                body = {"model": model, "messages": [{"role": "user", "content": unique + content}],
                        "max_tokens": tokens, "min_tokens": tokens, "ignore_eos": True, "temperature": 1.0}
                async with http.post(llm_url + "/v1/chat/completions", json=body) as r:
                    usage = (await r.json())["usage"]
                generated["n"] += usage["completion_tokens"]
                generated["prompt"] += usage["prompt_tokens"]

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"tokens_s": generated["n"] / elapsed, "seconds": elapsed, "prompt_tokens": generated["prompt"] / calls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm-url", default="")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--env", default="maze")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--tokens", type=int, default=32, help="tokens generated per LLM call")
    ap.add_argument("--steps", type=int, default=4, help="env steps per episode")
    ap.add_argument("--json", default="", help="also write the figures to this file")
    args = ap.parse_args()

    rows = []
    with contextlib.ExitStack() as stack:
        llm_url = args.llm_url
        if not llm_url:
            from agentgym.vllm_server import VLLMServer

            print("starting vLLM ...", flush=True)
            llm_url = stack.enter_context(VLLMServer(args.model)).url
        env_url = stack.enter_context(EnvServer(args.env, max_sessions=4096)).url
        asyncio.run(raw_vllm(llm_url, 4, 8, 200, args.tokens))  # warm-up
        for c in args.concurrency:
            col = asyncio.run(collection(llm_url, env_url, c, args.tokens, args.steps))
            raw = asyncio.run(raw_vllm(llm_url, c, col["calls"], col["mean_prompt_tokens"], args.tokens))
            rows.append({"concurrency": c, "collection": col, "vllm": raw})
            print(f"  concurrency {c}: collection {col['tokens_s']:.0f} tok/s, vLLM alone {raw['tokens_s']:.0f} tok/s",
                  flush=True)
    base = rows[0]["collection"]["tokens_s"] if rows[0]["concurrency"] == 1 else None
    print(f"\nrollout efficiency ({args.env}, {args.tokens} tokens per call, {args.steps} steps per episode)")
    print(f"{'conc.':>6} {'episodes':>8} {'calls':>6} {'prompt tok':>10} | {'collect tok/s':>13} "
          f"{'vLLM tok/s':>10} {'efficiency':>10} | {'speed-up vs sequential':>22}")
    for r in rows:
        col, raw = r["collection"], r["vllm"]
        speedup = f"{col['tokens_s'] / base:.1f}x" if base else "n/a"
        print(f"{r['concurrency']:>6} {col['episodes']:>8} {col['calls']:>6} {col['mean_prompt_tokens']:>10.0f} | "
              f"{col['tokens_s']:>13.0f} {raw['tokens_s']:>10.0f} {col['tokens_s'] / raw['tokens_s']:>10.2f} | "
              f"{speedup:>22}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
