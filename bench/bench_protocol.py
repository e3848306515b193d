"""Steps/s and step latency through HTTP vs. in-process, at several numbers of concurrent sessions.

    .venv/bin/python bench/bench_protocol.py --env echo --sessions 1 16 64 --steps 4000
    .venv/bin/python bench/bench_protocol.py --env textworld --sessions 1 16 64 --seconds 10 --rounds 3

In-process: the same env classes stepped in one loop, round-robin over the sessions (no server).
HTTP: `agentgym serve ENV` in a child process, driven by `AsyncEnvClient` from this process.
The action each step is the env's first available action (or "look"), and both paths reset at the server's
step budget (`max_steps_for`), so both do the same work.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import psutil
import uvloop

from agentgym import AsyncEnvClient
from agentgym.env_server import EnvServer
from agentgym.registry import load


def pick(obs_actions: list[str] | None) -> str:
    return (obs_actions or ["look"])[0]


def percentile(values: list[float], q: float) -> float:
    if not values:  # nothing finished in the time given (e.g. JVMs still starting)
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def in_process(env_name: str, sessions: int, steps: int, seconds: float, n_tasks: int) -> dict:
    cls = load(env_name)
    catalog = cls()
    tasks = catalog.tasks("held_in")[:n_tasks]
    envs = [cls() for _ in range(sessions)]
    actions = [pick(env.reset(tasks[i % len(tasks)]).available_actions) for i, env in enumerate(envs)]
    # The server ends an episode at its step budget and the HTTP client then resets: do the same here, or
    # in-process would never pay for resets (TextWorld's "look" loops forever).
    budgets = [env.max_steps_for(tasks[i % len(tasks)]) for i, env in enumerate(envs)]
    taken = [0] * sessions
    lat: list[float] = []
    done_steps, t0, cpu0 = 0, time.perf_counter(), time.process_time()
    while done_steps < steps and time.perf_counter() - t0 < seconds:
        for i, env in enumerate(envs):
            s = time.perf_counter()
            result = env.step(actions[i])
            lat.append(time.perf_counter() - s)
            taken[i] += 1
            if result.done or taken[i] >= budgets[i]:
                result.observation, taken[i] = env.reset(tasks[i % len(tasks)]), 0
            actions[i] = pick(result.observation.available_actions)
            done_steps += 1
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for env in envs:
        env.close()
    return {
        "steps_s": done_steps / elapsed, "p50_ms": percentile(lat, 0.5) * 1e3, "p99_ms": percentile(lat, 0.99) * 1e3,
        "cpu_us": cpu / max(1, done_steps) * 1e6,
    }


async def over_http(url: str, sessions: int, steps: int, seconds: float, server_pid: int, n_tasks: int) -> dict:
    lat: list[float] = []
    budget = {"left": steps}

    async def worker(s) -> None:
        action = pick(s.observation.available_actions)
        while budget["left"] > 0 and time.perf_counter() < deadline:
            budget["left"] -= 1
            t = time.perf_counter()
            result = await s.step(action)
            lat.append(time.perf_counter() - t)
            if result.done:
                await s.reset()
                result.observation = s.observation
            action = pick(result.observation.available_actions)

    async with AsyncEnvClient(url) as client:
        n_tasks = min(n_tasks, len(await client.tasks("held_in")))
        # Open every session first (resets may load or generate games): only steps are timed, as in-process.
        sessions = await asyncio.gather(*(client.session(index=i % n_tasks) for i in range(sessions)))
        server, me = psutil.Process(server_pid), psutil.Process()
        cpu0 = (sum(server.cpu_times()[:2]), sum(me.cpu_times()[:2]))
        t0 = time.perf_counter()
        deadline = t0 + seconds
        await asyncio.gather(*(worker(s) for s in sessions))
        elapsed = time.perf_counter() - t0
        cpu1 = (sum(server.cpu_times()[:2]), sum(me.cpu_times()[:2]))
        await asyncio.gather(*(s.close() for s in sessions))
    n = len(lat)
    return {
        "steps_s": n / elapsed, "p50_ms": percentile(lat, 0.5) * 1e3, "p99_ms": percentile(lat, 0.99) * 1e3,
        # CPU spent per step by each side: where the time goes on a machine with 2 cores.
        "server_us": (cpu1[0] - cpu0[0]) / n * 1e6, "client_us": (cpu1[1] - cpu0[1]) / n * 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="echo")
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--steps", type=int, default=4000, help="steps per measurement (at most)")
    ap.add_argument("--seconds", type=float, default=15.0, help="time per measurement (at most)")
    ap.add_argument("--tasks", type=int, default=10**9, help="cycle over the first N held-in tasks")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measurements per session count, in-process and HTTP side by side each time; the "
                         "median ratio is printed (single runs of TextWorld in-process vary by a third)")
    args = ap.parse_args()

    rows = []
    with EnvServer(args.env, max_sessions=max(args.sessions) + 8) as server:
        for _ in range(args.rounds):
            for n in args.sessions:
                local = in_process(args.env, n, args.steps, args.seconds, args.tasks)
                # uvloop, as the runner uses: the client's event loop is half of the cost on 2 cores.
                remote = uvloop.run(over_http(server.url, n, args.steps, args.seconds, server.pid, args.tasks))
                rows.append((n, local, remote))
                print(f"  measured {n} sessions", flush=True)
    print(f"\n{args.env}: in-process vs HTTP (agentgym serve, AsyncEnvClient), 2-core machine")
    print(f"{'sessions':>8} | {'in-proc steps/s':>15} {'p50 ms':>7} {'p99 ms':>7} | "
          f"{'HTTP steps/s':>12} {'p50 ms':>7} {'p99 ms':>7} | {'HTTP/in-proc':>12} | "
          "CPU us/step in-proc server client")
    for n, a, b in rows:
        print(f"{n:>8} | {a['steps_s']:>15.0f} {a['p50_ms']:>7.2f} {a['p99_ms']:>7.2f} | "
              f"{b['steps_s']:>12.0f} {b['p50_ms']:>7.2f} {b['p99_ms']:>7.2f} | {b['steps_s'] / a['steps_s']:>12.2f} | "
              f"{a['cpu_us']:>19.0f} {b['server_us']:>6.0f} {b['client_us']:>6.0f}")
    if args.rounds > 1:
        for n in args.sessions:
            ratios = sorted(b["steps_s"] / a["steps_s"] for m, a, b in rows if m == n)
            print(f"{n} sessions: median HTTP/in-proc {statistics.median(ratios):.2f} over {len(ratios)} rounds "
                  f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
