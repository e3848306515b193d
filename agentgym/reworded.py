"""Reworded held-out variants (AgentRefine's robustness test): the same tasks and rewards, other words.

An environment opts in by declaring `rewording = Rewording(actions=..., text=...)`. The registry then
serves it with a third split, `held_out_reworded`: every held-out task again, as `<id>~reworded`, where
the agent reads reworded text (observations, available actions, errors, the instruction) and writes
reworded commands, which are translated back before the environment sees them; the old command words
are no longer commands (such a step is spent and answered with an error). Nothing else changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from agentgym.env import REWORDED, Env, Observation, StepResult
from agentgym.tools import Tool, tools_of

SUFFIX = "~reworded"
_PLACEHOLDER = re.compile(r"(\{\w+\})")  # a tool template's {field}


def _substitution(pairs: tuple[tuple[str, str], ...]):
    """A function replacing each key by its value in one pass (whole words, longest key first)."""
    if not pairs:
        return lambda text: text
    table = dict(pairs)
    keys = sorted(table, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in keys) + r")(?![\w-])")
    return lambda text: pattern.sub(lambda m: table[m.group(1)], text)


@dataclass(frozen=True)
class Rewording:
    """Word swaps, original -> reworded. `actions` are command words (translated both ways); `text` are
    other words the agent reads (translated one way). Matching is by whole words and case-sensitive."""

    actions: tuple[tuple[str, str], ...] = ()
    text: tuple[tuple[str, str], ...] = ()

    @cached_property
    def to_agent(self):
        """Reword text the agent reads."""
        return _substitution(self.actions + self.text)

    @cached_property
    def to_env(self):
        """Turn a reworded command back into the environment's own words."""
        return _substitution(tuple((new, old) for old, new in self.actions))

    @cached_property
    def _words(self) -> re.Pattern:
        words = sorted({w for pair in self.actions for w in pair}, key=len, reverse=True)
        return re.compile(r"(?<![\w-])(" + "|".join(re.escape(w) for w in words) + r")(?![\w-])")

    def tool(self, tool: Tool) -> Tool:
        """The tool in the agent's words: its name, description, argument values and the action it writes
        (`move {direction}` with north..west -> `head {direction}` with up..left)."""
        def arg(spec: dict[str, Any]) -> dict[str, Any]:
            spec = {**spec, "description": self.to_agent(spec["description"])} if "description" in spec else dict(spec)
            if "enum" in spec:
                spec["enum"] = [self.to_agent(v) for v in spec["enum"]]
            return spec

        # the template's {fields} are names, not words: only the text around them is reworded
        template = "".join(part if _PLACEHOLDER.fullmatch(part) else self.to_agent(part)
                           for part in _PLACEHOLDER.split(tool.template))
        name = self.to_agent(tool.name.replace("_", " ")).replace(" ", "_")
        return Tool(name, self.to_agent(tool.description), {p: arg(v) for p, v in tool.parameters.items()}, template)

    def stray_word(self, action: str) -> str | None:
        """An original command word in a reworded command (`go to` where the words are now `move to`), or None."""
        if not self.actions:  # a rewording of the text alone leaves every command as it was
            return None
        reworded = {new for _, new in self.actions}
        for m in self._words.finditer(action):
            if m.group(1) not in reworded:
                return m.group(1)
        return None


def split_id(task_id: str) -> tuple[str, bool]:
    """(the underlying task id, whether `task_id` names its reworded variant)."""
    if task_id.endswith(SUFFIX):
        return task_id[: -len(SUFFIX)], True
    return task_id, False


@cache
def with_reworded_split(cls: type[Env]) -> type[Env]:
    """`cls` itself when it declares no rewording; else a subclass that also serves `held_out_reworded`."""
    rewording: Rewording | None = getattr(cls, "rewording", None)
    if rewording is None or getattr(cls, "_serves_reworded", False):
        return cls

    class Reworded(cls):  # type: ignore[misc, valid-type]
        __doc__ = cls.__doc__
        _serves_reworded = True
        reworded = False  # true while this instance plays a reworded task; an env may read it

        @classmethod
        def info(cls_) -> dict[str, Any]:
            info = super().info()
            info["splits"] = [*info["splits"], REWORDED]
            info["reworded"] = {"instruction": rewording.to_agent(cls_.instruction),
                                "action_format": rewording.to_agent(cls_.action_format),
                                "tools": [rewording.tool(t).to_dict() for t in tools_of(cls_)]}
            return info

        def tasks(self, split: str) -> list[str]:
            if split == REWORDED:
                return [t + SUFFIX for t in super().tasks("held_out")]
            return super().tasks(split)

        def split_of(self, task_id: str) -> str:
            base, reworded = split_id(task_id)
            split = super().split_of(base)
            if not reworded:
                return split
            if split != "held_out":
                raise KeyError(task_id)  # only held-out tasks have a reworded variant
            return REWORDED

        def reset(self, task_id: str, seed: int | None = None) -> Observation:
            base, self.reworded = split_id(task_id)
            return self._reword(super().reset(base, seed))

        def step(self, action: str) -> StepResult:
            if not self.reworded:
                return super().step(action)
            stray = rewording.stray_word(action)
            # the old words are not commands any more: the step is spent on nothing the env understands
            result = super().step("" if stray else rewording.to_env(action))
            result.observation = self._reword(result.observation)
            if stray:
                message = f"'{stray}' is not a command here: use the words of the instructions."
                result.info.update(valid=False, error=message)
                result.observation.text = message + "\n" + result.observation.text
            elif result.info.get("error"):
                result.info["error"] = rewording.to_agent(result.info["error"])
            return result

        def expert(self, task_id: str, seed: int | None = None) -> list[str]:
            base, reworded = split_id(task_id)
            actions = super().expert(base, seed)
            return [rewording.to_agent(a) for a in actions] if reworded else actions

        def expert_thoughts(self, task_id: str, seed: int | None = None) -> list[str] | None:
            base, reworded = split_id(task_id)
            thoughts = super().expert_thoughts(base, seed)
            return [rewording.to_agent(t) for t in thoughts] if reworded and thoughts else thoughts

        def max_steps_for(self, task_id: str) -> int:
            return super().max_steps_for(split_id(task_id)[0])

        def _reword(self, obs: Observation) -> Observation:
            if not self.reworded:
                return obs
            actions = None if obs.available_actions is None else [rewording.to_agent(a) for a in obs.available_actions]
            return Observation(rewording.to_agent(obs.text), actions, obs.extra)

    Reworded.__name__ = Reworded.__qualname__ = cls.__name__
    Reworded.__module__ = cls.__module__
    return Reworded
