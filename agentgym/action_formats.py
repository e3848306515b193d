"""Action formats: how the agent writes an action, and how the runner reads it back into the env's action text.

- `react` (default): `Thought:` / `Action:` lines (`agentgym.react`);
- `function_calling`: a JSON object `{"thought", "function_name", "arguments"}` in the reply text, as AgentGym's
  `FUNCTION_CALLING` format;
- `tool_calls`: native tool calls through the OpenAI API (`tools` in the request, `tool_calls` in the reply);
  the vLLM server runs with `--enable-auto-tool-choice --tool-call-parser <parser>`.

The functions are the env's tools (`agentgym.tools`, from its `/info`). Every format is strict: a reply it
cannot read becomes feedback for the agent, never a guess.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from agentgym.react import SYSTEM_PROMPT, Parsed, parse_action
from agentgym.tools import Tool, action_from_call, call_from_action

if TYPE_CHECKING:
    from agentgym.llm import Sampling

ToolCalls = list[dict[str, Any]]  # [{"id", "type": "function", "function": {"name", "arguments": dict}}]


class ActionFormat:
    """The interface the runner calls; one subclass per format."""

    name: ClassVar[str] = ""

    def system_prompt(self, tools: list[Tool]) -> str:
        """The system message that tells the agent how to act."""
        raise NotImplementedError

    def sampling(self, sampling: Sampling, tools: list[Tool]) -> Sampling:
        """The request's sampling fields (a format may add the API's `tools`)."""
        return sampling

    def parse(self, text: str, tool_calls: ToolCalls | None, tools: list[Tool]) -> Parsed:
        """The env action of a reply, or the error to tell the agent."""
        raise NotImplementedError

    def write(self, action: str, thought: str, tools: list[Tool]) -> tuple[str, ToolCalls | None]:
        """The reply (text, tool calls) that takes `action`: how expert and teacher turns are written."""
        raise NotImplementedError


class ReAct(ActionFormat):
    name = "react"

    def system_prompt(self, tools: list[Tool]) -> str:
        return SYSTEM_PROMPT

    def parse(self, text: str, tool_calls: ToolCalls | None, tools: list[Tool]) -> Parsed:
        return parse_action(text)

    def write(self, action: str, thought: str, tools: list[Tool]) -> tuple[str, ToolCalls | None]:
        return f"Thought: {thought}\nAction: {action}", None


def _schemas(tools: list[Tool]) -> str:
    return "\n".join(json.dumps(t.schema(), ensure_ascii=False) for t in tools)


def _arguments(raw: Any) -> dict[str, Any]:
    """A call's arguments: a JSON object, or a string holding one (OpenAI's and AgentGym's habit)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"the arguments are not valid JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise ValueError("the arguments must be a JSON object of the function's parameters")
    return raw


def _action(tools: list[Tool], name: Any, arguments: Any) -> Parsed:
    try:
        if not isinstance(name, str) or not name:
            raise ValueError("name the function to call")
        return Parsed(action_from_call(tools, name, _arguments(arguments)))
    except ValueError as exc:
        return Parsed(None, f"Your function call could not be used: {exc}.")


class FunctionCalling(ActionFormat):
    """A JSON object in the reply text naming one function and its arguments (AgentGym's FUNCTION_CALLING)."""

    name = "function_calling"

    def system_prompt(self, tools: list[Tool]) -> str:
        return (
            "You are an agent acting in an environment. You act by calling one of these functions:\n"
            f"{_schemas(tools)}\n\n"
            "At every turn, reply with only this JSON object and no other text:\n"
            '{"thought": "<one short sentence of reasoning>", "function_name": "<a function>", '
            '"arguments": {<its parameters>}}'
        )

    def parse(self, text: str, tool_calls: ToolCalls | None, tools: list[Tool]) -> Parsed:
        start, end = (text or "").find("{"), (text or "").rfind("}")
        if start < 0 or end < start:
            return Parsed(None, 'I could not find a JSON object in your reply. Reply with only '
                                '{"thought": ..., "function_name": ..., "arguments": {...}}.')
        try:
            call = json.loads(text[start:end + 1])
        except json.JSONDecodeError as exc:
            return Parsed(None, f"Your reply is not valid JSON ({exc.msg}). Reply with only the JSON object.")
        if not isinstance(call, dict) or "function_name" not in call:
            return Parsed(None, 'Your JSON object needs "function_name" and "arguments".')
        return _action(tools, call["function_name"], call.get("arguments", {}))

    def write(self, action: str, thought: str, tools: list[Tool]) -> tuple[str, ToolCalls | None]:
        name, args = call_from_action(tools, action)
        return json.dumps({"thought": thought, "function_name": name, "arguments": args}, ensure_ascii=False), None


