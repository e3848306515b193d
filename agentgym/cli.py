"""The `agentgym` command line: a thin layer over the classes a Python user imports."""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Annotated

import typer

app = typer.Typer(help="AgentGym: environments as HTTP servers, vLLM-served agents, TRL training, evaluation.",
                  no_args_is_help=True, add_completion=False)
model_app = typer.Typer(help="Prepare models (the embedded default, local folders).", no_args_is_help=True)
llm_app = typer.Typer(help="Serve and query LLMs with vLLM.", no_args_is_help=True)
app.add_typer(model_app, name="model")
app.add_typer(llm_app, name="llm")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _parse_loras(loras: list[str]) -> dict[str, str]:
    out = {}
    for item in loras:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"--lora expects NAME=DIR, got '{item}'")
        if not os.path.isfile(os.path.join(path, "adapter_config.json")):
            raise typer.BadParameter(f"--lora {name}: {path} is not a PEFT adapter folder (no adapter_config.json)")
        out[name] = os.path.abspath(path)
    return out


def _wait_forever() -> None:
    """Block until Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


@model_app.command("prepare")
def model_prepare(
    name: Annotated[str, typer.Argument(help="embedded model alias")] = "smollm2",
    force: Annotated[bool, typer.Option(help="convert again even if cached")] = False,
) -> None:
    """Convert an embedded GGUF model into a Hugging Face folder in the cache (once)."""
    from agentgym.models import prepare_model

    typer.echo(prepare_model(name, force=force))


@llm_app.command("serve")
def llm_serve(
    model: Annotated[str, typer.Option(help="embedded alias, local HF folder or hub id")] = "smollm2",
    port: Annotated[int, typer.Option(help="port (default: a free one)")] = 0,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    lora: Annotated[list[str], typer.Option(help="NAME=DIR of a PEFT adapter; repeatable")] = [],  # noqa: B006
    max_model_len: Annotated[int, typer.Option()] = 4096,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Start a vLLM OpenAI-compatible server, print its URL, stop it on Ctrl-C."""
    from agentgym.vllm_server import VLLMServer

    _setup_logging(verbose)
    server = VLLMServer(model, port=port or None, host=host, loras=_parse_loras(lora), max_model_len=max_model_len)
    typer.echo(f"starting vLLM for {server.model_path} (log: {server.log_path}) ...")
    with server:
        typer.echo(f"vLLM serving '{server.model_name}' at {server.url}/v1  (Ctrl-C to stop)")
        for name in server.loras:
            typer.echo(f"  adapter '{name}' served as model '{name}'")
        _wait_forever()
    typer.echo("vLLM stopped")


