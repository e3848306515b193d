"""TRL's `GRPOTrainer(environment_factory=...)` on any of our env servers: a class whose public methods are
the environment's tools (from its `/info`), backed by our HTTP client, one session per instance.

    Env = environment_factory(server.url)
    trainer = GRPOTrainer(model, args=config, train_dataset=Dataset.from_list(task_prompts(server.url, n=64)),
                          environment_factory=Env)

TRL calls `reset(**row)` before each rollout (the row's `task_id` picks the task), the tool methods while
the model calls tools, and `get_reward()` once the rollout ends: the episode's summed env reward.
"""

from __future__ import annotations

import inspect
import itertools
import json
from typing import Any

from agentgym.client import EnvClient, EnvSession
from agentgym.tools import Tool

OVER = "The episode is over; no further actions are taken."


class ToolEnv:
    """Base of the classes `environment_factory` builds; subclasses carry the server and its tools."""

    urls: list[str] = []
    token: str | None = None
    split: str = "held_in"
    env_tools: tuple[Tool, ...] = ()
    instruction: str = ""

    def __init__(self) -> None:
        self._client = EnvClient(self.urls, token=self.token)
        self._session: EnvSession | None = None
        self._next_index = itertools.count()
        self.total_reward, self.done, self.won, self.steps = 0.0, False, False, 0

    def reset(self, task_id: str | None = None, index: int | None = None, **row: Any) -> str:
        """Start an episode on `task_id` (or the `index`-th task of the split, or the next one) and return
        its first observation, which TRL appends to the prompt."""
        self._close()
        if task_id is None and index is None:
            index = next(self._next_index)
        self._session = self._client.session(task_id=task_id, split=None if task_id else self.split, index=index)
        self.total_reward, self.done, self.won, self.steps = 0.0, False, False, 0
        return "\n\n" + self._session.observation.text

    def get_reward(self) -> float:
        """The episode's summed environment reward."""
        return self.total_reward

    def _act(self, tool: Tool, arguments: dict[str, Any]) -> str:
        if self.done:
            return OVER
        if self._session is None:
            return "No episode is running: the trainer calls reset() first."
        try:
            action = tool.action(arguments)
        except ValueError as exc:
            return f"Invalid call: {exc}"
        result = self._session.step(action)
        self.steps += 1
        self.total_reward += result.reward
        text = result.observation.text
        if result.done:
            self.done, self.won = True, bool(result.info.get("won"))
            text += f"\n{OVER} ({'won' if self.won else 'not won'}, score {result.info.get('score', 0)})"
            self._close()
        return text

    def _close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            except Exception:
                pass  # expired or closed by the server already
            self._session = None

    def __del__(self) -> None:
        try:
            self._close()
            self._client.close()
        except Exception:
            pass  # interpreter shutdown


def _tool_method(tool: Tool) -> Any:
    """A method named after `tool` with the signature and Google-style docstring TRL reads as its schema."""

    def method(self: ToolEnv, **arguments: Any) -> str:
        return self._act(tool, arguments)

    args = []
    for name, spec in tool.parameters.items():
        line = f"    {name}: {spec.get('description', name)}"
        if "enum" in spec:
            line += f" (choices: {json.dumps(list(spec['enum']))})"
        args.append(line)
    method.__name__ = method.__qualname__ = tool.name
    method.__doc__ = f"{tool.description}\n\nArgs:\n" + "\n".join(args) + \
        "\n\nReturns:\n    What the environment shows after the action."
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, annotation=str) for p in tool.parameters]
    method.__signature__ = inspect.Signature(params, return_annotation=str)
    method.__annotations__ = {**{p: str for p in tool.parameters}, "return": str}
    return method


def environment_factory(urls: str | list[str], split: str = "held_in", token: str | None = None) -> type[ToolEnv]:
    """The class to pass as `GRPOTrainer(environment_factory=...)` for the environment served at `urls`."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    with EnvClient(urls, token=token) as client:
        info = client.info()
    tools = tuple(Tool.from_dict(t) for t in info["tools"])
    clash = [t.name for t in tools if t.name in ("reset", "get_reward") or t.name.startswith("_")]
    if clash:
        raise ValueError(f"environment '{info['name']}' has tools named {clash}, which TRL reserves")
    namespace: dict[str, Any] = {"urls": urls, "token": token, "split": split, "env_tools": tools,
                                 "instruction": info["instruction"], "__doc__": f"{info['name']}: tools as methods"}
    namespace.update({t.name: _tool_method(t) for t in tools})
    name = "".join(part.capitalize() for part in info["name"].replace("-", "_").split("_")) + "ToolEnv"
    return type(name, (ToolEnv,), namespace)


def task_prompts(urls: str | list[str], split: str = "held_in", n: int | None = None,
                 token: str | None = None) -> list[dict[str, Any]]:
    """Rows for a TRL dataset: a conversational `prompt` with the env's instruction, and the `task_id`
    that `reset` starts (`Dataset.from_list(task_prompts(url))`)."""
    with EnvClient(urls, token=token) as client:
        info, tasks = client.info(), client.tasks(split)
    prompt = f"{info['instruction']}\nAct by calling the functions you are given, one call per turn."
    return [{"prompt": [{"role": "user", "content": prompt}], "task_id": t} for t in tasks[:n]]
