"""PNG plots of evaluation metrics (matplotlib's object API on the Agg canvas: no pyplot, no global state)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eval.metrics import ALL, EvalMetrics, GroupMetrics, split_sort_key

COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]


@dataclass
class Series:
    """One bar per category (None where the category has no data)."""

    label: str
    rows: list[GroupMetrics | None]


def _value(row: GroupMetrics, metric: str) -> tuple[float, float, float]:
    iv = getattr(row, metric)
    return iv.value, iv.lo, iv.hi


def grouped_bars(path: str | Path, categories: list[str], series: list[Series], metric: str = "success",
                 title: str = "", ylabel: str = "", note: str = "") -> Path:
    """A grouped bar chart with asymmetric CI error bars, the value and n written above each bar."""
    percent = metric == "success"
    scale = 100.0 if percent else 1.0
    width = 0.8 / max(1, len(series))
    fig = Figure(figsize=(max(6.0, 1.1 * len(categories) * max(1, len(series)) / 2 + 2.5), 4.6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    top = 0.0
    for i, s in enumerate(series):
        xs, ys, err_lo, err_hi, ns = [], [], [], [], []
        for j, row in enumerate(s.rows):
            if row is None:
                continue
            v, lo, hi = _value(row, metric)
            xs.append(j + (i - (len(series) - 1) / 2) * width)
            ys.append(v * scale)
            err_lo.append((v - lo) * scale)
            err_hi.append((hi - v) * scale)
            ns.append(row.n)
            top = max(top, hi * scale)
        color = COLORS[i % len(COLORS)]
        ax.bar(xs, ys, width * 0.92, label=s.label, color=color, alpha=0.9,
               yerr=[err_lo, err_hi], capsize=3, error_kw={"elinewidth": 1, "ecolor": "#333333"})
        for x, y, eh, n in zip(xs, ys, err_hi, ns, strict=True):
            text = f"{y:.0f}%" if percent else f"{y:.2f}"
            ax.annotate(f"{text}\nn={n}", (x, y + eh), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, color="#333333")
    ax.set_xticks(range(len(categories)), categories, fontsize=8)
    if percent:
        ax.set_ylim(0, 115)
        ax.set_yticks(range(0, 101, 20))
    else:
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), (top if math.isfinite(top) and top > 0 else 1.0) * 1.25)
    ax.set_ylabel(ylabel or ("success rate (%)" if percent else f"mean {metric}"))
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    if len(series) > 1 or series[0].label:
        ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(series), frameon=False)
    ci = "95% Wilson interval" if percent else "95% bootstrap interval"
    fig.text(0.99, 0.01, f"error bars: {ci}" + (f"; {note}" if note else ""), ha="right", va="bottom", fontsize=7,
             color="#666666")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def env_names(metrics: EvalMetrics) -> list[str]:
    """Envs in row order, with the pooled `all` column when there is more than one env."""
    envs = list(dict.fromkeys(g.env for g in metrics.groups))
    return envs + [ALL] if len(envs) > 1 else envs


def by_env_and_split(metrics: EvalMetrics, path: str | Path, metric: str = "success", title: str = "") -> Path:
    """One bar per split within each env (and pooled over envs), with CI error bars."""
    envs = env_names(metrics)
    series = [Series(split, [metrics.group(env, split) for env in envs]) for split in metrics.split_names()]
    return grouped_bars(path, envs, series, metric, title=title)


def comparison(a: EvalMetrics, b: EvalMetrics, labels: tuple[str, str], path: str | Path, metric: str = "success",
               title: str = "", marked: set[tuple[str, str]] | None = None, note: str = "") -> Path:
    """Model A vs model B for every (env, split) cell either of them has, and the pooled split rows;
    cells in `marked` (significant differences) get a `*` under their name."""
    cells = comparison_cells(a, b)
    series = [Series(label, [m.group(env, split) for env, split in cells]) for label, m in zip(labels, (a, b),
                                                                                              strict=True)]
    names = [f"{env}\n{split}" + (" *" if (env, split) in (marked or set()) else "") for env, split in cells]
    return grouped_bars(path, names, series, metric, title=title, note=note)


def comparison_cells(a: EvalMetrics, b: EvalMetrics) -> list[tuple[str, str]]:
    """(env, split) of every cell of either run, then the pooled (all, split) rows, in report order."""
    cells = {(g.env, g.split) for m in (a, b) for g in m.groups}
    splits = {g.split for m in (a, b) for g in m.splits}
    ordered = sorted(cells, key=lambda c: (split_sort_key(c[1]), c[0]))
    envs = {env for env, _ in cells}
    if len(envs) > 1:
        ordered += [(ALL, s) for s in sorted(splits, key=split_sort_key)]
    return ordered


def evolution_plot(history: list[dict], path: str | Path, title: str = "Success per model and split") -> Path:
    """Success with 95% Wilson intervals per split (a line each) over a sequence of models: base, cloned,
    each round of training. `history` rows are `{"model": name, split: {"value", "lo", "hi"}, ...}`."""
    fig = Figure(figsize=(max(5.0, 1.3 * len(history) + 2), 4.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    splits = sorted((s for s in history[0] if s not in ("model", "by_env")), key=split_sort_key)
    for i, split in enumerate(splits):
        v = [100 * h[split]["value"] for h in history]
        err = [[v[j] - 100 * h[split]["lo"] for j, h in enumerate(history)],
               [100 * h[split]["hi"] - v[j] for j, h in enumerate(history)]]
        ax.errorbar(range(len(history)), v, yerr=err, marker="o", capsize=4, label=split, color=COLORS[i % len(COLORS)])
    ax.set_xticks(range(len(history)), [h["model"] for h in history], fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("success rate (%)")
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path
