"""The AgentRefine ablation at equal training tokens: does refinement data generalise better, and does it
survive rewording?

    demonstrations -> behaviour cloning -> the cloned model explores held-in tasks twice, once with `refine`
    feedback (env errors shown, the recovering turn flagged) and once with the expert as teacher (E2CL: each
    deviation corrected) -> one training set per arm -> LoRA SFT from the base model, every arm the same
    number of training tokens -> greedy evaluation on held-in, held-out and reworded held-out tasks -> report

The stages are the pipeline's (keyed by their inputs, resumable); only the arms and the report are new.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from eval.metrics import GroupMetrics, two_proportion_z
from eval.report import load_results, pct
from training.pipeline import (
    PipelineConfig,
    Services,
    Stages,
    clone_experts,
    evaluate_stage,
    evaluation_inputs,
    explore_inputs,
    explore_stage,
    filter_stage,
    load_config,
    sft_stage,
)
from training.recipes import load_recipe

# arm -> (what it trains on, the exploration it adds to the demonstrations, erroneous turns learned)
ARMS: dict[str, tuple[str, str | None, bool]] = {
    "expert": ("expert demonstrations only", None, False),
    "refine_masked": ("+ refine episodes, erroneous turns masked", "refine", False),
    "refine_learned": ("+ refine episodes, erroneous turns learned", "refine", True),
    "teacher": ("+ teacher-corrected episodes (E2CL), erroneous turns masked", "teacher", False),
}


@dataclass
class AblationConfig(PipelineConfig):
    out: str = "runs/ablation"
    arms: list[str] = field(default_factory=lambda: list(ARMS))
    eval_splits: list[str] = field(default_factory=lambda: ["held_in", "held_out", "held_out_reworded"])
    # Training tokens per arm (whole sequences, context included): each arm's SFT runs as many steps as it
    # takes to see this many, so an arm with fewer or shorter samples repeats them.
    token_budget: int = 60_000
    trained_as: str = "lora"  # every arm trains from the base model: adapters on one vLLM
    retrain_from: str = "base"


def load_ablation_config(path: str | None = None, overrides: list[str] | None = None) -> AblationConfig:
    """The pipeline's `load_config` for the ablation's settings; unknown arms are errors."""
    cfg = load_config(path, overrides, cls=AblationConfig)
    unknown = sorted(set(cfg.arms) - set(ARMS))
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}: known are {sorted(ARMS)}")
    return cfg


def arm_data(arm: str, demos: Path, explored: Path | None, out: Path) -> dict:
    """The arm's training file: won, deduplicated episodes; erroneous turns unmasked when the arm learns them."""
    return filter_stage([demos] + ([explored] if explored else []), out, learn_erroneous=ARMS[arm][2])


def steps_for(data: Path, cfg: AblationConfig) -> dict:
    """SFT steps that make `token_budget` training tokens on this data (mean sample length x batch)."""
    from transformers import AutoTokenizer

    from agentgym.models import resolve_model
    from training.sft import SFTRecipe, load_training_data

    recipe = load_recipe(SFTRecipe, None, **cfg.sft)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(cfg.model))
    lengths = [len(ids) for ids in load_training_data(data, tokenizer, recipe.max_length)["input_ids"]]
    if not lengths:
        raise ValueError(f"{data} has no trainable turn")
    batch = recipe.per_device_train_batch_size * recipe.gradient_accumulation_steps
    mean = sum(lengths) / len(lengths)
    return {"samples": len(lengths), "mean_tokens": mean,
            "steps": max(1, math.ceil(cfg.token_budget / (batch * mean)))}


def run_ablation(cfg: AblationConfig) -> Path:
    """Every arm of `cfg.arms`, trained and evaluated; returns the folder of `report.md`."""
    out = Path(cfg.out)
    stages = Stages(out)
    (out / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg)))
    evaluation = evaluation_inputs(cfg)
    rows = []
    with contextlib.ExitStack() as stack:
        services = Services(cfg, stack)
        demos, bc = clone_experts(cfg, stages, services, out)
        explored: dict[str, dict] = {}
        for feedback in sorted({ARMS[a][1] for a in cfg.arms} - {None}):
            explorer = dataclasses.replace(cfg, feedback=feedback)
            explored[feedback] = stages.run(
                f"explore_{feedback}", explore_inputs(explorer, bc["key"]),
                out / f"explore-{feedback}", explore_stage, explorer, services, "bc",
                bc, out / f"explore-{feedback}")
        for arm in cfg.arms:
            feedback = ARMS[arm][1]
            source = out / f"explore-{feedback}" if feedback else None
            data = stages.run(f"data_{arm}", {"demos": demos["key"], "explored": explored[feedback]["key"]
                                              if feedback else None, "learned": ARMS[arm][2]},
                              out / "data" / f"{arm}.jsonl", arm_data, arm, out / "demonstrations", source,
                              out / "data" / f"{arm}.jsonl")
            plan = steps_for(Path(data["data"]), cfg)
            recipe = cfg.sft | {"max_steps": plan["steps"]}
            model = stages.run(f"sft_{arm}", {"data": data["key"], "recipe": recipe, "model": cfg.model,
                                              "merged": services.merged}, out / arm / "sft",
                               sft_stage, recipe, Path(data["data"]), cfg.model, out / arm / "sft", services.merged)
            stages.run(f"eval_{arm}", {"sft": model["key"], **evaluation}, out / arm / "eval",
                       evaluate_stage, cfg, services, arm, model, out / arm / "eval")
            rows.append({"arm": arm, "data": data, "plan": plan, "train_tokens": model["train_tokens"],
                         "results": str(out / arm / "eval" / "results.json")})
    return write_ablation_report(rows, cfg, out / "report")


