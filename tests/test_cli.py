"""The command line: every command is listed and documented."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from typer.testing import CliRunner

from agentgym.cli import app

runner = CliRunner()


COMMANDS = {"model", "llm", "envs", "serve", "openapi", "collect", "filter", "export", "train", "eval", "report",
            "pipeline", "view"}
SUBCOMMANDS = {"model": {"prepare"}, "llm": {"serve", "ask"}, "train": {"sft", "grpo", "evolve", "ablation"}}


def listed_commands(help_text: str) -> set[str]:
    """The command names of a help page's Commands panel: the words that open its rows (continued rows
    open with spaces)."""
    return set(re.findall(r"^│ (\S+)", help_text.partition("Commands")[2], re.M))


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and listed_commands(result.output) == COMMANDS
    for group, commands in SUBCOMMANDS.items():
        result = runner.invoke(app, [group, "--help"])
        assert result.exit_code == 0 and listed_commands(result.output) == commands
        for command in commands:
            result = runner.invoke(app, [group, command, "--help"])
            assert result.exit_code == 0 and result.output.lstrip().startswith(f"Usage: root {group} {command}")


def test_envs_lists_registered_environments():
    result = runner.invoke(app, ["envs"])
    assert result.exit_code == 0 and "echo" in result.output


def test_bad_lora_argument_is_rejected():
    result = runner.invoke(app, ["llm", "serve", "--lora", "nonsense"])
    assert result.exit_code != 0 and "NAME=DIR" in result.output


def test_llm_serve_passes_extra_vllm_arguments(monkeypatch):
    """--vllm-arg reaches vLLM's command line (how the GPU script shares one GPU between servers)."""
    import agentgym.vllm_server as vllm_server

    seen = {}

    class Stop(Exception):
        pass

    def record(model, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(vllm_server, "VLLMServer", record)
    result = runner.invoke(app, ["llm", "serve", "--vllm-arg=--gpu-memory-utilization=0.1",
                                 "--vllm-arg=--enforce-eager"])
    assert isinstance(result.exception, Stop)
    assert seen["extra_args"] == ["--gpu-memory-utilization=0.1", "--enforce-eager"]


def test_serve_refuses_public_bind_without_token():
    proc = subprocess.run([sys.executable, "-m", "agentgym.cli", "serve", "echo", "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0 and "--token" in proc.stderr


def test_pipeline_config_overrides_and_typos():
    from training.pipeline import load_config

    cfg = load_config(None, ["envs=[maze]", "sft.max_steps=3", "eval_tasks=2"])
    assert cfg.envs == ["maze"] and cfg.sft["max_steps"] == 3 and cfg.eval_tasks == 2
    assert cfg.sft["learning_rate"] == 5e-4  # the other defaults of a nested setting stay
    import pytest

    with pytest.raises(ValueError, match="unknown pipeline setting"):
        load_config(None, ["eval_taks=2"])
    with pytest.raises(ValueError, match="needs retrain_from=base"):
        load_config(None, ["trained_as=lora"])


def test_openapi_command_prints_the_schema():
    result = runner.invoke(app, ["openapi"])
    assert json.loads(result.output)["openapi"].startswith("3.")
