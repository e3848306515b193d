"""The evaluation commands: eval, report, view. Mounted on `agentgym` through the `agentgym.commands` entry
point; each is a plain function that imports what it needs when it runs."""

from __future__ import annotations

from typing import Annotated

import typer

from agentgym.cli_common import FEEDBACK_HELP, FORMAT_HELP, TOOL_PARSER_HELP


def eval_cmd(
    suite: Annotated[str, typer.Option(help="suite name (eval/suites) or YAML path")],
    out: Annotated[str, typer.Option(help="folder for trajectories, results.json, report.md, plots")],
    model: Annotated[str, typer.Option()] = "smollm2",
    adapter: Annotated[str | None, typer.Option(help="a PEFT adapter served on top of --model")] = None,
    feedback: Annotated[str, typer.Option(help=FEEDBACK_HELP)] = "none",
    llm_url: Annotated[str, typer.Option(help="an OpenAI-compatible server already running")] = "",
    served: Annotated[str, typer.Option(help="the model to ask --llm-url for (e.g. an adapter it serves); "
                                        "default: the one it serves")] = "",
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
    from agentgym.vllm_server import llm_endpoint, tool_call_args
    from eval.report import console_table, write_report
    from eval.run import env_servers, run_suite
    from eval.suites import load_suite

    if served and not llm_url:
        raise typer.BadParameter("--served names a model of the server at --llm-url; give --llm-url too")
    spec, fmt = load_suite(suite), make_format(action_format)
    given: dict[str, list[str]] = {}
    for item in env_url:
        name, _, url = item.partition("=")
        given.setdefault(name, []).append(url)
    with env_servers(spec.envs, given) as urls, contextlib.ExitStack() as stack:
        loras = {"adapter": adapter} if adapter and not llm_url else None
        tools = tool_call_args(model, tool_parser) if action_format == "tool_calls" else None
        url, name = stack.enter_context(llm_endpoint(model, llm_url, loras=loras, extra_args=tools))
        served = served or ("adapter" if adapter else name)

        async def main():
            llm = OpenAIChatLLM(url, model=served)
            try:
                metrics = await run_suite(spec, llm, urls, out, make_strategies(feedback),
                                          Sampling(temperature=0.0, max_tokens=max_tokens), concurrency,
                                          action_format=fmt)
                return metrics, llm.model
            finally:
                await llm.aclose()

        metrics, answered = asyncio.run(main())
    # a server given by URL names its own model: record that name, not the --model default
    label = answered if llm_url else model
    write_report(metrics, out, model=label, adapter=adapter, suite=spec.name, feedback=feedback,
                 extra={"action_format": action_format})
    Console().print(console_table(metrics, f"{spec.name}: {label}{' + ' + adapter if adapter else ''}"))
    typer.echo(f"report: {out}/report.md")


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


def view_cmd(
    paths: Annotated[list[str] | None, typer.Argument(help="run folders or trajectory .jsonl files [runs]")] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8200,
    token: Annotated[str | None, typer.Option(envvar="AGENTGYM_TOKEN", help="token the browser must send")] = None,
    demos: Annotated[str | None, typer.Option(help="JSONL of human demos [runs/demos/human.jsonl]")] = None,
) -> None:
    """A local web app: trajectories turn by turn, run reports, live runs, and play any env by hand."""
    from agentgym.errors import AgentGymError
    from eval.view.server import run_viewer

    try:
        run_viewer(paths or ["runs"], host, port, token, demos)
    except AgentGymError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add the evaluation commands to the `agentgym` app."""
    app.command("eval")(eval_cmd)
    app.command("report")(report_cmd)
    app.command("view")(view_cmd)
