"""Steps/s in process: `SciWorldEnv.step` (fast path) vs. the package's `ScienceWorldEnv.step`.

    .venv/bin/python bench/bench_sciworld.py [--rounds 3] [--nondeterministic]
    .venv/bin/python bench/bench_sciworld.py --http 1 16 [--seconds 10] [--warmup 10] [--nondeterministic]
    .venv/bin/python bench/bench_sciworld.py --http 4 --episode-steps 30 [--pool 4] [--warmup 40] [--seconds 30]

Both replay the same actions from a fresh load of each task: the gold paths of a few task types (up
to the winning step; some actions make time pass, e.g. heating, waiting) and a walk of cheap actions
(look, move, open, one unknown command). Only the steps are timed. The package's step also returns
the valid actions of every state. With --http: sessions of `agentgym serve sciworld`, all created and
warmed up (JIT) before the clock starts (bench/bench_protocol.py's clock includes starting one JVM per
session), then stepped concurrently with `AsyncEnvClient`. With --episode-steps: as the runner does, one new
session per episode (a JVM start each, unless --pool keeps closed sessions' JVMs for the next ones; with a pool,
--warmup seconds of episodes run uncounted first, so the counted ones find warm JVMs, as on a long-running server).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import psutil
from scienceworld import ScienceWorldEnv

from agentgym import AsyncEnvClient
from agentgym.env_server import EnvServer
from envs.sciworld import pool, tasks
from envs.sciworld.env import SciWorldEnv

# Cheap actions (moving, looking, one unknown command), as an agent exploring the house would send.
WALK = ("look around", "open door to kitchen", "go to kitchen", "look around", "inventory", "go to hallway",
        "look at door to kitchen", "dance", "close door to kitchen", "task") * 4
TASKS = ("sciworld-boil-v0", "sciworld-use-thermometer-v0", "sciworld-power-component-v0", "sciworld-find-plant-v0")


def timed(reset, step, plan: dict[str, list[str]], rounds: int) -> float:
    """Steps per second of `step` over `rounds` replays of every plan (resets not timed)."""
    spent, steps = 0.0, 0
    for _ in range(rounds):
        for tid, actions in plan.items():
            reset(tid)
            t0 = time.perf_counter()
            for action in actions:
                step(action)
            spent += time.perf_counter() - t0
            steps += len(actions)
    return steps / spent


def until_won(env: SciWorldEnv, tid: str) -> list[str]:
    """The expert's actions up to the one that wins (the env accepts no step after that)."""
    env.reset(tid)
    actions = []
    for action in env.expert(tid):
        actions.append(action)
        if env.step(action).done:
            return actions
    raise AssertionError(f"the expert did not win {tid}")


