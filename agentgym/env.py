"""The environment contract: one small class an environment author subclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from agentgym.tools import Tool, tools_of

SPLITS = ("held_in", "held_out")


@dataclass
class Observation:
    """What the agent reads: the text, and the actions it may take where the env knows them."""

    text: str
    available_actions: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "available_actions": self.available_actions, "extra": self.extra}


@dataclass
class StepResult:
    """The result of one step, Gymnasium-style: observation, reward, terminated, truncated, info.

    `info` always carries `valid` (was the action understood), `error` (a message the agent can
    learn from, or None), `won` and `score`.
    """

    observation: Observation
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    def __post_init__(self) -> None:
        self.info.setdefault("valid", True)
        self.info.setdefault("error", None)
        self.info.setdefault("won", False)
        self.info.setdefault("score", 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "observation": self.observation.to_dict(),
            "reward": self.reward,
            "terminated": self.terminated,
            "truncated": self.truncated,
            "done": self.done,
            "info": self.info,
        }


class Env:
    """Base class of every environment.

    Subclasses set the metadata class attributes and implement `tasks`, `reset`, `step` and
    `expert`. One instance serves one session at a time; the server creates one per session.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "0.1"
    instruction: ClassVar[str] = ""  # shown to agents before the first observation
    action_format: ClassVar[str] = "free text"  # how an action is written, for prompts
    max_steps: ClassVar[int] = 50
    # The actions as tools (function schemas with the template of the action text); none: one `act(action)`.
    tools: ClassVar[tuple[Tool, ...]] = ()
    # True when `step` is so cheap (microseconds, no I/O) that the server may run it on the event
    # loop instead of paying for a thread hop.
    inline_step: ClassVar[bool] = False

    def tasks(self, split: str) -> list[str]:
        """Stable task ids of a split (`held_in` or `held_out`)."""
        raise NotImplementedError

    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        """Start the episode of `task_id` and return the first observation."""
        raise NotImplementedError

    def step(self, action: str) -> StepResult:
        """Apply one action."""
        raise NotImplementedError

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """A sequence of actions that solves `task_id` from its reset state."""
        raise NotImplementedError

    def close(self) -> None:
        """Free resources (processes, files). Called once when the session ends."""

    # Optional: `def html(self) -> str` returns the current page for people (served at /sessions/{id}/html).

    @classmethod
    def info(cls) -> dict[str, Any]:
        """Metadata a client needs to prompt an agent for this environment."""
        return {
            "name": cls.name,
            "version": cls.version,
            "instruction": cls.instruction,
            "action_format": cls.action_format,
            "max_steps": cls.max_steps,
            "splits": list(SPLITS),
            "tools": [t.to_dict() for t in tools_of(cls)],
        }

    def split_of(self, task_id: str) -> str:
        """The split a task belongs to; environments override it with a pure function of the id."""
        for split in SPLITS:
            if task_id in self.tasks(split):
                return split
        raise KeyError(task_id)
