"""A readable report of `bench_rollout.py --json` files: one Markdown table of every measurement, the median
efficiency per concurrency, and a plot of collection against the replay (tokens/s by concurrent episodes).

    python -m bench.rollout_report --runs "one API server=a.json" "one API server=b.json" "4 API servers=c.json" \\
        --out docs/results/rollout-gpu

Runs given the same label are pooled (rounds of one setup).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def load(specs: list[str]) -> dict[str, list[dict]]:
    """label -> every row of the files given that label."""
    runs: dict[str, list[dict]] = defaultdict(list)
    for spec in specs:
        label, _, path = spec.rpartition("=")
        runs[label or Path(path).stem].extend(json.loads(Path(path).read_text()))
    return runs


def table(runs: dict[str, list[dict]]) -> list[str]:
    lines = ["| setup | concurrent episodes | calls | collection tok/s | replay tok/s | efficiency | runner CPU "
             "(cores) | env server CPU | replay clients CPU |", "|---|---|---|---|---|---|---|---|---|"]
    for label, rows in runs.items():
        for r in sorted(rows, key=lambda r: r["concurrency"]):
            col, raw = r["collection"], r["vllm"]
            lines.append(f"| {label} | {r['concurrency']} | {col['calls']:,} | {col['tokens_s']:,.0f} | "
                         f"{raw['tokens_s']:,.0f} | {col['tokens_s'] / raw['tokens_s']:.2f} | "
                         f"{col['runner_cpu']:.2f} | {col['env_cpu']:.2f} | {raw['client_cpu']:.2f} |")
    return lines


def medians(runs: dict[str, list[dict]]) -> list[str]:
    lines = ["| setup | concurrent episodes | rounds | median efficiency (range) | pooled efficiency |",
             "|---|---|---|---|---|"]
    for label, rows in runs.items():
        by_conc: dict[int, list[dict]] = defaultdict(list)
        for r in rows:
            by_conc[r["concurrency"]].append(r)
        for c, rs in sorted(by_conc.items()):
            eff = [r["collection"]["tokens_s"] / r["vllm"]["tokens_s"] for r in rs]
            # Pooled: all tokens over all seconds on each side, so a long round weighs as much as it ran.
            pooled = pooled_rate([r["collection"] for r in rs]) / pooled_rate([r["vllm"] for r in rs])
            lines.append(f"| {label} | {c} | {len(rs)} | {statistics.median(eff):.2f} ({min(eff):.2f}-{max(eff):.2f})"
                         f" | {pooled:.3f} |")
    return lines


def pooled_rate(sides: list[dict]) -> float:
    """Tokens/s over all the rounds of one side. Files from before `generated` was kept on the replay side
    give it back as tokens/s x seconds."""
    return sum(s.get("generated", s["tokens_s"] * s["seconds"]) for s in sides) / sum(s["seconds"] for s in sides)


def plot(runs: dict[str, list[dict]], path: Path) -> None:
    fig = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, (label, rows) in enumerate(runs.items()):
        rows = sorted(rows, key=lambda r: r["concurrency"])
        x = [r["concurrency"] for r in rows]
        color = f"C{i}"
        ax.plot(x, [r["collection"]["tokens_s"] for r in rows], "o", color=color, label=f"collection, {label}")
        ax.plot(x, [r["vllm"]["tokens_s"] for r in rows], "x", color=color, label=f"replay (vLLM alone), {label}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent episodes")
    ax.set_ylabel("generated tokens/s")
    ax.set_title("Collection against vLLM alone on the same requests")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="LABEL=FILE.json, from bench_rollout.py --json")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    runs, out = load(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(runs, out / "rollout.png")
    text = ["# Rollout efficiency", "", "Efficiency = collection's generated tokens/s over vLLM's on the same requests "
            "replayed (`bench/bench_rollout.py`). CPU in cores (1.0 = one core busy).", "",
            *medians(runs), "", "Every measurement:", "", *table(runs), "", "![rollout](rollout.png)", ""]
    (out / "report.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
