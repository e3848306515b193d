"""The training commands: train sft|grpo|evolve and the main job (pipeline). Mounted on `agentgym` through
the `agentgym.commands` entry point; each is a plain function that imports what it needs when it runs."""

from __future__ import annotations

from typing import Annotated

import typer


def train_sft_cmd(
    data: Annotated[str, typer.Option(help="trajectory JSONL (filtered) or AgentGym .json")],
    out: Annotated[str, typer.Option(help="output folder (adapter/, merged/)")],
    model: Annotated[str, typer.Option()] = "smollm2",
    recipe: Annotated[str | None, typer.Option(help="YAML recipe (path or name in training/recipes)")] = None,
    max_steps: Annotated[int | None, typer.Option(help="overrides the recipe")] = None,
) -> None:
    """Supervised fine-tuning with LoRA on trajectories; erroneous turns are masked out of the loss."""
    from training.recipes import load_recipe
    from training.sft import SFTRecipe, train_sft

    result = train_sft(data, model, out, load_recipe(SFTRecipe, recipe, max_steps=max_steps))
    speed = result.train_tokens / max(result.runtime_s, 1e-9)
    typer.echo(f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}; {speed:.0f} tokens/s; "
               f"adapter: {result.adapter_dir}; merged: {result.merged_dir}; report: {out}/training_report.md")


def train_grpo_cmd(
    env: Annotated[str, typer.Option(help="registered env (a server is started unless --env-url is given)")],
    out: Annotated[str, typer.Option()],
    model: Annotated[str, typer.Option()] = "smollm2",
    env_url: Annotated[list[str], typer.Option(help="env server URL; repeatable")] = [],  # noqa: B006
    recipe: Annotated[str | None, typer.Option(help="YAML recipe (path or name in training/recipes)")] = None,
    max_steps: Annotated[int | None, typer.Option(help="overrides the recipe")] = None,
) -> None:
    """Multi-turn GRPO against a live environment (rewards from the env, env tokens masked)."""
    import contextlib

    from agentgym.env_server import EnvServer
    from training.grpo import GRPORecipe, train_grpo
    from training.recipes import load_recipe

    with contextlib.ExitStack() as stack:
        urls = list(env_url) or [stack.enter_context(EnvServer(env)).url]
        result = train_grpo(urls, model, out, load_recipe(GRPORecipe, recipe, max_steps=max_steps))
    typer.echo(f"{result['steps']} steps in {result['total_s']:.0f} s (rollout {result['rollout_s']:.0f} s with "
               f"{result['generator']}, update {result['update_s']:.0f} s); adapter: {result['adapter_dir']}; "
               f"report: {out}/training_report.md")


def train_evolve_cmd(
    config: Annotated[str | None, typer.Option(help="pipeline YAML config")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="key=value override; repeatable")] = [],  # noqa: B006
    iterations: Annotated[int, typer.Option(help="rounds of explore -> filter -> SFT after behaviour cloning")] = 3,
) -> None:
    """Self-evolution: behaviour cloning, then explore -> filter -> SFT -> evaluate, K times (the pipeline's loop)."""
    from training.pipeline import load_config, run_pipeline

    cfg = load_config(config, [f"iterations={iterations}", *set_])
    typer.echo(f"success per iteration: {run_pipeline(cfg) / 'evolution.json'} (plot: evolution.png)")


def train_ablation_cmd(
    config: Annotated[str | None, typer.Option(help="YAML config: the pipeline keys, arms, token_budget")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="key=value override; repeatable")] = [],  # noqa: B006
) -> None:
    """The AgentRefine ablation: expert only / + refine (masked, learned) / + teacher, at equal training tokens."""
    from training.ablation import load_ablation_config, run_ablation

    typer.echo(f"report: {run_ablation(load_ablation_config(config, set_)) / 'report.md'}")


def pipeline_cmd(
    config: Annotated[str | None, typer.Option(help="pipeline YAML config")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="key=value override; repeatable")] = [],  # noqa: B006
) -> None:
    """The main job: evaluate the base model, clone the experts, explore with feedback, SFT, evaluate, report."""
    from training.pipeline import load_config, run_pipeline

    report = run_pipeline(load_config(config, set_))
    typer.echo(f"before/after report: {report}/comparison.md (plots beside it; timings in timings.md)")


def register(app: typer.Typer) -> None:
    """Add `train sft|grpo|evolve|ablation` and `pipeline` to the `agentgym` app."""
    train = typer.Typer(help="Train with TRL + PEFT: SFT, GRPO, self-evolution.", no_args_is_help=True)
    train.command("sft")(train_sft_cmd)
    train.command("grpo")(train_grpo_cmd)
    train.command("evolve")(train_evolve_cmd)
    train.command("ablation")(train_ablation_cmd)
    app.add_typer(train, name="train")
    app.command("pipeline")(pipeline_cmd)
