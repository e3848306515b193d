"""The `agentgym` command line: a thin layer over the classes a Python user imports."""

from __future__ import annotations

import os
import signal
import time
from importlib.metadata import entry_points
from typing import Annotated

import typer

from agentgym.cli_common import setup_logging

app = typer.Typer(help="AgentGym: environments as HTTP servers, vLLM-served agents, TRL training, evaluation.",
                  no_args_is_help=True, add_completion=False)
model_app = typer.Typer(help="Prepare models (the embedded default, local folders).", no_args_is_help=True)
llm_app = typer.Typer(help="Serve and query LLMs with vLLM.", no_args_is_help=True)
app.add_typer(model_app, name="model")
app.add_typer(llm_app, name="llm")


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
    api_key: Annotated[str | None, typer.Option(envvar="VLLM_API_KEY",
                                                help="key clients must send (needed beyond loopback)")] = None,
    vllm_arg: Annotated[list[str], typer.Option(
        help="an extra vLLM argument, e.g. --vllm-arg=--gpu-memory-utilization=0.2; repeatable")] = [],  # noqa: B006
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Start a vLLM OpenAI-compatible server, print its URL, stop it on Ctrl-C."""
    from agentgym.env_server import check_exposure
    from agentgym.errors import AgentGymError
    from agentgym.vllm_server import VLLMServer

    setup_logging(verbose)
    try:
        check_exposure(host, api_key, how="--api-key (or set VLLM_API_KEY)")
    except AgentGymError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if api_key:
        os.environ["VLLM_API_KEY"] = api_key  # vLLM reads it there; off its command line, which `ps` shows
    server = VLLMServer(model, port=port or None, host=host, loras=_parse_loras(lora), max_model_len=max_model_len,
                        extra_args=vllm_arg)
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
    call_timeout: Annotated[float, typer.Option(help="seconds an env call may take; 0: no limit")] = 300.0,
    env_option: Annotated[list[str], typer.Option(help="KEY=VALUE passed to the env class; repeatable")] = [],  # noqa: B006
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve an environment over HTTP (the uniform step protocol)."""
    from agentgym.env_server import EnvServer, check_exposure, parse_env_options, run_foreground
    from agentgym.errors import AgentGymError

    setup_logging(verbose)
    try:
        check_exposure(host, token)
        options = parse_env_options(env_option)
    except AgentGymError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if workers <= 1:
        typer.echo(f"serving {env} at http://{host}:{port}", err=True)
        run_foreground(env, host, port, max_sessions, ttl, token, "info" if verbose else "warning",
                       env_kwargs=options, call_timeout=call_timeout)
        return
    # Sessions are state in one process, so workers are separate servers; clients spread over them.
    servers = [EnvServer(env, port=port + i, host=host, max_sessions=max_sessions, ttl=ttl, token=token,
                         call_timeout=call_timeout, env_options=options) for i in range(workers)]
    try:
        for s in servers:
            s.start()
        typer.echo("serving " + env + " at " + " ".join(s.url for s in servers))
        _wait_forever()
    finally:
        for s in servers:
            s.stop()


@app.command("openapi")
def openapi() -> None:
    """Print the OpenAPI schema of the environment protocol (kept in docs/openapi.json)."""
    import json

    from agentgym.protocol import openapi_schema

    typer.echo(json.dumps(openapi_schema(), indent=1))


def mount_commands(target: typer.Typer) -> list[str]:
    """Add the commands of the packages built on the core (trajectories, eval, training, ...): each
    declares a `register(app)` function under the `agentgym.commands` entry point, so the core names none."""
    mounted = []
    for ep in sorted(entry_points(group="agentgym.commands"), key=lambda e: e.name):
        ep.load()(target)
        mounted.append(ep.name)
    return mounted


mount_commands(app)


def main() -> None:
    from agentgym.netutil import raise_open_file_limit

    raise_open_file_limit()  # collect and eval may hold two sockets per episode in flight
    app()


if __name__ == "__main__":
    main()
