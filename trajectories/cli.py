"""The trajectory commands: collect, filter, export. Mounted on `agentgym` through the
`agentgym.commands` entry point; each is a plain function that imports what it needs when it runs."""

from __future__ import annotations

from typing import Annotated

import typer

from agentgym.cli_common import FEEDBACK_HELP, FORMAT_HELP, TOOL_PARSER_HELP, setup_logging


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
    from agentgym.vllm_server import llm_endpoint, tool_call_args
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
            # With --llm-url the server's (first) model is asked, whatever --model says.
            tools = tool_call_args(model, tool_parser) if action_format == "tool_calls" else None
            url, served = stack.enter_context(llm_endpoint(model, llm_url, announce=lambda m: typer.echo(m, err=True),
                                                           extra_args=tools))
            llm = OpenAIChatLLM(url, model=served)

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
               f"{stats.errors} ended by env or LLM failures, {stats.tokens_per_s:.0f} completion tokens/s -> {out}")
    if stats.aborted:
        typer.echo(f"{stats.aborted} episodes failed on the machinery (servers unreachable, overloaded or too "
                   f"slow): kept in {out}.failed; run again with --resume to play them", err=True)


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


def register(app: typer.Typer) -> None:
    """Add the trajectory commands to the `agentgym` app."""
    app.command("collect")(collect_cmd)
    app.command("filter")(filter_cmd)
    app.command("export")(export_cmd)
