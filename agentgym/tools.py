"""Actions as tools: an environment declares its actions as function schemas, each with the template that
writes the action string the environment reads (`move {direction}` -> `move north`).

One declaration serves every view: the OpenAI `tools` a model is offered, the JSON function-call prompt,
TRL's `environment_factory` methods, and the parse back from an action string to a tool call (to write
expert or ReAct trajectories as `tool_calls`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Tool:
    """One action as a function: its name, what it does, its parameters (JSON schema properties, all
    required, string-valued) and the template of the action text."""

    name: str
    description: str
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    template: str = ""

    def __post_init__(self) -> None:
        used = _FIELD.findall(self.template)
        if sorted(used) != sorted(self.parameters):
            expected = sorted(self.parameters)
            raise ValueError(f"tool '{self.name}': template {self.template!r} must use exactly {expected}")

    def schema(self) -> dict[str, Any]:
        """The OpenAI tool schema (`{"type": "function", "function": {...}}`)."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": {"type": "object", "properties": self.parameters, "required": list(self.parameters)},
        }}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters,
                "template": self.template}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tool:
        return cls(d["name"], d["description"], dict(d.get("parameters") or {}), d["template"])

    def action(self, arguments: dict[str, Any]) -> str:
        """The action text of a call with `arguments`; ValueError naming what is missing or unknown."""
        missing = [p for p in self.parameters if p not in arguments]
        unknown = [a for a in arguments if a not in self.parameters]
        if missing or unknown:
            raise ValueError(f"{self.name} takes {list(self.parameters)}; missing {missing}, unknown {unknown}")
        values = {}
        for p, spec in self.parameters.items():
            value = arguments[p]
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError(f"{self.name}: '{p}' must be a string, got {type(value).__name__}")
            value = str(value).strip()
            if "enum" in spec and value not in spec["enum"]:
                raise ValueError(f"{self.name}: '{p}' must be one of {spec['enum']}, got {value!r}")
            values[p] = value
        return self.template.format(**values)

    def match(self, action: str) -> dict[str, str] | None:
        """The arguments of `action` when this tool's template writes it, else None."""
        pattern, pos = "", 0
        for m in _FIELD.finditer(self.template):
            pattern += re.escape(self.template[pos:m.start()]) + f"(?P<{m.group(1)}>.+?)"
            pos = m.end()
        found = re.fullmatch(pattern + re.escape(self.template[pos:]), action.strip(), re.DOTALL)
        if found is None:
            return None
        args = found.groupdict()
        for p, spec in self.parameters.items():
            if "enum" in spec and args[p] not in spec["enum"]:
                return None
        return args


def default_tool(action_format: str) -> Tool:
    """The one tool of an environment that declares none: `act(action)`."""
    return Tool("act", f"Take one action in the environment. Actions: {action_format}.",
                {"action": {"type": "string", "description": "the action to take"}}, "{action}")


def tools_of(env_cls: Any) -> tuple[Tool, ...]:
    """The tools an environment class declares (`tools`), or the default `act` tool."""
    return tuple(getattr(env_cls, "tools", ()) or ()) or (default_tool(env_cls.action_format),)


def action_from_call(tools: tuple[Tool, ...] | list[Tool], name: str, arguments: dict[str, Any]) -> str:
    """The action text of a tool call; ValueError with a message the agent can act on."""
    for tool in tools:
        if tool.name == name:
            return tool.action(arguments)
    raise ValueError(f"unknown function '{name}': the functions are {[t.name for t in tools]}")


def call_from_action(tools: tuple[Tool, ...] | list[Tool], action: str) -> tuple[str, dict[str, str]]:
    """The tool call that writes `action` (the first tool whose template matches); ValueError when none does."""
    for tool in tools:
        args = tool.match(action)
        if args is not None:
            return tool.name, args
    raise ValueError(f"no tool writes the action {action!r}")
