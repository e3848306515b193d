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

Who is the limit at high concurrency: the table shows the CPU each side used, as a share of one core (the
runner and its clients are one Python process, the env server another); a runner near 1.0 is the bottleneck.
`--replay-procs K` spreads the replay over K client processes, so one Python client does not cap vLLM's side.
`--instant-llm` swaps vLLM for a stand-in that answers every call at once (named as such: a bench double, not a
model), so collection's speed is the runner's own ceiling in calls/s, with no model in the way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import os
import queue
import sys
import time

import aiohttp
import orjson
import psutil

from agentgym.child import ChildServer
from agentgym.client import AsyncEnvClient
from agentgym.env_server import EnvServer
from agentgym.feedback import EnvError
from agentgym.llm import LLM, Completion, Messages, OpenAIChatLLM, Sampling
from agentgym.netutil import free_port, raise_open_file_limit
from agentgym.runner import Runner, RunnerConfig


class RecordingLLM(LLM):
    """Passes calls to `llm` and keeps each request body, grouped by the asyncio task (the episode) it came from."""

    def __init__(self, llm: OpenAIChatLLM):
        self.llm, self.model = llm, llm.model
        self.episodes: dict[asyncio.Task, list[dict]] = {}  # the task objects are kept, so no id is reused
        self.generated = self.prompt_tokens = 0

    async def chat(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Completion]:
        body = {"messages": orjson.loads(orjson.dumps(messages)), "n": n, **sampling.request_fields()}
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


def serve_instant_llm(port: int, tokens: int) -> None:
    """The bench's stand-in for vLLM: every chat call is answered at once with `tokens` words (which the maze
    refuses as an action, like a model's random tokens), and usage counts them as `tokens` tokens."""
    from aiohttp import web

    text = " ".join(["north"] * tokens)

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "instant"}]})

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        n = body.get("n", 1)
        choices = [{"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
                   for i in range(n)]
        prompt = sum(len(m.get("content") or "") for m in body["messages"]) // 4
        return web.json_response({"choices": choices, "usage": {"prompt_tokens": prompt,
                                                                 "completion_tokens": tokens * n}})

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/v1/models", models), web.post("/v1/chat/completions", chat),
                    web.post("/reset_prefix_cache", ok), web.get("/health", ok)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=4096)


class InstantLLM(ChildServer):
    """`serve_instant_llm` as a child server (started, awaited and stopped like the project's other servers)."""

    label = "instant-llm"

    def __init__(self, tokens: int):
        super().__init__()
        self.tokens, self.port = tokens, free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.bench_rollout", "--serve-instant-llm", str(self.port),
                "--tokens", str(self.tokens)]


async def collection(llm_url: str, env_url: str, concurrency: int, tokens: int, steps: int,
                     env_server: psutil.Process | None = None) -> dict:
    fixed = Sampling(temperature=1.0, max_tokens=tokens, extra={"ignore_eos": True, "min_tokens": tokens})
    llm = RecordingLLM(OpenAIChatLLM(llm_url))
    async with AsyncEnvClient(env_url, max_connections=1024) as env:
        runner = Runner(llm, env, [EnvError()], RunnerConfig(sampling=fixed, max_steps=steps, max_retries=steps,
                                                             concurrency=concurrency))
        tasks = await env.tasks("held_in")
        episodes = max(4, 2 * concurrency)
        await runner.info()
        await llm.resolve_model()
        procs = [psutil.Process(), env_server]  # this process alone (the servers are its children), the env server
        cpu0 = [sum(p.cpu_times()[:2]) if p else 0.0 for p in procs]
        t0 = time.perf_counter()
        trajs = await runner.run([(i, tasks[i % len(tasks)]) for i in range(episodes)])
        elapsed = time.perf_counter() - t0
        cpu1 = [sum(p.cpu_times()[:2]) if p else 0.0 for p in procs]
    await llm.aclose()
    requests = list(llm.episodes.values())
    calls = sum(map(len, requests))  # every call sent, retried replies included (the replay sends them all)
    return {"episodes": episodes, "calls": calls, "generated": llm.generated, "seconds": elapsed,
            "tokens_s": llm.generated / elapsed, "episodes_s": episodes / elapsed,
            "mean_prompt_tokens": llm.prompt_tokens / max(1, calls),
            "errors": sum(t.infra_failure for t in trajs), "model": llm.model, "requests": requests,
            # CPU used as a share of one core: the runner with its clients, and the env server.
            "runner_cpu": (cpu1[0] - cpu0[0]) / elapsed, "env_cpu": (cpu1[1] - cpu0[1]) / elapsed}


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

        cpu0, start = time.process_time(), time.time()  # wall clock: comparable across replay processes
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        end = time.time()
    return {**counts, "start": start, "end": end, "cpu": time.process_time() - cpu0}


def _replay_child(llm_url: str, model: str, episodes: list[list[dict]], concurrency: int,
                  barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.queues.Queue) -> None:
    barrier.wait()  # every process starts together, after its imports
    results.put(asyncio.run(replay(llm_url, model, episodes, concurrency)))


