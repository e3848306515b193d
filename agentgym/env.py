"""The environment contract: one small class an environment author subclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from agentgym.reworded import Rewording

from agentgym.errors import UnknownTask
from agentgym.tools import Tool, tools_of

SPLITS = ("held_in", "held_out")
REWORDED = "held_out_reworded"  # the held-out tasks in other words, for envs that declare a `rewording`
ALL_SPLITS = (*SPLITS, REWORDED)


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


@dataclass(frozen=True)
class SeededTasks:
    """Task ids `<env>-<kind>-s<seed>` over kinds (levels, task types) and seeds, declared once for an env's
    `seeded_tasks`: listing, parsing and splits follow from it.

    Held-in: a held-in kind at a seed below `unseen_seed`; held-out: a kind never seen in held-in, or any
    kind at a seed from `unseen_seed` on. The lists hold `held_in_seeds` of each held-in kind and
    `held_out_seeds` of each held-out kind, the kinds taking turns (a prefix of a list covers every kind).
    """

    env: str
    kind: str  # what a kind is called in messages: "level", "task"
    held_in: tuple[str, ...]
    held_out: tuple[str, ...]
    held_in_seeds: range
    held_out_seeds: range
    unseen_seed: int = 10_000

    def id(self, kind: str, seed: int) -> str:
        """The id of `kind` at `seed`."""
        return f"{self.env}-{kind}-s{seed}"

    def tasks(self, split: str) -> list[str]:
        """The listed ids of `split` (KeyError for another split)."""
        kinds, seeds = {"held_in": (self.held_in, self.held_in_seeds),
                        "held_out": (self.held_out, self.held_out_seeds)}[split]
        return [self.id(kind, seed) for seed in seeds for kind in kinds]

    def parse(self, task_id: str) -> tuple[str, int]:
        """(kind, seed) of a well-formed id of a hosted kind; KeyError otherwise."""
        head, _, seed = task_id.rpartition("-s")
        kind = head.removeprefix(f"{self.env}-")
        if kind == head or kind not in self.held_in + self.held_out or not (seed.isascii() and seed.isdigit()) \
                or task_id != self.id(kind, int(seed)):
            raise KeyError(task_id)
        return kind, int(seed)

    def split_of(self, task_id: str) -> str:
        """The split of a well-formed id (KeyError otherwise), from the id alone."""
        kind, seed = self.parse(task_id)
        return "held_in" if kind in self.held_in and seed < self.unseen_seed else "held_out"

    def unknown(self, task_id: str) -> UnknownTask:
        """The error for an id these tasks do not have, with what an id looks like."""
        return UnknownTask(
            f"unknown {self.env} task '{task_id}': ids are {self.env}-<{self.kind}>-s<seed> with a {self.kind} "
            f"among {', '.join(self.held_in + self.held_out)} (e.g. {self.id(self.held_in[0], 0)})")


class Env:
    """Base class of every environment.

    Subclasses set the metadata class attributes and implement `tasks`, `reset`, `step` and
    `expert`. One instance serves one session at a time; the server creates one per session.
    The server alone enforces the step budget (`max_steps_for`): an env never truncates an episode.
    `check_task` and `result` are the helpers every env shares; tests/test_env_contract.py checks
    every registered env against this contract.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "0.1"
    instruction: ClassVar[str] = ""  # shown to agents before the first observation
    action_format: ClassVar[str] = "free text"  # how an action is written, for prompts
    max_steps: ClassVar[int] = 50  # the default step budget; `max_steps_for` may give a task its own
    # The actions as tools (function schemas with the template of the action text); none: one `act(action)`.
    tools: ClassVar[tuple[Tool, ...]] = ()
    # True when `step` is so cheap (microseconds to a few ms of Python, no I/O) that the server may run it on
    # the event loop instead of paying for a thread hop (a SIGALRM watchdog still ends it at the call timeout);
    # `inline_reset` the same for `reset`, which must then touch no shared state an interruption could corrupt.
    inline_step: ClassVar[bool] = False
    inline_reset: ClassVar[bool] = False
    # Word swaps for the `held_out_reworded` split (agentgym.reworded); None: the env has no such split.
    rewording: ClassVar[Rewording | None] = None
    # Task ids `<env>-<kind>-s<seed>` declared once: `tasks`, `split_of` and `parse_task` follow from it.
    seeded_tasks: ClassVar[SeededTasks | None] = None

    def tasks(self, split: str) -> list[str]:
        """Stable task ids of a split (`held_in` or `held_out`)."""
        if self.seeded_tasks is None:
            raise NotImplementedError
        return self.seeded_tasks.tasks(split)

    def parse_task(self, task_id: str) -> tuple[str, int]:
        """(kind, seed) of a task of `seeded_tasks`; `UnknownTask`, saying what an id looks like, otherwise."""
        assert self.seeded_tasks is not None, f"{type(self).__name__} declares no seeded_tasks"
        try:
            return self.seeded_tasks.parse(task_id)
        except KeyError:
            raise self.seeded_tasks.unknown(task_id) from None

    def reset(self, task_id: str, seed: int | None = None) -> Observation:
        """Start the episode of `task_id` and return the first observation (`UnknownTask`: see `check_task`)."""
        raise NotImplementedError

    def step(self, action: str) -> StepResult:
        """Apply one action."""
        raise NotImplementedError

    def expert(self, task_id: str, seed: int | None = None) -> list[str]:
        """A sequence of actions that solves `task_id` from its reset state (`UnknownTask` as `reset`)."""
        raise NotImplementedError

    def expert_thoughts(self, task_id: str, seed: int | None = None) -> list[str] | None:
        """The expert's reason for each of its actions, derived from the state it acts in (one short
        sentence each), for demonstrations that teach an agent to reason; None where the env has none."""
        return None

    def close(self) -> None:
        """Free resources (processes, files) when the session ends; a second call does nothing."""

    # Optional: `def html(self) -> str` returns the current page for people (served at /sessions/{id}/html).

    def max_steps_for(self, task_id: str) -> int:
        """The step budget of a task (the server truncates its episodes there unless a client asks for less)."""
        return self.max_steps

    def check_task(self, task_id: str) -> str:
        """The split of `task_id`; `UnknownTask`, with example ids, when this env has no such task."""
        try:
            return self.split_of(task_id)
        except (KeyError, ValueError):
            examples = ", ".join(self.tasks("held_in")[:3])
            raise UnknownTask(
                f"unknown task '{task_id}' for env '{self.name}' (e.g. {examples}): list the tasks of a split "
                "with tasks(split), over HTTP GET /tasks?split=held_in"
            ) from None

    def result(
        self,
        observation: Observation,
        error: str | None = None,
        *,
        won: bool = False,
        score: float | None = None,
        reward: float | None = None,
        terminated: bool = False,
        **info: Any,
    ) -> StepResult:
        """The result of a step: invalid when it has an `error` (a message the agent can learn from).

        `score` and `reward` default to 1.0 for a win and 0.0 otherwise; a win ends the episode, and so
        does `terminated`; `info` adds the env's own keys.
        """
        won_score = 1.0 if won else 0.0
        return StepResult(
            observation,
            won_score if reward is None else reward,
            terminated=terminated or won,
            info={
                "valid": error is None,
                "error": error,
                "won": won,
                "score": won_score if score is None else score,
                **info,
            },
        )

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
        if self.seeded_tasks is not None:
            return self.seeded_tasks.split_of(task_id)
        for split in SPLITS:
            if task_id in self.tasks(split):
                return split
        raise KeyError(task_id)
