"""Steps/s of one session through each protocol a server speaks: ours (HTTP), OpenEnv's (`/ws`, its own
client) and AgentGym's (`/agentgym`, httpx), on the same env server.

    .venv/bin/python bench/bench_compat.py --env maze --steps 2000

Each step is the first available action (the env's own budget ends episodes; a finished one is reset).
"""

from __future__ import annotations

import argparse
import time

import httpx
from openenv.core import GenericEnvClient

from agentgym import EnvClient
from agentgym.env_server import EnvServer


def ours(url: str, steps: int) -> float:
    with EnvClient(url) as client, client.session(index=0) as s:
        t0 = time.perf_counter()
        for _ in range(steps):
            result = s.step((s.observation.available_actions or ["look"])[0])
            if result.done:
                s.reset()
        return steps / (time.perf_counter() - t0)


def openenv(url: str, steps: int) -> float:
    with GenericEnvClient(base_url=url).sync() as client:
        obs = client.reset(index=0).observation
        t0 = time.perf_counter()
        for _ in range(steps):
            result = client.step({"action": (obs["available_actions"] or ["look"])[0]})
            obs = result.observation if not result.done else client.reset().observation
        return steps / (time.perf_counter() - t0)


def agentgym_routes(url: str, steps: int) -> float:
    with httpx.Client(base_url=url + "/agentgym") as http:
        idx = http.post("/create").json()["id"]
        http.post("/reset", json={"id": idx, "game": 0})
        t0 = time.perf_counter()
        for _ in range(steps):
            # AgentGym's clients read no action list: a fixed move (into a wall or not) is a step all the same
            r = http.post("/step", json={"id": idx, "action": "move up"}).json()
            if r.get("done") or "error" in r:
                http.post("/reset", json={"id": idx, "game": 0})
        return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="maze")
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    with EnvServer(args.env) as server:
        rows = [("ours (HTTP, EnvClient)", ours(server.url, args.steps)),
                ("OpenEnv (/ws, GenericEnvClient)", openenv(server.url, args.steps))]
        if args.env == "maze":
            rows.append(("AgentGym (/agentgym, httpx)", agentgym_routes(server.url, args.steps)))
    print(f"| protocol ({args.env}, 1 session, {args.steps} steps) | steps/s |\n|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.0f} |")


if __name__ == "__main__":
    main()
