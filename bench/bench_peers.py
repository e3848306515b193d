"""One env served three ways on this machine, measured side by side in one run: our server, OpenEnv's
server (openenv-core: WebSocket and HTTP), and a FastAPI server written as AgentGym's env servers are.

    .venv/bin/python bench/bench_peers.py --envs echo maze --sessions 64 --seconds 10

Each server runs alone (one at a time) as a child process under uvicorn with uvloop and httptools.
HTTP paths are driven by `wrk` (C, `apt-get install wrk`) with `bench/peers.lua`: one connection per wrk
thread, each stepping one session opened beforehand and resetting it when its episode ends. OpenEnv's HTTP
`/step` has no sessions (each request builds, resets, steps and closes a fresh env), so that row counts
requests, not steps of an episode. WebSocket paths (OpenEnv's `/ws`, and ours, which speaks the same
messages) are driven by Python client processes (`--ws-procs`, uvloop + websockets): their own CPU is part
of what they measure, so compare WebSocket rows with each other, not with the wrk rows.
Actions: echo says "hello"; maze moves north, east, south, west in turn (a wall wastes a turn).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from agentgym.child import ChildServer
from agentgym.env_server import EnvServer
from agentgym.netutil import free_port

HERE = Path(__file__).resolve().parent
ACTIONS = {"echo": ["hello"], "maze": ["move north", "move east", "move south", "move west"]}


class PeerServer(ChildServer):
    """`bench/peer_servers.py STYLE ENV` as a child process."""

    label = "peer-server"

    def __init__(self, style: str, env: str, max_sessions: int):
        super().__init__()
        self.style, self.env, self.max_sessions, self.port = style, env, max_sessions, free_port()
        self.health_path = "/" if style == "agentgym" else "/health"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, str(HERE / "peer_servers.py"), self.style, self.env, "--port", str(self.port),
                "--max-sessions", str(self.max_sessions)]

    def environment(self) -> dict[str, str]:
        root = str(HERE.parent)
        return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def open_sessions(style: str, url: str, n: int) -> list[str]:
    """Open `n` sessions the way each server's clients do, before anything is timed."""
    ids = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(n):
            if style == "ours":
                reply = http.post("/sessions", json={"index": i, "max_steps": 10_000}).json()
                ids.append(reply["session_id"])
            elif style == "agentgym":
                idx = http.post("/create").json()["id"]
                http.post("/reset", json={"id": idx, "game": i}).raise_for_status()
                ids.append(str(idx))
            else:  # OpenEnv over HTTP: nothing to open
                ids.append("-")
    return ids


def close_sessions(style: str, url: str, ids: list[str]) -> None:
    """Close what `open_sessions` opened (ours and AgentGym-style), so the next row starts from none."""
    with httpx.Client(base_url=url, timeout=60) as http:
        for sid in ids:
            if style == "ours":
                http.delete(f"/sessions/{sid}").raise_for_status()
            elif style == "agentgym":
                http.post("/close", json={"id": int(sid)}).raise_for_status()


