"""Does the expert win every listed task? Plays each task's expert in process and prints the tally.
The plan comes from one env instance and is played in another, as a server does (ScienceWorld: two JVMs).

    .venv/bin/python bench/bench_experts.py --env alfworld babyai textcraft [--splits held_in held_out]

Per env and split: tasks, wins, failures (listed by id), expert steps (mean/max), and seconds (the first
call of a task may generate or plan it; a second run reads the cache). A win needs the expert's steps to fit
the task's step budget. Tasks that differ only in numbers are played one after the other, so an env that
starts something per task type (MiniWoB's browsers) starts it once per type, not once per task.
"""

from __future__ import annotations

import argparse
import re
import time

from agentgym.registry import load


def play(catalog, env, task_id: str) -> tuple[bool, int]:
    """(won within the step budget, steps) of `catalog`'s expert actions on a fresh reset of `task_id` in `env`."""
    actions = catalog.expert(task_id)
    env.reset(task_id)
    result, steps = None, 0
    for action in actions:
        result, steps = env.step(action), steps + 1
        if result.done:
            break
    return bool(result and result.info.get("won")) and steps <= env.max_steps_for(task_id), len(actions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", nargs="+", required=True)
    ap.add_argument("--splits", nargs="+", default=["held_in", "held_out"])
    args = ap.parse_args()
    rows = []
    for name in args.env:
        catalog, env = load(name)(), load(name)()  # as in a server: experts from one instance, episodes in another
        for split in args.splits:
            t0, wins, steps, failed = time.perf_counter(), 0, [], []
            tasks = sorted(env.tasks(split), key=lambda t: re.sub(r"\d+", "", t))  # stable: listed order within a type
            for task_id in tasks:
                try:
                    won, n = play(catalog, env, task_id)
                    lost = task_id
                except Exception as exc:  # reported, not raised: the tally is the point
                    won, n = False, 0
                    lost = f"{task_id} ({type(exc).__name__}: {exc})"
                if not won:
                    failed.append(lost)
                    print(f"    not won: {lost}", flush=True)
                wins += won
                steps.append(n)
                if len(steps) % 50 == 0:  # a long run shows its progress
                    secs = time.perf_counter() - t0
                    print(f"  {name} {split}: {wins}/{len(steps)} of {len(tasks)} so far ({secs:.0f} s)", flush=True)
            rows.append((name, split, len(tasks), wins, steps, time.perf_counter() - t0, failed))
            print(f"  {name} {split}: {wins}/{len(tasks)}", flush=True)
        env.close()
        catalog.close()
    print(f"\n{'env':<10} {'split':<17} {'tasks':>5} {'won':>5} {'steps mean':>10} {'max':>4} {'seconds':>8}")
    for name, split, n, wins, steps, secs, failed in rows:
        mean = sum(steps) / max(len(steps), 1)
        print(f"{name:<10} {split:<17} {n:>5} {wins:>5} {mean:>10.1f} {max(steps, default=0):>4} {secs:>8.1f}")
        for f in failed:
            print(f"    not won: {f}")


if __name__ == "__main__":
    main()
