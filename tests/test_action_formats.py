"""Action formats beside ReAct: JSON function calls and native tool calls, from the env's tool declarations
to the trajectory record and the HF export."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentgym import AsyncEnvClient, EnvClient
from agentgym.action_formats import FunctionCalling, NativeToolCalls, ReAct, chat_messages, make_format
from agentgym.llm import LLM, Completion, Sampling
from agentgym.runner import Runner, build_context
from agentgym.tools import Tool, call_from_action, default_tool, tools_of
from envs.maze import MazeEnv
from envs.webshop import WebShopEnv
from trajectories.export import to_dataset, to_messages

TASK = "maze-4x4-s3"


class ToolCallingLLM(LLM):
    """TEST DOUBLE: answers each turn with the next scripted tool calls (a list of (name, args), or text)."""

    model = "tool-double"

    def __init__(self, script: list):
        self.script, self.requests = list(script), []

    async def chat(self, messages, sampling: Sampling, n: int = 1) -> list[Completion]:
        self.requests.append((json.loads(json.dumps(messages)), sampling))
        step = self.script.pop(0)
        if isinstance(step, str):
            return [Completion(step, 10, 2, "stop")]
        calls = [{"id": f"call_{len(self.requests)}_{i}", "type": "function",
                  "function": {"name": name, "arguments": args}} for i, (name, args) in enumerate(step)]
        return [Completion("", 10, 5, "tool_calls", tool_calls=calls)]


def test_tool_templates_write_and_read_actions():
    move, = tools_of(MazeEnv)
    assert move.action({"direction": "north"}) == "move north"
    assert move.match("move west") == {"direction": "west"} and move.match("move up") is None
    with pytest.raises(ValueError, match="one of"):
        move.action({"direction": "up"})
    with pytest.raises(ValueError, match="missing \\['direction'\\]"):
        move.action({"dir": "north"})
    search, click = tools_of(WebShopEnv)
    assert call_from_action((search, click), "click[buy now]") == ("click", {"item": "buy now"})
    assert search.action({"keywords": "red shoes"}) == "search[red shoes]"
    act = default_tool("free text")
    assert tools_of(type("Plain", (), {"action_format": "free text"})) == (act,)
    assert act.match("anything at all") == {"action": "anything at all"}
    with pytest.raises(ValueError, match="must use exactly"):
        Tool("bad", "d", {"x": {"type": "string"}}, "go {y}")


def test_function_calling_parses_agentgyms_json_strictly():
    fmt, tools = FunctionCalling(), list(tools_of(WebShopEnv))
    assert "search" in fmt.system_prompt(tools) and '"function_name"' in fmt.system_prompt(tools)
    reply = '```json\n{"thought": "look", "function_name": "search", "arguments": {"keywords": "tea"}}\n```'
    assert fmt.parse(reply, None, tools).action == "search[tea]"
    # AgentGym writes the arguments as a JSON string
    as_string = json.dumps({"thought": "t", "function_name": "click", "arguments": json.dumps({"item": "Buy Now"})})
    assert fmt.parse(as_string, None, tools).action == "click[Buy Now]"
    assert "could not find a JSON object" in fmt.parse("Action: search[tea]", None, tools).error
    assert "not valid JSON" in fmt.parse('{"function_name": "search", }', None, tools).error
    assert "unknown function 'buy'" in fmt.parse('{"function_name": "buy", "arguments": {}}', None, tools).error
    assert "missing ['keywords']" in fmt.parse('{"function_name": "search", "arguments": {}}', None, tools).error
    text, calls = fmt.write("click[buy now]", "done", tools)
    assert calls is None and fmt.parse(text, None, tools).action == "click[buy now]"


def test_native_tool_calls_parse_and_request_tools():
    fmt, tools = NativeToolCalls(), list(tools_of(MazeEnv))
    sampling = fmt.sampling(Sampling(extra={"min_tokens": 1}), tools)
    assert sampling.extra["min_tokens"] == 1 and sampling.extra["tools"] == [tools[0].schema()]
    call = {"id": "c1", "type": "function", "function": {"name": "move", "arguments": {"direction": "east"}}}
    assert fmt.parse("", [call], tools).action == "move east"
    assert "did not call a function" in fmt.parse("move east", None, tools).error
    assert "exactly one per turn" in fmt.parse("", [call, call], tools).error
    text, calls = fmt.write("move south", "go", tools)
    assert text == "go" and fmt.parse(text, calls, tools).action == "move south"
    assert make_format("react").name == ReAct.name
    with pytest.raises(ValueError, match="expected one of"):
        make_format("xml")


@pytest.mark.parametrize("name", ["react", "function_calling", "tool_calls"])
def test_expert_episodes_in_every_format_record_it(served, name):
    async def main():
        async with AsyncEnvClient(served("maze").url) as env:
            return (await Runner(None, env, action_format=make_format(name)).run_task(TASK))[0]

    traj = asyncio.run(main())
    assert traj.won and traj.action_format == name and traj.error is None
    assert (traj.tools == []) if name == "react" else (traj.tools[0]["function"]["name"] == "move")
    actions = [t for t in traj.turns if t.role == "assistant"]
    assert all((t.tool_calls is not None) == (name == "tool_calls") for t in actions)
    messages = to_messages(traj)
    if name == "tool_calls":  # TRL's SFT shape: tool_calls with object arguments, answered by tool messages
        call = messages[2]["tool_calls"][0]
        assert messages[2]["role"] == "assistant" and isinstance(call["function"]["arguments"], dict)
        assert messages[3] == {"role": "tool", "tool_call_id": call["id"], "content": traj.turns[3].text,
                               "train": False}
    else:
        assert [m["role"] for m in messages[:4]] == ["system", "user", "assistant", "user"]


def test_llm_tool_calls_drive_the_runner_and_errors_become_feedback(served):
    url = served("maze").url
    with EnvClient(url) as client:
        plan = client.expert(TASK)
    script = ["I will move.", [("move", {"direction": "up"})]]
    script += [[("move", {"direction": a.split()[-1]})] for a in plan]
    llm = ToolCallingLLM(script)

    async def main():
        async with AsyncEnvClient(url) as env:
            return (await Runner(llm, env, action_format=NativeToolCalls()).run_task(TASK))[0]

    traj = asyncio.run(main())
    assert traj.won and traj.invalid_actions == 2 and traj.steps == len(plan)
    sampling = llm.requests[0][1]
    assert sampling.extra["tools"][0]["function"]["name"] == "move"
    last = llm.requests[-1][0]
    # no call: the feedback is a user message; a bad call's feedback answers it as the tool's result
    assert last[2] == {"role": "assistant", "content": "I will move."}
    assert last[3]["role"] == "user" and "did not call a function" in last[3]["content"]
    assert last[4]["tool_calls"][0]["function"]["arguments"] == '{"direction": "up"}'  # API form: a JSON string
    assert last[5]["role"] == "tool" and last[5]["tool_call_id"] == last[4]["tool_calls"][0]["id"]
    assert "must be one of" in last[5]["content"]
    ds = to_dataset([traj])
    assert ds[0]["action_format"] == "tool_calls" and ds[0]["tools"][0]["function"]["name"] == "move"
    assert build_context(traj.turns, 10**6) == chat_messages(traj.turns)
