"""Reliability figures of issue 13, printed as one Markdown table for the README.

    .venv/bin/python -m bench.bench_reliability                      # everything
    .venv/bin/python -m bench.bench_reliability --parts fuzz --fuzz-examples 400 --envs maze echo

Parts:
- fuzz: schemathesis (coverage, random and stateful phases) against the live server of each env;
  cases run and 5xx answers seen.
- concurrent: N sessions at once on one echo server, each creating, stepping and closing; errors and
  p50/p99 latency of its requests.
- resume: `agentgym collect` (the maze expert) killed with SIGKILL at random moments, each kill
  followed by `--resume`; episodes lost and duplicated in the final store.
- orphans: SIGKILL of each kind of parent that starts servers; processes of theirs still alive after.
- jvms: ScienceWorld JVMs before and after sessions with resets, expiries and deletes during steps.
- idle: sessions that think ~5 s between steps (an agent waiting for its LLM), through our async client;
  steps lost to a connection the server closed as it was reused (uvicorn's keep-alive is 5 s by default).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

from agentgym.env_server import EnvServer
from agentgym.registry import available
from bench.bench_protocol import percentile
from tests.fuzzing import fuzz
from tests.processes import live_processes, still_alive
from trajectories.store import TrajectoryStore

ROOT = Path(__file__).parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "agentgym.cli", *args]


# -- fuzz ------------------------------------------------------------------------------------
def bench_fuzz(envs: list[str], examples: int, timeout: float = 1800) -> list[tuple[str, str]]:
    rows = []
    for env in envs:
        # Fuzzed sessions are never closed: a short TTL lets them expire before they reach the cap.
        with EnvServer(env, ttl=1.0, max_sessions=4096) as server:
            t0 = time.monotonic()
            run = fuzz(server.url, examples, timeout=timeout)
            failures = ", ".join(f"{f.get('title')} x{f.get('count', 1)}" for f in run.failures) or "none"
        if run.failures:
            print(run.output[-8000:], flush=True)
        rows.append((f"fuzz `{env}`", f"{run.cases} cases, {run.server_errors} server errors, other findings: "
                                      f"{failures} ({time.monotonic() - t0:.0f} s)"))
        print(rows[-1], flush=True)
    return rows


# -- concurrent sessions -----------------------------------------------------------------------
async def one_session(http: aiohttp.ClientSession, url: str, steps: int, lat: list[float],
                      errors: collections.Counter) -> None:
    async def call(method: str, path: str, body: dict | None = None) -> dict | None:
        t = time.perf_counter()
        try:
            async with http.request(method, url + path, json=body) as r:
                payload = await r.json()
                if r.status != 200:
                    errors[f"{r.status} {payload.get('code')}"] += 1
                    return None
                return payload
        except Exception as exc:  # noqa: BLE001 - every failure is counted, none ends the bench
            errors[type(exc).__name__] += 1
            return None
        finally:
            lat.append(time.perf_counter() - t)

    created = await call("POST", "/sessions", {"split": "held_in", "index": random.randrange(100)})
    if created is None:
        return
    sid = created["session_id"]
    for i in range(steps):
        await call("POST", f"/sessions/{sid}/step", {"action": f"say {i}"})
    await call("DELETE", f"/sessions/{sid}")


async def concurrent(url: str, sessions: int, steps: int) -> tuple[collections.Counter, list[float], float]:
    lat: list[float] = []
    errors: collections.Counter = collections.Counter()
    connector = aiohttp.TCPConnector(limit=sessions)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(one_session(http, url, steps, lat, errors) for _ in range(sessions)))
    return errors, lat, time.perf_counter() - t0


async def idle_steps(url: str, sessions: int, steps: int, gap: tuple[float, float]) -> collections.Counter:
    from agentgym.client import AsyncEnvClient

    lost: collections.Counter = collections.Counter()
    async with AsyncEnvClient(url) as client:
        async def one(i: int) -> None:
            session = await client.session(split="held_in", index=i % 100)
            for k in range(steps):
                await asyncio.sleep(random.uniform(*gap))
                try:
                    await session.step(f"say {k}")
                except Exception as exc:  # noqa: BLE001 - every failure is counted, none ends the bench
                    lost[type(exc).__name__] += 1
                    return

        await asyncio.gather(*(one(i) for i in range(sessions)))
    return lost


def bench_idle(sessions: int, steps: int = 4, gap: tuple[float, float] = (4.8, 5.2)) -> list[tuple[str, str]]:
    with EnvServer("echo", max_sessions=sessions + 24) as server:
        lost = asyncio.run(idle_steps(server.url, sessions, steps, gap))
    shown = ", ".join(f"{k} x{v}" for k, v in lost.items()) or "0 steps lost"
    return [(f"{sessions} sessions stepping every {gap[0]}-{gap[1]} s (`echo`, {steps} steps each, "
             "`python -m bench.bench_reliability --parts idle --sessions 256`)", shown)]


def bench_concurrent(sessions: int, steps: int) -> list[tuple[str, str]]:
    with EnvServer("echo", max_sessions=sessions + 24) as server:
        errors, lat, elapsed = asyncio.run(concurrent(server.url, sessions, steps))
    shown = ", ".join(f"{k} x{v}" for k, v in errors.items()) or "0 errors"
    return [(f"{sessions} concurrent sessions (`echo`, {steps} steps each)",
             f"{len(lat)} requests in {elapsed:.1f} s: {shown}; p50 {percentile(lat, 0.5) * 1e3:.0f} ms, "
             f"p99 {percentile(lat, 0.99) * 1e3:.0f} ms")]


# -- kill and resume -------------------------------------------------------------------------
def collect_cmd(out: Path, episodes: int, resume: bool) -> list[str]:
    return cli("collect", "--env", "maze", "--expert", "--episodes", str(episodes), "--concurrency", "8",
               "--out", str(out), *(["--resume"] if resume else []))


def run_until_first_stored(command: list[str], out: Path) -> tuple[subprocess.Popen, float]:
    """Start a collection; return it and the seconds until its first trajectory was on disk."""
    t0 = time.monotonic()
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (out.exists() and out.stat().st_size) and proc.poll() is None:
        time.sleep(0.05)
    return proc, time.monotonic() - t0


def bench_resume(trials: int, episodes: int) -> list[tuple[str, str]]:
    lost = duplicated = orphans = 0
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.jsonl"  # a whole run, to place the kills inside its collecting time
        t0 = time.monotonic()
        proc, startup = run_until_first_stored(collect_cmd(full, episodes, False), full)
        proc.wait()
        collecting = time.monotonic() - t0 - startup
        for trial in range(trials):
            out = Path(tmp) / f"trial{trial}.jsonl"
            proc, _ = run_until_first_stored(collect_cmd(out, episodes, False), out)
            time.sleep(random.uniform(0.0, 0.9) * collecting)
            family = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            orphans += len(still_alive(family))
            stored_at_kill = len(TrajectoryStore(out).keys())
            subprocess.run(collect_cmd(out, episodes, True), env=ENV, check=True, capture_output=True)
            keys = [t.key for t in TrajectoryStore(out)]
            lost += episodes - len(set(keys))
            duplicated += len(keys) - len(set(keys))
            print(f"trial {trial}: killed with {stored_at_kill} of {episodes} stored; after resume "
                  f"{len(set(keys))} distinct, {len(keys) - len(set(keys))} duplicated", flush=True)
    return [(f"`kill -9` of `agentgym collect` at {trials} random moments, then `--resume` ({episodes} episodes)",
             f"{lost} episodes lost, {duplicated} duplicated, {orphans} processes left behind")]


# -- orphans ---------------------------------------------------------------------------------
# name -> (command, processes it starts: a guard and a server per child server)
PARENTS = {
    "agentgym collect (env server child)": (lambda out: collect_cmd(out, 100000, False), 2),
    "agentgym serve --workers 2 (env server children)": (lambda out: cli("serve", "echo", "--workers", "2",
                                                                          "--port", "18931"), 4),
}


def bench_orphans(with_vllm: bool) -> list[tuple[str, str]]:
    parents = dict(PARENTS)
    if with_vllm:
        parents["agentgym llm serve (vLLM and its workers)"] = (lambda out: cli("llm", "serve"), 3)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (command, expected) in parents.items():
            proc = subprocess.Popen(command(Path(tmp) / "o.jsonl"), env=ENV, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 600
            while len(psutil.Process(proc.pid).children(recursive=True)) < expected and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(5)  # let the servers come up and start their own workers
            family = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            left = still_alive(family)
            rows.append((f"SIGKILL of {name}", f"{len(left)} of its {len(family)} processes left behind"))
            print(rows[-1], flush=True)
    return rows


# -- ScienceWorld JVMs -----------------------------------------------------------------------
async def sciworld_sessions(url: str, sessions: int, concurrency: int) -> collections.Counter:
    """Sessions that step, reset, get deleted during a step, or are left to expire."""
    outcomes: collections.Counter = collections.Counter()
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
        tasks = (await (await http.get(url + "/tasks")).json())["tasks"]

        async def one(i: int) -> None:
            async with sem:
                async with http.post(url + "/sessions", json={"task_id": tasks[i % len(tasks)]}) as r:
                    if r.status != 200:
                        outcomes[f"create {r.status}"] += 1
                        return
                    sid = (await r.json())["session_id"]
                step = f"{url}/sessions/{sid}/step"
                for _ in range(3):
                    await (await http.post(step, json={"action": "look around"})).read()
                kind = i % 4
                if kind == 0:  # reset, then close
                    await (await http.post(f"{url}/sessions/{sid}/reset", json={})).read()
                    await (await http.delete(f"{url}/sessions/{sid}")).read()
                elif kind == 1:  # delete while a step is in flight
                    stepping = asyncio.ensure_future(http.post(step, json={"action": "look around"}))
                    await asyncio.sleep(0.01)
                    await (await http.delete(f"{url}/sessions/{sid}")).read()
                    await (await stepping).read()
                elif kind == 2:
                    await (await http.delete(f"{url}/sessions/{sid}")).read()
                outcomes[("reset", "delete during step", "delete", "left to expire")[kind]] += 1

        await asyncio.gather(*(one(i) for i in range(sessions)))
    return outcomes


def bench_jvms(sessions: int, concurrency: int) -> list[tuple[str, str]]:
    before = live_processes(name="java")
    ttl, pool_ttl = 5.0, 3.0  # the JVM pool (on by default) keeps a closed session's JVM for pool_ttl s
    extra = {"AGENTGYM_SCIWORLD_POOL_TTL": str(pool_ttl)}
    with EnvServer("sciworld", ttl=ttl, max_sessions=concurrency * 2, extra_env=extra) as server:
        pid = server.pid
        t0 = time.monotonic()
        outcomes = asyncio.run(sciworld_sessions(server.url, sessions, concurrency))
        elapsed = time.monotonic() - t0
        time.sleep(ttl * 2 + pool_ttl + 4)  # the reaper closes the sessions left to expire, then the pool their JVMs
        inside = live_processes(pid, "java")
    time.sleep(2)
    after = live_processes(name="java") - before
    shown = ", ".join(f"{k} {v}" for k, v in outcomes.items())
    return [(f"ScienceWorld: {sessions} sessions ({shown}) in {elapsed:.0f} s",
             f"JVMs of the server after expiry: {len(inside)}; JVMs left on the machine after it stopped: "
             f"{len(after)} (before: {len(before)})")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["fuzz", "concurrent", "resume", "orphans", "idle", "jvms"])
    parser.add_argument("--envs", nargs="+", default=available())
    parser.add_argument("--fuzz-examples", type=int, default=330,
                        help="schemathesis examples per operation (330: about 5,000 cases per env)")
    parser.add_argument("--fuzz-timeout", type=float, default=1800,
                        help="seconds per env (a browser or a JVM per session needs more)")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--sciworld-sessions", type=int, default=200)
    parser.add_argument("--with-vllm", action="store_true", help="also SIGKILL `agentgym llm serve` (starts vLLM)")
    args = parser.parse_args()
    random.seed(13)
    rows: list[tuple[str, str]] = []
    if "fuzz" in args.parts:
        rows += bench_fuzz(args.envs, args.fuzz_examples, args.fuzz_timeout)
    if "concurrent" in args.parts:
        rows += bench_concurrent(args.sessions, steps=5)
    if "resume" in args.parts:
        rows += bench_resume(args.trials, args.episodes)
    if "orphans" in args.parts:
        rows += bench_orphans(args.with_vllm)
    if "idle" in args.parts:
        rows += bench_idle(min(args.sessions, 256))
    if "jvms" in args.parts:
        rows += bench_jvms(args.sciworld_sessions, concurrency=8)
    print("\n| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
