"""Evaluation reports: `results.json` (numbers + metadata), `report.md` (tables and a reading), PNG plots,
and a comparison of two runs with a significance verdict per (env, split)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from agentgym.trajectory import AGENT_FAILURES
from eval import plots
from eval.metrics import ALL, EvalMetrics, GroupMetrics, Interval, two_proportion_z

SCHEMA = 1
ALPHA = 0.05
TEST_NAME = "two-sided pooled two-proportion z-test at alpha = 0.05"


@dataclass
class Results:
    """A run's metrics and what produced them (model, adapter, suite, feedback, date, timings)."""

    metrics: EvalMetrics
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.meta.get("adapter") or self.meta.get("model") or "run")

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "meta": self.meta, "metrics": self.metrics.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Results:
        return cls(metrics=EvalMetrics.from_dict(d["metrics"]), meta=dict(d.get("meta", {})))


def load_results(path: str | Path) -> Results:
    """Read `results.json` (or the folder that holds it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    return Results.from_dict(json.loads(path.read_text()))


def _dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")


# -- formatting ------------------------------------------------------------------------------
def pct(iv: Interval) -> str:
    return f"{100 * iv.value:.1f}% [{100 * iv.lo:.1f}, {100 * iv.hi:.1f}]"


def num(iv: Interval) -> str:
    return f"{iv.value:.2f} [{iv.lo:.2f}, {iv.hi:.2f}]"


HEADER = ("| env | n | success [95% CI] | reward [95% CI] | score [95% CI] | steps | invalid actions "
          "| tokens/episode | agent failures | infra failures |\n|---|---:|---|---|---|---:|---:|---:|---|---:|")


def agent_failures(g: GroupMetrics) -> str:
    """`12 (gave_up 9, out_of_steps 3)`: the agent's failures by how they ended."""
    kinds = ", ".join(f"{k} {v}" for k, v in g.endings.items() if k in AGENT_FAILURES and v)
    return f"{g.agent_failures}" + (f" ({kinds})" if kinds else "")


def table_row(g: GroupMetrics) -> str:
    env = f"**{g.env}**" if g.env == ALL else g.env
    return (f"| {env} | {g.n} | {pct(g.success)} | {num(g.reward)} | {num(g.score)} | {g.mean_steps:.1f} "
            f"| {100 * g.invalid_rate:.1f}% | {g.mean_completion_tokens:.0f} | {agent_failures(g)} | {g.errors} |")


def _pp(a: float, b: float) -> str:
    return f"{100 * (a - b):+.1f} points"


def gap(a: GroupMetrics, b: GroupMetrics) -> tuple[float, float, bool]:
    """(difference in success a - b, p-value, significant) under the z-test."""
    _, p = two_proportion_z(a.won, a.n, b.won, b.n)
    return a.success.value - b.success.value, p, p < ALPHA