class NativeToolCalls(ActionFormat):
    """The OpenAI API's `tools` / `tool_calls`: the server parses the model's calls."""

    name = "tool_calls"

    def system_prompt(self, tools: list[Tool]) -> str:
        return ("You are an agent acting in an environment. At every turn, call exactly one of the functions "
                "you are given; its result is what you observe next.")

    def sampling(self, sampling: Sampling, tools: list[Tool]) -> Sampling:
        extra = {**(sampling.extra or {}), "tools": [t.schema() for t in tools], "tool_choice": "auto"}
        return replace(sampling, extra=extra)

    def parse(self, text: str, tool_calls: ToolCalls | None, tools: list[Tool]) -> Parsed:
        if not tool_calls:
            names = ", ".join(t.name for t in tools)
            return Parsed(None, f"You did not call a function. Call exactly one of: {names}.")
        if len(tool_calls) > 1:
            return Parsed(None, f"You called {len(tool_calls)} functions at once; call exactly one per turn.")
        function = tool_calls[0].get("function") or {}
        return _action(tools, function.get("name"), function.get("arguments", {}))

    def write(self, action: str, thought: str, tools: list[Tool]) -> tuple[str, ToolCalls | None]:
        name, args = call_from_action(tools, action)
        return thought, [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                          "function": {"name": name, "arguments": args}}]


FORMATS: dict[str, type[ActionFormat]] = {f.name: f for f in (ReAct, FunctionCalling, NativeToolCalls)}


def make_format(name: str) -> ActionFormat:
    """The action format called `name`: react, function_calling or tool_calls."""
    if name not in FORMATS:
        raise ValueError(f"unknown action format '{name}': expected one of {list(FORMATS)}")
    return FORMATS[name]()


def tool_calls_from_api(calls: list[dict[str, Any]] | None) -> ToolCalls | None:
    """The API's `tool_calls` with their arguments decoded (left as text when they are not JSON)."""
    if not calls:
        return None
    out = []
    for c in calls:
        function = dict(c.get("function") or {})
        try:
            function["arguments"] = _arguments(function.get("arguments", {}))
        except ValueError:
            pass  # kept as sent: parse() reports it to the agent
        out.append({"id": c.get("id") or f"call_{uuid.uuid4().hex[:12]}", "type": "function", "function": function})
    return out


def chat_messages(turns: list[Any], api: bool = True) -> list[dict[str, Any]]:
    """Turns as chat messages: an assistant turn's tool calls go with it, and the turn that answers them
    becomes a `tool` message. `api`: arguments as a JSON string (OpenAI API) rather than an object
    (chat templates and TRL's SFT)."""
    out: list[dict[str, Any]] = []
    answering: str | None = None
    for t in turns:
        if t.role == "assistant" and t.tool_calls:
            calls = [{**c, "function": {**c["function"], "arguments": json.dumps(c["function"]["arguments"])
                                        if api and not isinstance(c["function"]["arguments"], str)
                                        else c["function"]["arguments"]}} for c in t.tool_calls]
            out.append({"role": "assistant", "content": t.text, "tool_calls": calls})
            answering = t.tool_calls[0]["id"]
            continue
        if t.role == "user" and answering is not None:
            out.append({"role": "tool", "tool_call_id": answering, "content": t.text})
        else:
            out.append({"role": t.role, "content": t.text})
        answering = None
    return out
