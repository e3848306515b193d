"""The server app's own CPU per step, in one process and without sockets: ASGI messages handed straight to
`create_app(...)`, so neither uvicorn nor the kernel nor a client is counted.

    .venv/bin/python bench/bench_app.py --env echo --steps 20000            # add --profile for cProfile's top 18

`POST /sessions/{id}/step` with one action each time (echo: "hello"; maze: "move north", a wall wastes
the turn), on fresh sessions of 5,000 steps each (within every session's budget: no step is refused).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time

import orjson

from agentgym.registry import load
from agentgym.server import create_app

ACTIONS = {"echo": "hello", "maze": "move north"}


def request(method: str, path: str, body: bytes) -> tuple[dict, object]:
    """An ASGI scope and receive callable for one loopback JSON request."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": method, "path": path, "query_string": b"", "server": ("127.0.0.1", 8100),
             "headers": [(b"host", b"127.0.0.1:8100"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}
    return scope, receive


async def run(env: str, steps: int, profile: bool) -> None:
    app = create_app(load(env))
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    body = orjson.dumps({"action": ACTIONS[env]})

    async def paths(n: int) -> list[str]:
        out = []
        for _ in range(-(-n // 5000)):
            scope, receive = request("POST", "/sessions", b'{"index":0,"max_steps":10000}')
            await app(scope, receive, send)
            out.append(f"/sessions/{orjson.loads(sent[-1]['body'])['session_id']}/step")
        sent.clear()
        return out

    async def loop(n: int) -> float:
        steps = [path for path in await paths(n) for _ in range(5000)][:n]
        cpu0 = time.process_time()
        for path in steps:
            scope, receive = request("POST", path, body)
            await app(scope, receive, send)
            if sent[0]["status"] != 200:
                raise SystemExit(f"step refused: {sent[-1]['body'][:200]!r}")
            sent.clear()
        return (time.process_time() - cpu0) / n

    print(f"{env}: {await loop(steps) * 1e6:.1f} us CPU per step in the app (ASGI messages built included)")
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        await loop(steps)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="echo", choices=sorted(ACTIONS))
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    asyncio.run(run(args.env, args.steps, args.profile))


if __name__ == "__main__":
    main()
