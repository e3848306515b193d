"""The `agentgym` commands that run jobs: collect, filter, export, train, eval, report, pipeline.

They attach to the app of `agentgym.cli` through `register`; each imports what it needs when it runs,
so `agentgym --help` stays fast.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

FEEDBACK_HELP = "none, or a comma list of env-error,refine,teacher,reflect"
FORMAT_HELP = "react, function_calling (JSON in the text) or tool_calls (native; vLLM parses the calls)"
TOOL_PARSER_HELP = "vLLM's --tool-call-parser when --action-format tool_calls starts vLLM"


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    """Add the job commands to the CLI."""
    @app.command("collect")
    def collect_cmd(
        env: Annotated[str, typer.Option(help="registered env name (a server is started unless --env-url is given)")],
        out: Annotated[str, typer.Option(help="JSONL file the trajectories are appended to")],
        split: Annotated[str, typer.Option(help="held_in or held_out")] = "held_in",
        episodes: Annotated[int, typer.Option(help="episodes to play (tasks are cycled)")] = 10,
        model: Annotated[str, typer.Option(help="model vLLM serves when no --llm-url is given")] = "smollm2",
        llm_url: Annotated[str, typer.Option(help="an OpenAI-compatible server already running")] = "",
        env_url: Annotated[list[str], typer.Option(help="env server URL; repeatable")] = [],  # noqa: B006
        feedback: Annotated[str, typer.Option(help=FEEDBACK_HELP)] = "refine",
        expert: Annotated[bool, typer.Option(help="play the env's expert instead of an LLM")] = False,
        concurrency: Annotated[int, typer.Option(help="episodes in flight")] = 8,
        max_steps: Annotated[int, typer.Option(help="step budget per episode (0: the env's)")] = 0,
        temperature: Annotated[float, typer.Option()] = 0.7,
        max_tokens: Annotated[int, typer.Option(help="tokens per reply")] = 128,
        resume: Annotated[bool, typer.Option(help="skip episodes already in --out")] = False,
        action_format: Annotated[str, typer.Option(help=FORMAT_HELP)] = "react",
        tool_parser: Annotated[str, typer.Option(help=TOOL_PARSER_HELP)] = "hermes",
        verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    ) -> None:
        """Collect trajectories: an LLM (or the expert) plays episodes against live env servers."""
        import asyncio
        import contextlib

        from agentgym.action_formats import make_format
        from agentgym.client import AsyncEnvClient
        from agentgym.env_server import EnvServer
        from agentgym.feedback import make_strategies
        from agentgym.llm import OpenAIChatLLM, Sampling
        from agentgym.runner import Runner, RunnerConfig
        from agentgym.vllm_server import VLLMServer, tool_call_args
        from trajectories.collect import collect
        from trajectories.store import TrajectoryStore

        setup_logging(verbose)
        strategies, fmt = make_strategies(feedback), make_format(action_format)
        config = RunnerConfig(sampling=Sampling(temperature=temperature, max_tokens=max_tokens),
                              max_steps=max_steps or None, concurrency=concurrency)
        with contextlib.ExitStack() as stack:
            urls = list(env_url) or [stack.enter_context(EnvServer(env, max_sessions=max(256, 2 * concurrency))).url]
            llm = None
            if not expert:
                # With --llm-url and no --model, the endpoint's first served model is used.
                served = model if llm_url and model != "smollm2" else None
                if not llm_url:
                    typer.echo(f"starting vLLM for {model} (about 2 minutes on 2 CPU cores) ...", err=True)
                    args = tool_call_args(model, tool_parser) if action_format == "tool_calls" else None
                    server = stack.enter_context(VLLMServer(model, extra_args=args))
                    llm_url, served = server.url, server.model_name
                llm = OpenAIChatLLM(llm_url, model=served)

            async def main():
                async with AsyncEnvClient(urls) as client:
                    runner = Runner(llm, client, strategies, config, action_format=fmt)
                    try:
                        return await collect(runner, split, episodes, TrajectoryStore(out), resume=resume)
                    finally:
                        if llm is not None:
                            await llm.aclose()

            stats = asyncio.run(main())
        typer.echo(f"{stats.episodes} episodes ({stats.skipped} already stored), success {stats.success:.1%}, "
                   f"{stats.errors} ended by errors, {stats.tokens_per_s:.0f} completion tokens/s -> {out}")


    @app.command("filter")
    def filter_cmd(
        inputs: Annotated[list[str], typer.Argument(help="trajectory JSONL files")],
        out: Annotated[str, typer.Option(help="JSONL file of the kept trajectories")],
        success_only: Annotated[bool, typer.Option(help="keep won episodes only")] = True,
        min_reward: Annotated[float | None, typer.Option()] = None,
        min_valid_ratio: Annotated[float | None, typer.Option(help="valid actions / actions")] = None,
        max_turns: Annotated[int | None, typer.Option()] = None,
        dedupe: Annotated[bool, typer.Option(help="one per (env, task, action sequence)")] = True,
    ) -> None:
        """Filter trajectories into training data (held-out trajectories are an error)."""
        from trajectories.filters import FilterSpec, apply_filters
        from trajectories.store import TrajectoryStore

        trajs = [t for path in inputs for t in TrajectoryStore(path)]
        kept, dropped = apply_filters(trajs, FilterSpec(success_only, min_reward, min_valid_ratio, max_turns, dedupe))
        store = TrajectoryStore(out)
        for t in kept:
            store.append(t)
        typer.echo(f"kept {len(kept)} of {len(trajs)} -> {out}")
        for reason, n in dropped.items():
            typer.echo(f"  dropped {n}: {reason}")


    @app.command("export")
    def export_cmd(
        inputs: Annotated[list[str], typer.Argument(help="trajectory JSONL files")],
        out: Annotated[str, typer.Option(help="a folder (HF dataset) or a .json file (AgentGym format)")],
    ) -> None:
        """Export trajectories as a Hugging Face dataset (chat messages with train flags) or AgentGym JSON."""
        from trajectories.export import to_dataset, write_agentgym
        from trajectories.filters import guard_split
        from trajectories.store import TrajectoryStore

        trajs = [t for path in inputs for t in TrajectoryStore(path)]
        guard_split(trajs)
        if out.endswith(".json"):
            write_agentgym(trajs, out)
        else:
            to_dataset(trajs).save_to_disk(out)
        typer.echo(f"exported {len(trajs)} trajectories -> {out}")


    @train_app.command("sft")
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


    @train_app.command("grpo")
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


    @train_app.command("evolve")
    def train_evolve_cmd(
        config: Annotated[str | None, typer.Option(help="pipeline YAML config")] = None,
        set_: Annotated[list[str], typer.Option("--set", help="key=value override; repeatable")] = [],  # noqa: B006
    ) -> None:
        """Self-evolution: explore -> filter -> merge -> SFT -> serve -> evaluate, for K iterations."""
        from agentgym.pipeline import load_config, run_evolve

        typer.echo(f"evolution log: {run_evolve(load_config(config, set_)) / 'evolution.json'}")


    @app.command("eval")
    def eval_cmd(
        suite: Annotated[str, typer.Option(help="suite name (eval/suites) or YAML path")],
        out: Annotated[str, typer.Option(help="folder for trajectories, results.json, report.md, plots")],
        model: Annotated[str, typer.Option()] = "smollm2",
        adapter: Annotated[str | None, typer.Option(help="a PEFT adapter served on top of --model")] = None,
        feedback: Annotated[str, typer.Option(help=FEEDBACK_HELP)] = "none",
        llm_url: Annotated[str, typer.Option(help="an OpenAI-compatible server already running")] = "",
        env_url: Annotated[list[str], typer.Option(help="ENV=URL of a running env server; repeatable")] = [],  # noqa: B006
        concurrency: Annotated[int, typer.Option()] = 16,
        max_tokens: Annotated[int, typer.Option()] = 64,
        action_format: Annotated[str, typer.Option(help=FORMAT_HELP)] = "react",
        tool_parser: Annotated[str, typer.Option(help=TOOL_PARSER_HELP)] = "hermes",
    ) -> None:
        """Evaluate a model on a suite of held-in / held-out tasks; writes a report with plots."""
        import asyncio
        import contextlib

        from rich.console import Console

        from agentgym.action_formats import make_format
        from agentgym.feedback import make_strategies
        from agentgym.llm import OpenAIChatLLM, Sampling
        from agentgym.vllm_server import VLLMServer, tool_call_args
        from eval.report import console_table, write_report
        from eval.run import env_servers, run_suite
        from eval.suites import load_suite

        spec, fmt = load_suite(suite), make_format(action_format)
        given: dict[str, list[str]] = {}
        for item in env_url:
            name, _, url = item.partition("=")
            given.setdefault(name, []).append(url)
        with env_servers(spec.envs, given) as urls, contextlib.ExitStack() as stack:
            served, server_started = adapter and "adapter", not llm_url
            if not llm_url:
                args = tool_call_args(model, tool_parser) if action_format == "tool_calls" else None
                server = stack.enter_context(VLLMServer(model, loras={"adapter": adapter} if adapter else None,
                                                        extra_args=args))
                llm_url = server.url
                served = served or server.model_name

            async def main():
                llm = OpenAIChatLLM(llm_url, model=served or None)
                try:
                    metrics = await run_suite(spec, llm, urls, out, make_strategies(feedback),
                                              Sampling(temperature=0.0, max_tokens=max_tokens), concurrency,
                                              action_format=fmt)
                    return metrics, llm.model
                finally:
                    await llm.aclose()

            metrics, answered = asyncio.run(main())
        # a server given by URL names its own model: record that name, not the --model default
        label = model if server_started else answered
        write_report(metrics, out, model=label, adapter=adapter, suite=spec.name, feedback=feedback,
                     extra={"action_format": action_format})
        Console().print(console_table(metrics, f"{spec.name}: {label}{' + ' + adapter if adapter else ''}"))
        typer.echo(f"report: {out}/report.md")


    @app.command("report")
    def report_cmd(
        a: Annotated[str, typer.Argument(help="results.json (or its folder) of run A")],
        b: Annotated[str, typer.Argument(help="results.json (or its folder) of run B")],
        out: Annotated[str, typer.Option(help="folder for comparison.md and comparison.png")] = "runs/comparison",
        labels: Annotated[str, typer.Option(help="A,B")] = "A,B",
    ) -> None:
        """Compare two evaluation runs side by side (with significance tests)."""
        from eval.report import compare

        la, _, lb = labels.partition(",")
        cells = compare(a, b, out, labels=(la, lb or "B"))
        typer.echo(f"{len(cells)} cells compared -> {out}/comparison.md")


    @app.command("pipeline")
    def pipeline_cmd(
        config: Annotated[str | None, typer.Option(help="pipeline YAML config")] = None,
        set_: Annotated[list[str], typer.Option("--set", help="key=value override; repeatable")] = [],  # noqa: B006
    ) -> None:
        """The main job: evaluate the base model, collect, filter, SFT, serve the adapter, evaluate, report."""
        from agentgym.pipeline import load_config, run_pipeline

        report = run_pipeline(load_config(config, set_))
        typer.echo(f"before/after report: {report}/comparison.md (plots beside it; timings in timings.md)")
