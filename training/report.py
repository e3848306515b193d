"""A training run's readable record: the trainer's log as JSON, curves as a PNG, a Markdown summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def write_training_report(out: str | Path, title: str, log_history: list[dict[str, Any]], summary: dict[str, Any],
                          curves: list[str]) -> Path:
    """Write `training_log.json`, `training_curves.png` (one panel per logged key in `curves`) and
    `training_report.md` into `out`; returns the report's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "training_log.json").write_text(json.dumps({"summary": summary, "log": log_history}, indent=1))
    panels = [key for key in curves if any(key in h for h in log_history)]
    lines = [f"# {title}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in summary.items()]
    if panels:
        fig = Figure(figsize=(4.2 * len(panels), 3.2), layout="constrained")
        for i, key in enumerate(panels):
            points = [(h["step"], h[key]) for h in log_history if key in h and "step" in h]
            ax = fig.add_subplot(1, len(panels), i + 1)
            ax.plot([s for s, _ in points], [v for _, v in points], marker="o", markersize=3)
            ax.set_title(key)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        FigureCanvasAgg(fig).print_png(str(out / "training_curves.png"))
        first_last = [(key, [h[key] for h in log_history if key in h]) for key in panels]
        lines += ["", "| logged | first | last | min | max |", "|---|---|---|---|---|"]
        lines += [f"| {k} | {_fmt(v[0])} | {_fmt(v[-1])} | {_fmt(min(v))} | {_fmt(max(v))} |" for k, v in first_last]
        lines += ["", "![training curves](training_curves.png)"]
    (out / "training_report.md").write_text("\n".join(lines) + "\n")
    return out / "training_report.md"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