def summary(metrics: EvalMetrics) -> str:
    """A short reading of the numbers: overall success, held-in vs held-out gap, envs, errors, precision."""
    o = metrics.overall
    episodes = f"{o.n} episode{'s' if o.n != 1 else ''}"
    out = [f"Over {episodes} ({metrics.attempt} attempt of each) the agent succeeded in {pct(o.success)}, "
           f"with a mean score of {num(o.score)}."]
    hi, ho = metrics.group(ALL, "held_in"), metrics.group(ALL, "held_out")
    if hi and ho:
        d, p, sig = gap(hi, ho)
        verdict = ("a significant drop on unseen tasks, so part of the held-in success does not generalise"
                   if sig and d > 0 else "held-out tasks went significantly *better* than held-in ones"
                   if sig else "no significant difference at this sample size")
        out.append(f"Held-in success is {100 * hi.success.value:.1f}% (n={hi.n}) and held-out "
                   f"{100 * ho.success.value:.1f}% (n={ho.n}), a gap of {_pp(hi.success.value, ho.success.value)} "
                   f"(z-test p = {p:.3g}): {verdict}.")
    for split in metrics.split_names():
        rows = [g for g in metrics.groups if g.split == split]
        if len(rows) > 1:
            best = max(rows, key=lambda g: g.success.value)
            worst = min(rows, key=lambda g: g.success.value)
            out.append(f"On {split}, {best.env} is the easiest env ({100 * best.success.value:.1f}%) and "
                       f"{worst.env} the hardest ({100 * worst.success.value:.1f}%).")
    if o.actions:
        out.append(f"{100 * o.invalid_rate:.1f}% of the agent's {o.actions} actions were invalid or unparsable.")
    if o.agent_failures:
        out.append(f"The agent failed {o.agent_failures} episode(s) itself ({agent_failures(o).partition(' ')[2]}"
                   "; gave_up = too many unparsable or invalid replies in a row).")
    if o.errors:
        out.append(f"{o.errors} episode(s) ended by an infrastructure failure (environment or LLM), not by the "
                   "agent; they count as failures, so check the run's logs before reading the success rates.")
    widest = max(metrics.groups, key=lambda g: g.success.hi - g.success.lo)
    if widest.success.hi - widest.success.lo > 0.3:
        out.append(f"Intervals are wide (up to {100 * (widest.success.hi - widest.success.lo):.0f} points for "
                   f"{widest.env}/{widest.split}): run more episodes per cell for firmer conclusions.")
    return " ".join(out)


def _meta_lines(meta: dict[str, Any]) -> list[str]:
    keys = ["model", "adapter", "suite", "feedback", "attempt", "date", "trajectories"]
    lines = []
    for k in keys + sorted(set(meta) - set(keys) - {"timings"}):
        v = meta.get(k)
        if v not in (None, "", []):
            lines.append(f"- **{k}**: {', '.join(map(str, v)) if isinstance(v, list) else v}")
    return lines


def _gap_table(metrics: EvalMetrics) -> list[str]:
    envs = [e for e in plots.env_names(metrics) if metrics.group(e, "held_in") and metrics.group(e, "held_out")]
    if not envs:
        return []
    lines = ["## Generalisation gap (held-in minus held-out success)", "",
             "| env | held_in | held_out | gap | p (z-test) | significant |", "|---|---|---|---:|---:|---|"]
    for env in envs:
        a, b = metrics.group(env, "held_in"), metrics.group(env, "held_out")
        d, p, sig = gap(a, b)
        name = f"**{env}**" if env == ALL else env
        lines.append(f"| {name} | {pct(a.success)} | {pct(b.success)} | {100 * d:+.1f} | {p:.3g} | "
                     f"{'yes' if sig else 'no'} |")
    return lines + [""]


def markdown(results: Results, images: dict[str, str]) -> str:
    """The text of `report.md`."""
    m, meta = results.metrics, results.meta
    title = f"Evaluation report: {meta['suite']}" if meta.get("suite") else "Evaluation report"
    lines = [f"# {title}", "", *_meta_lines(meta), "", "## What this shows", "", summary(m), ""]
    for split in m.split_names():
        lines += [f"## {split}", "", HEADER]
        lines += [table_row(g) for g in m.groups if g.split == split]
        if sum(g.split == split for g in m.groups) > 1:
            lines.append(table_row(m.group(ALL, split)))
        lines.append("")
    lines += ["## Overall", "", HEADER, table_row(m.overall), ""]
    lines += _gap_table(m)
    timings = meta.get("timings") or {}
    if timings:
        lines += ["## Wall time by stage", "", "| stage | seconds |", "|---|---:|"]
        lines += [f"| {k} | {float(v):.1f} |" for k, v in timings.items()]
        lines += [f"| **total** | {sum(float(v) for v in timings.values()):.1f} |", ""]
    if images:
        lines += ["## Plots", ""] + [f"![{name}]({file})" for name, file in images.items()] + [""]
    lines += ["## Method", "",
              f"One trajectory per episode (the {m.attempt} attempt). Success: share of episodes won, with a 95% "
              "Wilson score interval. Reward and score: mean per episode, with a 95% percentile bootstrap "
              f"interval ({m.resamples} resamples, seed {m.seed}). Invalid actions: invalid or unparsable actions "
              "over all assistant actions. Agent failures: episodes the agent lost (gave_up: more unparsable or "
              "invalid replies in a row than allowed; out_of_steps: the step budget ran out; lost: the env ended "
              "the episode). Infra failures: episodes ended by an environment or LLM failure, not by the agent "
              f"(counted as not won). Gaps are tested with a {TEST_NAME}.", ""]
    return "\n".join(lines)