def _splits(results: str) -> dict[str, GroupMetrics]:
    """An evaluation's pooled row per split."""
    return {row.split: row for row in load_results(results).metrics.splits}


def write_ablation_report(rows: list[dict], cfg: AblationConfig, report: Path) -> Path:
    """`report.md` (data, tokens and success per arm and split, each arm tested against `expert`),
    `ablation.png` and `ablation.json`."""
    from eval.plots import Series, grouped_bars

    if report.exists():
        shutil.rmtree(report)
    report.mkdir(parents=True)
    splits = {r["arm"]: _splits(r["results"]) for r in rows}
    names = [s for s in cfg.eval_splits if all(s in v for v in splits.values())]
    grouped_bars(report / "ablation.png", names, [Series(r["arm"], [splits[r["arm"]][s] for s in names])
                                                   for r in rows],
                 title=f"AgentRefine ablation at {cfg.token_budget:,} training tokens per arm ({', '.join(cfg.envs)})",
                 ylabel="success rate (%)")
    reference = splits.get("expert")
    lines = [f"# AgentRefine ablation: {', '.join(cfg.envs)}", "",
             f"Every arm: LoRA SFT from `{Path(cfg.model).name}` for about {cfg.token_budget:,} training tokens "
             f"(batch {cfg.sft.get('per_device_train_batch_size', 8)}, lr {cfg.sft.get('learning_rate')}); the "
             f"refine and teacher episodes come from the behaviour-cloned model exploring {cfg.explore_episodes} "
             f"held-in episodes per env at temperature {cfg.explore_temperature}. Greedy evaluation, "
             f"{cfg.eval_tasks} tasks per env and split at most (n below).", "",
             "![success per arm and split](ablation.png)", "",
             "| arm | trains on | episodes | learned turns | erroneous turns (masked / learned) | steps | "
             "train tokens | " + " | ".join(names) + " |",
             "|---|---|---:|---:|---:|---:|---:|" + "---|" * len(names)]
    for r in rows:
        turns = r["data"]["turns"]
        erroneous = turns.get("masked_erroneous", 0), turns.get("learned_erroneous", 0)
        learned = sum(v for k, v in turns.items() if k != "masked_erroneous")
        cells = [f"{splits[r['arm']][s].won}/{splits[r['arm']][s].n}, {pct(splits[r['arm']][s].success)}"
                 for s in names]
        what = ARMS[r["arm"]][0]
        if ARMS[r["arm"]][1] and not turns.get("agent", 0) + turns.get("refinement", 0):
            what += " (no explored episode was won: the demonstrations alone)"
        lines.append(f"| {r['arm']} | {what} | {r['data']['kept']} | {learned} | "
                     f"{erroneous[0]} / {erroneous[1]} | {r['plan']['steps']} | {r['train_tokens']:,} | "
                     + " | ".join(cells) + " |")
    if reference is not None:
        lines += ["", "Each arm against `expert` (two-sided two-proportion z-test):", "",
                  "| arm | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for r in (r for r in rows if r["arm"] != "expert"):
            cells = []
            for s in names:
                a, b = splits[r["arm"]][s], reference[s]
                _, p = two_proportion_z(a.won, a.n, b.won, b.n)
                cells.append(f"{100 * (a.success.value - b.success.value):+.1f} points, p = {p:.2g}")
            lines.append(f"| {r['arm']} | " + " | ".join(cells) + " |")
    if "held_out" in names and "held_out_reworded" in names:
        lines += ["", "What rewording costs each arm (held-out minus reworded held-out: the same tasks, so the "
                  "unpaired z-test's p is conservative):", ""]
        for r in rows:
            a, b = splits[r["arm"]]["held_out"], splits[r["arm"]]["held_out_reworded"]
            _, p = two_proportion_z(a.won, a.n, b.won, b.n)
            lines.append(f"- {r['arm']}: {100 * (a.success.value - b.success.value):+.1f} points (p = {p:.2g})")
    lines += ["", "Per env and split: each arm's `eval/report.md`.", ""]
    (report / "report.md").write_text("\n".join(lines))
    (report / "ablation.json").write_text(json.dumps(
        [{"arm": r["arm"], "train_tokens": r["train_tokens"], "steps": r["plan"]["steps"], "turns": r["data"]["turns"],
          "splits": {s: splits[r["arm"]][s].to_dict() for s in names}} for r in rows], indent=1))
    return report
