"""`eval.formats`: the side-by-side report of one suite in each action format, and its check that the
LLM server parses tool calls (against a stand-in OpenAI server: the real one is vLLM on a GPU)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from eval.formats import check_tool_calls, side_by_side
from eval.metrics import compute_metrics
from eval.report import Results
from tests.test_eval_metrics import cell


def results(won_in: int, won_out: int, invalid: int = 0) -> Results:
    trajs = cell(won_in, 10, split="held_in", invalid=invalid) + cell(won_out, 10, split="held_out", invalid=invalid)
    return Results(compute_metrics(trajs, resamples=100), {"model": "smollm2", "suite": "maze"})


def test_side_by_side_puts_each_format_in_a_column():
    text = side_by_side({"react": results(8, 2), "function_calling": results(5, 1, invalid=1),
                         "tool_calls": results(0, 0, invalid=3)})
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line for line in text.splitlines()
            if line.startswith("| maze") or line.startswith("| all")}
    assert [c.strip() for c in rows["maze", "held_in"].split("|")[3:6]] == [
        "80.0% [49.0, 94.3]", "50.0% [23.7, 76.3]", "0.0% [0.0, 27.8]"]
    assert rows["all", "all"].split("|")[3].strip().startswith("50.0%")  # react: 10 of 20
    assert "| `function_calling` | 20 | 33.3% |" in text  # 1 of 3 actions invalid in every episode
    assert "| `tool_calls` | 20 | 100.0% |" in text
    assert "| `tool_calls` | 0.0% [0.0, 16.1] | -50.0 points |" in text


def test_the_tool_template_renders_plain_chats_as_smollm2s_own(model_dir):
    """One vLLM with the tool-call template serves all three formats: react and function_calling see the same text."""
    import importlib.resources
    from pathlib import Path

    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def render(template: str, chat: list[dict]) -> str:  # as transformers' apply_chat_template does
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        return env.from_string(template).render(messages=chat, add_generation_prompt=True)

    own = (Path(model_dir) / "chat_template.jinja").read_text()
    tools = (importlib.resources.files("trl") / "chat_templates" / "qwen2_5.jinja").read_text()
    chat = [{"role": "system", "content": "Act."}, {"role": "user", "content": "You are in a maze."},
            {"role": "assistant", "content": "Action: move north"}, {"role": "user", "content": "A wall."}]
    assert render(own, chat) == render(tools, chat)
    assert render(own, chat).endswith("<|im_start|>user\nA wall.<|im_end|>\n<|im_start|>assistant\n")


class StandIn(BaseHTTPRequestHandler):
    """Test double of an OpenAI server: tools are refused unless `tools_on`, as vLLM does without its flags."""

    tools_on = False

    def do_GET(self):
        self._send(200, {"data": [{"id": "smollm2"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("tools") and not self.tools_on:
            self._send(400, {"message": '"auto" tool choice requires --enable-auto-tool-choice'})
        else:
            self._send(200, {"choices": [{"message": {"content": ""}}]})

    def _send(self, status, data):
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("tools_on", [False, True])
def test_check_tool_calls_names_the_flags_when_the_server_refuses(tools_on):
    handler = type("Handler", (StandIn,), {"tools_on": tools_on})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        if tools_on:
            check_tool_calls(url)
        else:
            with pytest.raises(SystemExit, match="--enable-auto-tool-choice --tool-call-parser hermes"):
                check_tool_calls(url)
    finally:
        server.shutdown()