@llm_app.command("ask")
def llm_ask(
    prompt: Annotated[str, typer.Argument(help="the user message")],
    model: Annotated[str, typer.Option(help="model to serve when no --url is given")] = "smollm2",
    url: Annotated[str, typer.Option(help="an OpenAI-compatible server already running")] = "",
    max_tokens: Annotated[int, typer.Option()] = 64,
) -> None:
    """Ask a model one question (starting a vLLM server for it unless --url is given)."""
    import httpx

    from agentgym.vllm_server import VLLMServer

    def ask(base: str, name: str) -> None:
        body = {"model": name, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
        t0 = time.monotonic()
        reply = httpx.post(base + "/v1/chat/completions", json=body, timeout=300).raise_for_status().json()
        usage = reply["usage"]
        typer.echo(reply["choices"][0]["message"]["content"])
        typer.echo(f"[{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens "
                   f"in {time.monotonic() - t0:.1f} s]")

    if url:
        name = httpx.get(url.rstrip("/") + "/v1/models", timeout=30).json()["data"][0]["id"]
        return ask(url.rstrip("/"), name)
    server = VLLMServer(model)
    typer.echo(f"starting vLLM for {server.model_path} (about 2 minutes on 2 CPU cores) ...")
    t0 = time.monotonic()
    with server:
        typer.echo(f"vLLM ready in {time.monotonic() - t0:.0f} s at {server.url}")
        ask(server.url, server.model_name)


@app.command("envs")
def envs() -> None:
    """List the registered environments."""
    from agentgym.registry import available, load

    for name in available():
        cls = load(name)
        typer.echo(f"{name:12s} {(cls.__doc__ or '').strip().splitlines()[0] if cls.__doc__ else ''}")


@app.command("serve")
def serve(
    env: Annotated[str, typer.Argument(help="registered env name, or package.module:Class")],
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8100,
    workers: Annotated[int, typer.Option(help="server processes on consecutive ports")] = 1,
    max_sessions: Annotated[int, typer.Option(help="sessions per process")] = 256,
    ttl: Annotated[float, typer.Option(help="seconds an idle session lives")] = 600.0,
    token: Annotated[str | None, typer.Option(envvar="AGENTGYM_TOKEN", help="bearer token clients must send")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve an environment over HTTP (the uniform step protocol)."""
    from agentgym.env_server import EnvServer, check_exposure, run_foreground
    from agentgym.errors import AgentGymError

    _setup_logging(verbose)
    try:
        check_exposure(host, token)
    except AgentGymError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if workers <= 1:
        typer.echo(f"serving {env} at http://{host}:{port}", err=True)
        run_foreground(env, host, port, max_sessions, ttl, token, "info" if verbose else "warning")
        return
    # Sessions are state in one process, so workers are separate servers; clients spread over them.
    servers = [EnvServer(env, port=port + i, host=host, max_sessions=max_sessions, ttl=ttl, token=token)
               for i in range(workers)]
    try:
        for s in servers:
            s.start()
        typer.echo("serving " + env + " at " + " ".join(s.url for s in servers))
        _wait_forever()
    finally:
        for s in servers:
            s.stop()


@app.command("collect")
def collect_cmd(
    env: Annotated[str, typer.Option(help="registered env name (a server is started unless --env-url is given)")],
    out: Annotated[str, typer.Option(help="JSONL file the trajectories are appended to")],
    split: Annotated[str, typer.Option(help="held_in or held_out")] = "held_in",
    episodes: Annotated[int, typer.Option(help="episodes to play (tasks are cycled)")] = 10,
    model: Annotated[str, typer.Option(help="model vLLM serves when no --llm-url is given")] = "smollm2",
    llm_url: Annotated[str, typer.Option(help="an OpenAI-compatible server already running")] = "",
    env_url: Annotated[list[str], typer.Option(help="env server URL; repeatable")] = [],  # noqa: B006
    feedback: Annotated[str, typer.Option(help="none, or a comma list of env-error,refine,teacher,reflect")] = "refine",
    expert: Annotated[bool, typer.Option(help="play the env's expert instead of an LLM")] = False,
    concurrency: Annotated[int, typer.Option(help="episodes in flight")] = 8,
    max_steps: Annotated[int, typer.Option(help="step budget per episode (0: the env's)")] = 0,
    temperature: Annotated[float, typer.Option()] = 0.7,
    max_tokens: Annotated[int, typer.Option(help="tokens per reply")] = 128,
    resume: Annotated[bool, typer.Option(help="skip episodes already in --out")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Collect trajectories: an LLM (or the expert) plays episodes against live env servers."""
    import asyncio
    import contextlib

    from agentgym.client import AsyncEnvClient
    from agentgym.env_server import EnvServer
    from agentgym.feedback import make_strategies
    from agentgym.llm import OpenAIChatLLM, Sampling
    from agentgym.runner import Runner, RunnerConfig
    from agentgym.vllm_server import VLLMServer
    from trajectories.collect import collect
    from trajectories.store import TrajectoryStore

    _setup_logging(verbose)
    strategies = make_strategies(feedback)
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
                server = stack.enter_context(VLLMServer(model))
                llm_url, served = server.url, server.model_name
            llm = OpenAIChatLLM(llm_url, model=served)

        async def main():
            async with AsyncEnvClient(urls) as client:
                runner = Runner(llm, client, strategies, config)
                try:
                    return await collect(runner, split, episodes, TrajectoryStore(out), resume=resume)
                finally:
                    if llm is not None:
                        await llm.aclose()

        stats = asyncio.run(main())
    typer.echo(f"{stats.episodes} episodes ({stats.skipped} already stored), success {stats.success:.1%}, "
               f"{stats.errors} ended by errors, {stats.tokens_per_s:.0f} completion tokens/s -> {out}")


@app.command("openapi")
def openapi() -> None:
    """Print the OpenAPI schema of the environment protocol (kept in docs/openapi.json)."""
    import json

    from agentgym.protocol import openapi_schema

    typer.echo(json.dumps(openapi_schema(), indent=1))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
