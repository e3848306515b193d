"""Does the expert win every listed task? Plays each task's expert in process and prints the tally.

    .venv/bin/python bench/bench_experts.py --env alfworld babyai textcraft [--splits held_in held_out]

Per env and split: tasks, wins, failures (listed by id), expert steps (mean/max), and seconds (the first
call of a task may generate or plan it; a second run reads the cache).
"""

from __future__ import annotations

import argparse
import time

from agentgym.registry import load


def play(env, task_id: str) -> tuple[bool, int]:
    """(won, steps) of the expert's actions on a fresh reset of `task_id`."""
    actions = env.expert(task_id)
    env.reset(task_id)
    result = None
    for action in actions:
        result = env.step(action)
        if result.done:
            break
    return bool(result and result.info.get("won")), len(actions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", nargs="+", required=True)
    ap.add_argument("--splits", nargs="+", default=["held_in", "held_out"])
    args = ap.parse_args()
    rows = []
    for name in args.env:
        env = load(name)()
        for split in args.splits:
            t0, wins, steps, failed = time.perf_counter(), 0, [], []
            tasks = env.tasks(split)
            for task_id in tasks:
                try:
                    won, n = play(env, task_id)
                except Exception as exc:  # reported, not raised: the tally is the point
                    won, n = False, 0
                    failed.append(f"{task_id} ({type(exc).__name__}: {exc})")
                else:
                    if not won:
                        failed.append(task_id)
                wins += won
                steps.append(n)
            rows.append((name, split, len(tasks), wins, steps, time.perf_counter() - t0, failed))
            print(f"  {name} {split}: {wins}/{len(tasks)}", flush=True)
        env.close()
    print(f"\n{'env':<10} {'split':<9} {'tasks':>5} {'won':>5} {'steps mean':>10} {'max':>4} {'seconds':>8}")
    for name, split, n, wins, steps, secs, failed in rows:
        mean = sum(steps) / max(len(steps), 1)
        print(f"{name:<10} {split:<9} {n:>5} {wins:>5} {mean:>10.1f} {max(steps, default=0):>4} {secs:>8.1f}")
        for f in failed:
            print(f"    not won: {f}")


if __name__ == "__main__":
    main()