async def over_http(url: str, sessions: int, seconds: float, warmup: float, actions: tuple[str, ...], pid: int) -> str:
    """Steps/s of `sessions` concurrent sessions, created (a JVM each) and warmed up before the clock starts."""
    async with AsyncEnvClient(url, timeout=600) as client:
        held_in = await client.tasks("held_in")
        live = await asyncio.gather(*(client.session(task_id=held_in[i * 7 % len(held_in)]) for i in range(sessions)))
        lat: list[float] = []

        async def worker(s: Any, until: float, record: bool) -> None:
            i = 0
            while time.perf_counter() < until:
                t = time.perf_counter()
                result = await s.step(actions[i % len(actions)])
                if record:
                    lat.append(time.perf_counter() - t)
                i += 1
                if result.done:
                    await s.reset()

        await asyncio.gather(*(worker(s, time.perf_counter() + warmup, False) for s in live))
        server = psutil.Process(pid)
        cpu0, t0 = sum(server.cpu_times()[:2]), time.perf_counter()
        await asyncio.gather(*(worker(s, t0 + seconds, True) for s in live))
        elapsed, cpu = time.perf_counter() - t0, sum(server.cpu_times()[:2]) - cpu0
        await asyncio.gather(*(s.close() for s in live))
    lat.sort()
    p50, p99 = lat[len(lat) // 2] * 1e3, lat[len(lat) * 99 // 100] * 1e3
    return f"{sessions:8d} {len(lat) / elapsed:8.1f} {p50:7.2f} {p99:7.2f} {cpu / len(lat) * 1e6:9.0f}"


async def episodes_over_http(url: str, sessions: int, seconds: float, steps: int, actions: tuple[str, ...]) -> str:
    """As the runner does: a new session per episode of `steps` steps, `sessions` episodes at a time."""
    async with AsyncEnvClient(url, timeout=600) as client:
        held_in = await client.tasks("held_in")
        counts = {"steps": 0, "episodes": 0}
        t0 = time.perf_counter()

        async def worker(i: int) -> None:
            while time.perf_counter() < t0 + seconds:
                s = await client.session(task_id=held_in[(i + 7 * counts["episodes"]) % len(held_in)])
                for k in range(steps):
                    counts["steps"] += 1
                    if (await s.step(actions[k % len(actions)])).done:
                        break
                await s.close()
                counts["episodes"] += 1

        await asyncio.gather(*(worker(i) for i in range(sessions)))
        elapsed = time.perf_counter() - t0
    return f"{sessions:8d} {counts['steps'] / elapsed:8.1f} {counts['episodes'] / elapsed * 60:12.1f}"


def runner_main(sessions: list[int], seconds: float, steps: int, pool_size: int, warmup: float,
                deterministic: bool) -> None:
    extra = {"AGENTGYM_SCIWORLD_POOL": str(pool_size), "AGENTGYM_SCIWORLD_DETERMINISTIC": "1" if deterministic else "0"}
    with EnvServer("sciworld", max_sessions=max(sessions) + 4, extra_env=extra) as server:
        print(f"HTTP, one session per {steps}-step episode (walk/look), pool={pool_size}, deterministic="
              f"{deterministic}, {warmup:.0f} s of episodes uncounted (JVM starts, JIT), then {seconds:.0f} s per row")
        print(f"{'sessions':>8s} {'steps/s':>8s} {'episodes/min':>12s}")
        for n in sessions:
            if warmup:  # with a pool, the JVMs started and compiled here serve the counted episodes
                asyncio.run(episodes_over_http(server.url, n, warmup, steps, WALK))
            print(asyncio.run(episodes_over_http(server.url, n, seconds, steps, WALK)), flush=True)


def http_main(sessions: list[int], seconds: float, warmup: float, deterministic: bool, walk: bool) -> None:
    extra = {"AGENTGYM_SCIWORLD_DETERMINISTIC": "1" if deterministic else "0"}
    with EnvServer("sciworld", max_sessions=max(sessions) + 4, extra_env=extra) as server:
        for label, actions in (("look", ("look",)), ("walk/look", WALK))[:2 if walk else 1]:
            print(f"HTTP, actions={label}, deterministic={deterministic}, {warmup:.0f} s warm-up + {seconds:.0f} s")
            print(f"{'sessions':>8s} {'steps/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'server us/step':>9s}")
            for n in sessions:
                print(asyncio.run(over_http(server.url, n, seconds, warmup, actions, server.pid)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nondeterministic", dest="deterministic", action="store_false",
                        help="JVMs without the constant identity hash (the env's default is deterministic)")
    parser.add_argument("--http", type=int, nargs="+", metavar="SESSIONS", help="measure through a server instead")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per HTTP measurement")
    parser.add_argument("--episode-steps", type=int, help="HTTP: a new session per episode of this many steps")
    parser.add_argument("--pool", type=int, default=pool.DEFAULT_SIZE,
                        help="with --episode-steps: AGENTGYM_SCIWORLD_POOL (the server's default; 0: no pool, and "
                             "then no warm-up either, since no JVM would outlive it)")
    parser.add_argument("--look-only", action="store_true", help="HTTP: only the 'look' row (bench_protocol's action)")
    parser.add_argument("--warmup", type=float, default=10.0, help="stepping before each HTTP measurement")
    args = parser.parse_args()
    if args.http and args.episode_steps:
        runner_main(args.http, args.seconds, args.episode_steps, args.pool, args.warmup if args.pool else 0,
                    args.deterministic)
        return
    if args.http:
        http_main(args.http, args.seconds, args.warmup, args.deterministic, not args.look_only)
        return
    ours = SciWorldEnv(deterministic=args.deterministic)
    package = ScienceWorldEnv("", envStepLimit=10**6)
    try:
        plan = {tid: until_won(ours, tid) for tid in TASKS}

        def reset_package(tid: str) -> None:
            package.load(*tasks.parse(tid))

        walk = {tid: list(WALK) for tid in TASKS}
        timed(ours.reset, ours.step, plan, 1)  # JIT warm-up of both JVMs
        timed(reset_package, package.step, plan, 1)
        rows = []
        for label, actions in (("gold paths", plan), ("walk/look", walk)):
            fast = timed(ours.reset, ours.step, actions, args.rounds)
            raw = timed(ours.reset, lambda a: ours._sim.step(a), actions, args.rounds)  # type: ignore[union-attr]
            slow = timed(reset_package, package.step, actions, args.rounds)
            rows.append((label, sum(len(a) for a in actions.values()), fast, raw, slow))
    finally:
        ours.close()
        package.close()
    print(f"{args.rounds} rounds over {len(TASKS)} tasks, deterministic={args.deterministic}; steps/s:")
    print(f"{'actions':12s} {'n':>5s} {'SciWorldEnv':>12s} {'raw step':>9s} {'package':>8s} {'speed-up':>8s}")
    for label, n, fast, raw, slow in rows:
        print(f"{label:12s} {n:5d} {fast:12.1f} {raw:9.1f} {slow:8.1f} {fast / slow:7.1f}x")


if __name__ == "__main__":
    main()