def replay_all(llm_url: str, model: str, episodes: list[list[dict]], concurrency: int, procs: int) -> dict:
    """`replay` spread over `procs` client processes (episodes dealt round-robin, concurrency split)."""
    procs = max(1, min(procs, concurrency))
    if procs == 1:
        parts = [asyncio.run(replay(llm_url, model, episodes, concurrency))]
    else:
        ctx = multiprocessing.get_context("spawn")
        barrier, results = ctx.Barrier(procs), ctx.Queue()
        children = [ctx.Process(target=_replay_child, args=(llm_url, model, episodes[i::procs],
                                                            concurrency // procs + (i < concurrency % procs),
                                                            barrier, results)) for i in range(procs)]
        for c in children:
            c.start()
        try:
            parts = [results.get(timeout=3600) for _ in children]
        except queue.Empty:
            codes = [c.exitcode for c in children]
            raise RuntimeError(f"a replay process gave no result (exit codes {codes})") from None
        finally:
            for c in children:
                c.join(timeout=10)
                if c.is_alive():
                    c.terminate()
    elapsed = max(p["end"] for p in parts) - min(p["start"] for p in parts)
    calls = sum(p["calls"] for p in parts)
    generated = sum(p["generated"] for p in parts)
    return {"tokens_s": generated / elapsed, "generated": generated, "seconds": elapsed, "calls": calls,
            "prompt_tokens": sum(p["prompt"] for p in parts) / max(1, calls), "procs": procs,
            "client_cpu": sum(p["cpu"] for p in parts) / elapsed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm-url", default="")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--env", default="maze")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--tokens", type=int, default=32, help="tokens generated per LLM call")
    ap.add_argument("--steps", type=int, default=4, help="env steps per episode")
    ap.add_argument("--replay-procs", type=int, default=1, help="client processes for the replay")
    ap.add_argument("--instant-llm", action="store_true", help="a stand-in LLM that answers at once (the runner's "
                    "ceiling); no vLLM")
    ap.add_argument("--json", default="", help="also write the figures to this file")
    ap.add_argument("--serve-instant-llm", type=int, metavar="PORT", help=argparse.SUPPRESS)  # InstantLLM's child
    args = ap.parse_args()
    if args.serve_instant_llm:
        serve_instant_llm(args.serve_instant_llm, args.tokens)
        return
    raise_open_file_limit()  # thousands of episodes hold two sockets each (LLM, env)

    rows = []
    with contextlib.ExitStack() as stack:
        llm_url = args.llm_url
        if args.instant_llm:
            llm_url = stack.enter_context(InstantLLM(args.tokens)).url
        elif not llm_url:
            from agentgym.vllm_server import VLLMServer

            print("starting vLLM ...", flush=True)
            os.environ.setdefault("VLLM_SERVER_DEV_MODE", "1")  # for /reset_prefix_cache
            llm_url = stack.enter_context(VLLMServer(args.model)).url
        env = stack.enter_context(EnvServer(args.env, max_sessions=4096))
        env_url, env_proc = env.url, psutil.Process(env.pid)
        asyncio.run(collection(llm_url, env_url, 2, args.tokens, 1))  # warm-up
        if not asyncio.run(reset_prefix_cache(llm_url)):
            print("note: this vLLM has no /reset_prefix_cache (start it with VLLM_SERVER_DEV_MODE=1): the replay "
                  "may find collection's prompts already cached", flush=True)
        for c in args.concurrency:
            asyncio.run(reset_prefix_cache(llm_url))
            col = asyncio.run(collection(llm_url, env_url, c, args.tokens, args.steps, env_proc))
            asyncio.run(reset_prefix_cache(llm_url))
            raw = replay_all(llm_url, col["model"], col.pop("requests"), c, args.replay_procs)
            rows.append({"concurrency": c, "collection": col, "vllm": raw})
            print(f"  concurrency {c}: collection {col['tokens_s']:.0f} tok/s, the same requests replayed "
                  f"{raw['tokens_s']:.0f} tok/s ({raw['calls']} calls, {raw['procs']} processes)", flush=True)
    base = rows[0]["collection"]["tokens_s"] if rows[0]["concurrency"] == 1 else None
    llm_name = "instant stand-in LLM" if args.instant_llm else "vLLM"
    print(f"\nrollout efficiency ({args.env}, {llm_name}, {args.tokens} tokens per call, {args.steps} steps per "
          f"episode; CPU as a share of one core)")
    print(f"{'conc.':>6} {'episodes':>8} {'calls':>6} {'prompt tok':>10} | {'collect tok/s':>13} {'calls/s':>8} "
          f"{'replay tok/s':>12} {'efficiency':>10} | {'CPU runner':>10} {'env':>5} {'replay':>6} | "
          f"{'speed-up vs sequential':>22}")
    for r in rows:
        col, raw = r["collection"], r["vllm"]
        speedup = f"{col['tokens_s'] / base:.1f}x" if base else "n/a"
        print(f"{r['concurrency']:>6} {col['episodes']:>8} {col['calls']:>6} {col['mean_prompt_tokens']:>10.0f} | "
              f"{col['tokens_s']:>13.0f} {col['calls'] / col['seconds']:>8.0f} {raw['tokens_s']:>12.0f} "
              f"{col['tokens_s'] / raw['tokens_s']:>10.2f} | {col['runner_cpu']:>10.2f} {col['env_cpu']:>5.2f} "
              f"{raw['client_cpu']:>6.2f} | {speedup:>22}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
