"""Rollout efficiency: generated tokens/s while collecting, divided by vLLM's own tokens/s on exactly the
requests collection sent; and the speed-up over a sequential one-episode-at-a-time loop.

    .venv/bin/python bench/bench_rollout.py --concurrency 1 8 32                 # starts vLLM (CPU here)
    python -m bench.bench_rollout --llm-url http://127.0.0.1:8011 --concurrency 64 256   # a running server

The baseline replays collection's own prompts: every chat request the runner sent (messages and sampling,
byte for byte) is recorded per episode, then sent again straight to vLLM by one lean aiohttp client, the
calls of an episode in order (each waits for the previous reply, as in collection) and --concurrency
episodes in flight. So both sides do the same prefill and decoding work under the same dependencies; the
difference is the runner, the env server and the clients. vLLM's prefix cache is emptied before each side
(`POST /reset_prefix_cache`, served when `VLLM_SERVER_DEV_MODE=1`, which this script sets for the vLLM it
starts), so the replay gets no prefill for free from the collection before it.
Every call generates exactly --tokens tokens (`ignore_eos` + `min_tokens`).
Episodes = 2 x concurrency per measurement (at least 4), against the maze env.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time

import aiohttp

from agentgym.client import AsyncEnvClient
from agentgym.env_server import EnvServer
from agentgym.feedback import EnvError
from agentgym.llm import LLM, Completion, Messages, OpenAIChatLLM, Sampling
from agentgym.runner import Runner, RunnerConfig


class RecordingLLM(LLM):
    """Passes calls to `llm` and keeps each request body, grouped by the asyncio task (the episode) it came from."""

    def __init__(self, llm: OpenAIChatLLM):
        self.llm, self.model = llm, llm.model
        self.episodes: dict[asyncio.Task, list[dict]] = {}  # the task objects are kept, so no id is reused
        self.generated = self.prompt_tokens = 0

    async def chat(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Completion]:
        fields = {k: v for k, v in sampling.to_dict().items() if v is not None and k != "extra"}
        body = {"messages": json.loads(json.dumps(messages)), "n": n, **fields, **(sampling.extra or {})}
        self.episodes.setdefault(asyncio.current_task(), []).append(body)
        replies = await self.llm.chat(messages, sampling, n)
        self.generated += sum(c.completion_tokens for c in replies)
        self.prompt_tokens += replies[0].prompt_tokens if replies else 0
        return replies

    async def resolve_model(self) -> str:
        self.model = await self.llm.resolve_model()
        return self.model

    async def aclose(self) -> None:
        await self.llm.aclose()


async def reset_prefix_cache(llm_url: str) -> bool:
    """Empty vLLM's prefix cache; False when the server does not offer it (not in dev mode)."""
    async with aiohttp.ClientSession() as http, http.post(llm_url + "/reset_prefix_cache") as r:
        return r.status == 200


async def collection(llm_url: str, env_url: str, concurrency: int, tokens: int, steps: int) -> dict:
    fixed = Sampling(temperature=1.0, max_tokens=tokens, extra={"ignore_eos": True, "min_tokens": tokens})
    llm = RecordingLLM(OpenAIChatLLM(llm_url))
    async with AsyncEnvClient(env_url, max_connections=1024) as env:
        runner = Runner(llm, env, [EnvError()], RunnerConfig(sampling=fixed, max_steps=steps, max_retries=steps,
                                                             concurrency=concurrency))
        tasks = await env.tasks("held_in")
        episodes = max(4, 2 * concurrency)
        await runner.info()
        await llm.resolve_model()
        t0 = time.perf_counter()
        trajs = await runner.run([(i, tasks[i % len(tasks)]) for i in range(episodes)])
        elapsed = time.perf_counter() - t0
    await llm.aclose()
    requests = list(llm.episodes.values())
    calls = sum(map(len, requests))  # every call sent, retried replies included (the replay sends them all)
    return {"episodes": episodes, "calls": calls, "generated": llm.generated, "seconds": elapsed,
            "tokens_s": llm.generated / elapsed, "episodes_s": episodes / elapsed,
            "mean_prompt_tokens": llm.prompt_tokens / max(1, calls),
            "errors": sum(t.infra_failure for t in trajs), "model": llm.model, "requests": requests}


async def replay(llm_url: str, model: str, episodes: list[list[dict]], concurrency: int) -> dict:
    """Collection's requests straight to vLLM: an episode's calls in order, `concurrency` episodes at once."""
    queue = list(reversed(episodes))
    counts = {"generated": 0, "prompt": 0, "calls": 0}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def worker() -> None:
            while queue:
                for body in queue.pop():
                    async with http.post(llm_url + "/v1/chat/completions", json={"model": model, **body}) as r:
                        usage = (await r.json())["usage"]
                    counts["generated"] += usage["completion_tokens"]
                    counts["prompt"] += usage["prompt_tokens"]
                    counts["calls"] += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"tokens_s": counts["generated"] / elapsed, "seconds": elapsed, "calls": counts["calls"],
            "prompt_tokens": counts["prompt"] / max(1, counts["calls"])}


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
            os.environ.setdefault("VLLM_SERVER_DEV_MODE", "1")  # for /reset_prefix_cache
            llm_url = stack.enter_context(VLLMServer(args.model)).url
        env_url = stack.enter_context(EnvServer(args.env, max_sessions=4096)).url
        asyncio.run(collection(llm_url, env_url, 2, args.tokens, 1))  # warm-up
        if not asyncio.run(reset_prefix_cache(llm_url)):
            print("note: this vLLM has no /reset_prefix_cache (start it with VLLM_SERVER_DEV_MODE=1): the replay "
                  "may find collection's prompts already cached", flush=True)
        for c in args.concurrency:
            asyncio.run(reset_prefix_cache(llm_url))
            col = asyncio.run(collection(llm_url, env_url, c, args.tokens, args.steps))
            asyncio.run(reset_prefix_cache(llm_url))
            raw = asyncio.run(replay(llm_url, col["model"], col.pop("requests"), c))
            rows.append({"concurrency": c, "collection": col, "vllm": raw})
            print(f"  concurrency {c}: collection {col['tokens_s']:.0f} tok/s, the same requests replayed "
                  f"{raw['tokens_s']:.0f} tok/s ({raw['calls']} calls)", flush=True)
    base = rows[0]["collection"]["tokens_s"] if rows[0]["concurrency"] == 1 else None
    print(f"\nrollout efficiency ({args.env}, {args.tokens} tokens per call, {args.steps} steps per episode)")
    print(f"{'conc.':>6} {'episodes':>8} {'calls':>6} {'prompt tok':>10} | {'collect tok/s':>13} "
          f"{'replay tok/s':>12} {'efficiency':>10} | {'speed-up vs sequential':>22}")
    for r in rows:
        col, raw = r["collection"], r["vllm"]
        speedup = f"{col['tokens_s'] / base:.1f}x" if base else "n/a"
        print(f"{r['concurrency']:>6} {col['episodes']:>8} {col['calls']:>6} {col['mean_prompt_tokens']:>10.0f} | "
              f"{col['tokens_s']:>13.0f} {raw['tokens_s']:>12.0f} {col['tokens_s'] / raw['tokens_s']:>10.2f} | "
              f"{speedup:>22}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