def run_wrk(style: str, url: str, sessions: list[str], actions: list[str], seconds: float, server_pid: int) -> dict:
    """wrk over pre-opened sessions; steps/s, latency and CPU per step of the server and of wrk."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(sessions) + "\n")
    n = len(sessions)
    cmd = ["wrk", f"-t{n}", f"-c{n}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(HERE / "peers.lua"), url,
           "--", style, f.name, ",".join(actions)]
    server = psutil.Process(server_pid)
    cpu0 = sum(server.cpu_times()[:2])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, _, usage = os.wait4(proc.pid, 0)  # wrk's own CPU time
    proc.returncode, wrk_cpu = 0, usage.ru_utime + usage.ru_stime
    os.unlink(f.name)
    server_cpu = sum(server.cpu_times()[:2]) - cpu0
    close_sessions(style, url, sessions)
    stats = json.loads(out.strip().splitlines()[-1])
    steps = stats["requests"] - stats["resets"]
    return {
        "steps_s": steps / (stats["duration_us"] / 1e6), "p50_ms": stats["p50_us"] / 1e3,
        "p99_ms": stats["p99_us"] / 1e3, "errors": stats["errors"] + stats["failures"], "resets": stats["resets"],
        "server_us": server_cpu / max(1, stats["requests"]) * 1e6,
        "client_us": wrk_cpu / max(1, stats["requests"]) * 1e6,
        "command": " ".join(cmd[:-3] + [style, "SESSIONS", ",".join(actions)]),
    }


# -- WebSocket load: several client processes ---------------------------------------------------------
async def ws_sessions(url: str, first: int, count: int, actions: list[str], seconds: float, ready, go) -> dict:
    import websockets

    lat: list[float] = []
    counts = {"steps": 0, "resets": 0, "errors": 0}
    conns = [await websockets.connect(url, max_size=None) for _ in range(count)]
    for k, ws in enumerate(conns):
        await ws.send(json.dumps({"type": "reset", "data": {"index": first + k, "max_steps": 10_000}}))
        await ws.recv()
    ready.put(True)
    await asyncio.to_thread(go.wait)
    cpu0, end = sum(psutil.Process().cpu_times()[:2]), time.perf_counter() + seconds

    async def play(ws) -> None:
        turn = 0
        while time.perf_counter() < end:
            message = json.dumps({"type": "step", "data": {"action": actions[turn % len(actions)]}})
            turn += 1
            t = time.perf_counter()
            await ws.send(message)
            reply = json.loads(await ws.recv())
            lat.append(time.perf_counter() - t)
            if reply.get("type") != "observation":
                counts["errors"] += 1
                continue
            counts["steps"] += 1
            if reply["data"].get("done"):
                await ws.send(json.dumps({"type": "reset", "data": {"max_steps": 10_000}}))
                await ws.recv()
                counts["resets"] += 1

    await asyncio.gather(*(play(ws) for ws in conns))
    cpu = sum(psutil.Process().cpu_times()[:2]) - cpu0
    for ws in conns:
        await ws.close()
    return {**counts, "lat": lat, "cpu": cpu}


def ws_worker(url: str, first: int, count: int, actions: list[str], seconds: float, ready, go, out) -> None:
    import uvloop

    out.put(uvloop.run(ws_sessions(url, first, count, actions, seconds, ready, go)))


def run_ws(url: str, n: int, procs: int, actions: list[str], seconds: float, server_pid: int) -> dict:
    """`n` WebSocket sessions spread over `procs` client processes, opened first, then stepped together."""
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    share = [n // procs + (1 if k < n % procs else 0) for k in range(procs)]
    workers = [ctx.Process(target=ws_worker, args=(url, sum(share[:k]), share[k], actions, seconds, ready, go, out))
               for k in range(procs)]
    for w in workers:
        w.start()
    for _ in workers:
        ready.get(timeout=300)
    server = psutil.Process(server_pid)
    cpu0, t0 = sum(server.cpu_times()[:2]), time.perf_counter()
    go.set()
    results = [out.get(timeout=seconds + 120) for _ in workers]
    elapsed = time.perf_counter() - t0
    server_cpu = sum(server.cpu_times()[:2]) - cpu0
    for w in workers:
        w.join()
    lat = sorted(x for r in results for x in r["lat"])
    steps = sum(r["steps"] for r in results)
    requests = max(1, steps + sum(r["resets"] for r in results))
    return {
        "steps_s": steps / elapsed, "p50_ms": lat[len(lat) // 2] * 1e3 if lat else float("nan"),
        "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1e3 if lat else float("nan"),
        "errors": sum(r["errors"] for r in results), "resets": sum(r["resets"] for r in results),
        "server_us": server_cpu / requests * 1e6, "client_us": sum(r["cpu"] for r in results) / requests * 1e6,
        "command": f"{procs} Python processes (uvloop + websockets), {n} connections",
    }


def measure_env(env: str, n: int, seconds: float, ws_procs: int) -> list[tuple[str, dict]]:
    """Every (server, path) row for one env."""
    actions, rows = ACTIONS[env], []
    with EnvServer(env, max_sessions=n + 8) as ours:
        rows.append(("ours, HTTP", run_wrk("ours", ours.url, open_sessions("ours", ours.url, n), actions, seconds,
                                           ours.pid)))
        rows.append(("ours, WebSocket", run_ws(ours.url.replace("http", "ws") + "/ws", n, ws_procs, actions, seconds,
                                               ours.pid)))
    with PeerServer("openenv", env, n + 8) as peer:
        rows.append(("OpenEnv, HTTP (stateless)", run_wrk("openenv", peer.url, open_sessions("openenv", peer.url, n),
                                                         actions, seconds, peer.pid)))
        rows.append(("OpenEnv, WebSocket", run_ws(peer.url.replace("http", "ws") + "/ws", n, ws_procs, actions,
                                                  seconds, peer.pid)))
    with PeerServer("agentgym", env, n + 8) as peer:
        sessions = open_sessions("agentgym", peer.url, n)
        row = run_wrk("agentgym", peer.url, sessions, actions, seconds, peer.pid)
        rows.append(("AgentGym-style FastAPI, HTTP", row))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envs", nargs="+", default=["echo", "maze"], choices=sorted(ACTIONS))
    ap.add_argument("--sessions", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--ws-procs", type=int, default=2, help="client processes for the WebSocket rows")
    args = ap.parse_args()
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    table = ["| env | server, path | steps/s | p50 / p99 ms | vs ours | server CPU us/request |",
             "|---|---|---|---|---|---|"]
    for env in args.envs:
        rows = measure_env(env, args.sessions, args.seconds, args.ws_procs)
        print(f"\n{env}, {args.sessions} sessions, {args.seconds:g} s per row, {os.cpu_count()} cores "
              "(servers and load generators share them)")
        print(f"{'server, path':30} | {'steps/s':>7} {'p50 ms':>7} {'p99 ms':>7} | {'vs ours':>7} | "
              f"{'errors':>6} {'resets':>6} | CPU us/req server load-gen")
        base = {"HTTP": rows[0][1]["steps_s"], "WebSocket": rows[1][1]["steps_s"]}
        for label, r in rows:
            ref = base["WebSocket" if "WebSocket" in label else "HTTP"]
            print(f"{label:30} | {r['steps_s']:>7.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} | "
                  f"{r['steps_s'] / ref:>7.2f} | {r['errors']:>6} {r['resets']:>6} | "
                  f"{r['server_us']:>17.0f} {r['client_us']:>8.0f}")
            table.append(f"| {env} | {label} | {r['steps_s']:,.0f} | {r['p50_ms']:,.0f} / {r['p99_ms']:,.0f} | "
                         f"{r['steps_s'] / ref:.2f} | {r['server_us']:,.0f} |")
        print("load generators:")
        for label, r in rows:
            print(f"  {label}: {r['command']}")
    print("\nfor the README:\n" + "\n".join(table))


if __name__ == "__main__":
    main()
