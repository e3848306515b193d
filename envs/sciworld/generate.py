"""Rebuild `variations.json`: the package's variation splits, then a check of every listed task.

    .venv/bin/python -m envs.sciworld.generate [--workers 2]

Step 1 (one JVM): each task type's train/dev/test variations, as the simulator reports them.
Step 2 (`--workers` x 2 JVMs): for every held-in and held-out task, the gold path (from one JVM, as the
server's catalog computes it), replayed through `SciWorldEnv` in another JVM, must win; its length sizes
the task's step budget. The env's JVMs are deterministic by default; with --nondeterministic, living things
behave differently in the two JVMs and a few gold paths fail (3 of 360 with scienceworld 1.2.3: grow-fruit
v0 and v6, mendelian-genetics-known-plant v30).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version
from pathlib import Path

from envs.sciworld.simulator import Simulator

DATA_PATH = Path(__file__).with_name("variations.json")


def variation_sets() -> dict[str, dict[str, list[int]]]:
    """{task type: {train|dev|test: [start, stop)}}; every set is a contiguous range."""
    sim = Simulator()
    try:
        out = {}
        for name in sorted(sim.task_names()):
            sim.load(name, 0)
            parts = dict(zip(("train", "dev", "test"), sim.variation_sets(), strict=True))
            for part, values in parts.items():
                assert values == list(range(values[0], values[-1] + 1)) if values else True, (name, part)
            out[name] = {part: [v[0], v[-1] + 1] if v else [0, 0] for part, v in parts.items()}
        return out
    finally:
        sim.close()


def check(task_ids: list[str]) -> dict[str, dict]:
    """Replay each task's gold path through the env; report length, result and ambiguity answers."""
    from envs.sciworld.env import SciWorldEnv

    catalog, env = SciWorldEnv(), SciWorldEnv()  # as in the server: experts in one JVM, episodes in another
    report = {}
    try:
        for tid in task_ids:
            t0 = time.perf_counter()
            gold = catalog.expert(tid)
            env.reset(tid)
            result, invalid, steps = None, [], 0
            for action in gold:
                result, steps = env.step(action), steps + 1
                if not result.info["valid"]:
                    invalid.append(action)
                if result.done:
                    break
            won = bool(result and result.info["won"])
            s = round(time.perf_counter() - t0, 2)
            report[tid] = {"gold": len(gold), "won": won, "steps": steps, "invalid": invalid, "s": s}
            print(tid, report[tid], flush=True)
    finally:
        env.close()
        catalog.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--nondeterministic", action="store_true", help="run the JVMs without a constant identity hash")
    parser.add_argument("--check", nargs="+", metavar="TASK_ID", help="only check these tasks; write nothing")
    args = parser.parse_args()
    if args.nondeterministic:
        os.environ["AGENTGYM_SCIWORLD_DETERMINISTIC"] = "0"  # read by the workers' SciWorldEnv
    if args.check:
        report = check(args.check)
        print(f"failed: {sorted(t for t, r in report.items() if not r['won'])}")
        return
    data = {"scienceworld": version("scienceworld"), "sets": variation_sets(), "gold_lengths": {}}
    DATA_PATH.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")

    from envs.sciworld import tasks

    importlib.reload(tasks)  # read the sets just written

    ids = tasks.tasks("held_in") + tasks.tasks("held_out")
    shards = [ids[i :: args.workers] for i in range(args.workers)]
    with ProcessPoolExecutor(args.workers) as pool:
        report = {k: v for part in pool.map(check, shards) for k, v in part.items()}
    failed = sorted(t for t, r in report.items() if not r["won"])
    data["gold_lengths"] = {t: report[t]["gold"] for t in ids}
    DATA_PATH.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    ambiguous = sum(1 for r in report.values() if r["invalid"])
    print(f"{len(ids)} tasks checked; {ambiguous} gold paths answer ambiguity questions; failed: {failed}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
