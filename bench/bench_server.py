"""Our env server alone under `wrk` (one connection per pre-opened session): steps/s, p50/p99, CPU per step,
and with --profile, where the server's time goes (py-spy samples of the thread holding the GIL: CPU spent
in Python, not waiting; on this VM py-spy cannot tell idle threads apart, so plain samples count waits too).

    .venv/bin/python -m bench.bench_server --env echo --sessions 64 --seconds 10 --profile /tmp/echo.txt

The load generator is wrk (C), so the client's CPU is small (shown per step) and the server is what is
measured; both share the machine's cores.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import subprocess
import sys
from pathlib import Path

from agentgym.env_server import EnvServer
from bench.bench_peers import ACTIONS, PeerServer, open_sessions, run_wrk


def top_functions(raw: Path, count: int = 25) -> list[tuple[float, str]]:
    """Share of samples in which each function is on the stack (inclusive) and on top (self), from
    py-spy's raw (collapsed) output."""
    total, inclusive, own = 0, collections.Counter(), collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        total += int(n)
        own[frames[-1]] += int(n)
        for frame in set(frames):
            inclusive[frame] += int(n)
    rows = [(own[f] / total, inclusive[f] / total, f) for f, _ in own.most_common(count)]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="echo", choices=sorted(ACTIONS))
    ap.add_argument("--sessions", type=int, nargs="+", default=[64])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--profile", default="", help="write py-spy's collapsed stacks here and print the top functions")
    ap.add_argument("--compare", action="store_true",
                    help="alternate with the same app under uvicorn's own httptools protocol (two writes a response)")
    ap.add_argument("--rounds", type=int, default=1, help="measurements per server and session count, alternated")
    args = ap.parse_args()
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    print(f"{'server':28} {'sessions':>8} | {'steps/s':>7} {'p50 ms':>7} {'p99 ms':>7} | {'errors':>6} | "
          "CPU us/step server wrk")
    servers = [("agentgym serve", EnvServer(args.env, max_sessions=max(args.sessions) + 8))]
    if args.compare:
        servers.append(("uvicorn httptools (2 writes)", PeerServer("ours-httptools", args.env, max(args.sessions) + 8)))
    with contextlib.ExitStack() as stack:
        for _, server in servers:
            stack.enter_context(server)
        for _ in range(args.rounds):
            for n in args.sessions:
                for label, server in servers:
                    spy = None
                    if args.profile and server is servers[0][1]:
                        spy = subprocess.Popen(
                            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(server.pid),
                             "--format", "raw", "--gil", "--nonblocking", "--rate", "200",
                             "--duration", f"{args.seconds:g}",
                             "--output", args.profile], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    r = run_wrk("ours", server.url, open_sessions("ours", server.url, n), ACTIONS[args.env],
                                args.seconds, server.pid)
                    print(f"{label:28} {n:>8} | {r['steps_s']:>7.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} | "
                          f"{r['errors']:>6} | {r['server_us']:>15.0f} {r['client_us']:>4.0f}", flush=True)
                    if spy is not None:
                        spy.wait()
    print(f"wrk: {r['command']}")
    if args.profile and os.path.exists(args.profile):
        print(f"\nwhere the server's time goes (py-spy, {args.profile}): self% incl% function")
        for own, incl, frame in top_functions(Path(args.profile)):
            print(f"{own:6.1%} {incl:6.1%} {frame}")


if __name__ == "__main__":
    main()