def write_report(metrics: EvalMetrics, out_dir: str | Path, *, model: str | None = None, adapter: str | None = None,
                 suite: str | None = None, feedback: list[str] | str | None = None, date: str | None = None,
                 timings: dict[str, float] | None = None, extra: dict[str, Any] | None = None,
                 plot: bool = True) -> Results:
    """Write `results.json`, `report.md`, `success.png` and `score.png` into `out_dir`; return the results."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if feedback is None:
        feedback = metrics.feedback
    meta: dict[str, Any] = {
        "model": model or ", ".join(metrics.models), "adapter": adapter, "suite": suite,
        "feedback": [feedback] if isinstance(feedback, str) else list(feedback),
        "attempt": metrics.attempt, "trajectories": metrics.trajectories,
        "date": date or datetime.now(UTC).isoformat(timespec="seconds"),
        "timings": {k: float(v) for k, v in (timings or {}).items()}, **(extra or {}),
    }
    results = Results(metrics, meta)
    _dump(out / "results.json", results.to_dict())
    images = {}
    if plot:
        name = suite or meta["model"]
        plots.by_env_and_split(metrics, out / "success.png", "success", title=f"Success rate: {name}")
        plots.by_env_and_split(metrics, out / "score.png", "score", title=f"Mean score: {name}")
        images = {"success rate by env and split": "success.png", "mean score by env and split": "score.png"}
    (out / "report.md").write_text(markdown(results, images))
    return results


def console_table(metrics: EvalMetrics, title: str = "evaluation") -> Table:
    """A `rich` table of every row (per env and split, pooled splits, overall), for the CLI to print."""
    table = Table(title=title)
    numeric = ("n", "steps", "invalid", "agent fail", "infra fail")
    for name in ("env", "split", "success [95% CI]", "score [95% CI]", *numeric):
        table.add_column(name, justify="right" if name in numeric else "left")
    for g in metrics.groups + (metrics.splits if len(metrics.groups) > 1 else []) + [metrics.overall]:
        table.add_row(g.env, g.split, pct(g.success), num(g.score), str(g.n), f"{g.mean_steps:.1f}",
                      f"{100 * g.invalid_rate:.1f}%", str(g.agent_failures), str(g.errors))
    return table


# -- comparison --------------------------------------------------------------------------------
@dataclass
class CellComparison:
    """Run A vs run B on one (env, split) cell; `diff` is B - A success."""

    env: str
    split: str
    a: GroupMetrics | None
    b: GroupMetrics | None
    diff: float | None = None
    z: float | None = None
    p: float | None = None
    significant: bool = False  # by the z-test
    overlap: bool | None = None  # do the Wilson intervals overlap (shown for reference)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("env", "split", "diff", "z", "p", "significant", "overlap")}
        return d | {"a": self.a.to_dict() if self.a else None, "b": self.b.to_dict() if self.b else None}


def compare_cell(env: str, split: str, a: GroupMetrics | None, b: GroupMetrics | None) -> CellComparison:
    if a is None or b is None:
        return CellComparison(env, split, a, b)
    z, p = two_proportion_z(b.won, b.n, a.won, a.n)
    overlap = a.success.lo <= b.success.hi and b.success.lo <= a.success.hi
    return CellComparison(env, split, a, b, b.success.value - a.success.value, z, p, p < ALPHA, overlap)


def _as_results(r: Results | str | Path) -> Results:
    return r if isinstance(r, Results) else load_results(r)


def compare(results_a: Results | str | Path, results_b: Results | str | Path, out_dir: str | Path,
            labels: tuple[str, str] | None = None) -> list[CellComparison]:
    """Write `comparison.md`, `comparison.json` and `comparison.png` (A vs B per env/split, with CIs)."""
    ra, rb = _as_results(results_a), _as_results(results_b)
    la, lb = labels or (ra.label, rb.label)
    if la == lb:
        la, lb = f"A: {la}", f"B: {lb}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cells = [compare_cell(env, split, ra.metrics.group(env, split), rb.metrics.group(env, split))
             for env, split in plots.comparison_cells(ra.metrics, rb.metrics)]
    plots.comparison(ra.metrics, rb.metrics, (la, lb), out / "comparison.png", title=f"Success rate: {la} vs {lb}",
                     marked={(c.env, c.split) for c in cells if c.significant}, note="* significant (z-test, p < 0.05)")
    _dump(out / "comparison.json", {"labels": [la, lb], "test": TEST_NAME, "meta": [ra.meta, rb.meta],
                                    "cells": [c.to_dict() for c in cells]})
    (out / "comparison.md").write_text(comparison_markdown(cells, ra, rb, (la, lb)))
    return cells


def comparison_markdown(cells: list[CellComparison], ra: Results, rb: Results, labels: tuple[str, str]) -> str:
    """The text of `comparison.md`."""
    la, lb = labels
    lines = [f"# Comparison: {la} vs {lb}", ""]
    for label, r in ((la, ra), (lb, rb)):
        lines += [f"### {label}", "", *_meta_lines(r.meta), ""]
    lines += ["## Success rate per env and split", "",
              f"Significance: {TEST_NAME} on the success counts (B - A). Whether the 95% Wilson intervals "
              "overlap is shown for reference; non-overlap is a stricter criterion than the test.", "",
              f"| env | split | {la} | {lb} | difference (B - A) | p | significant | CIs overlap |",
              "|---|---|---|---|---:|---:|---|---|"]
    for c in cells:
        env = f"**{c.env}**" if c.env == ALL else c.env
        a = pct(c.a.success) if c.a else "—"
        b = pct(c.b.success) if c.b else "—"
        if c.diff is None:
            lines.append(f"| {env} | {c.split} | {a} | {b} | — | — | — | — |")
            continue
        lines.append(f"| {env} | {c.split} | {a} | {b} | {100 * c.diff:+.1f} points | {c.p:.3g} | "
                     f"{'**yes**' if c.significant else 'no'} | {'yes' if c.overlap else 'no'} |")
    cmp = [c for c in cells if c.diff is not None and c.env != ALL]
    better = [f"{c.env}/{c.split}" for c in cmp if c.significant and c.diff > 0]
    worse = [f"{c.env}/{c.split}" for c in cmp if c.significant and c.diff < 0]
    lines += ["", "## What this shows", "",
              f"Of {len(cmp)} cells compared, {lb} is significantly better than {la} on {len(better)}"
              + (f" ({', '.join(better)})" if better else "")
              + f", significantly worse on {len(worse)}" + (f" ({', '.join(worse)})" if worse else "")
              + f", and not distinguishable on {len(cmp) - len(better) - len(worse)}.", ""]
    o = compare_cell(ALL, ALL, ra.metrics.overall, rb.metrics.overall)
    lines += [f"Overall: {pct(o.a.success)} vs {pct(o.b.success)} ({100 * o.diff:+.1f} points, p = {o.p:.3g}, "
              f"{'significant' if o.significant else 'not significant'}); mean score {num(o.a.score)} vs "
              f"{num(o.b.score)}.", "", "![comparison](comparison.png)", ""]
    return "\n".join(lines)
