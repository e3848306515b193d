"""Feedback strategies: composable objects whose hooks the runner calls at named moments of an episode.

The hooks, in the order an episode meets them (each default does nothing, so a strategy overrides only
what it needs, and a new strategy never edits the runner):
- `before_step`: may replace the agent's action (or its unparsable reply) with a corrected one;
- `on_unparsable` / `on_invalid_action`: what to tell the agent about a reply that did not parse or an
  action the environment refused (None: the runner's default, see `Runner`);
- `after_step`: sees every action the environment answered, and may flag its turn;
- `another_attempt` / `after_episode`: whether the task is tried again, and a lesson carried into it.

The strategies:
- `EnvError` (E2CL error correction): the parser's or the environment's message goes back to the agent,
  which retries; bounded consecutive retries.
- `Teacher` (E2CL teacher-guided): the expert's plan (or a second LLM) corrects an off-track or invalid
  action; the agent's turn is flagged erroneous and the corrected turn is recorded and executed.
- `Refine` (AgentRefine): like `EnvError`, and the turn that recovers after an error is flagged
  `refinement`, so training can mask the errors and learn the recovery.
- `Reflect` (Reflexion): after a failed episode the agent writes a reflection that is carried into its
  next attempt at the same task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agentgym.llm import LLM, Sampling
from agentgym.react import parse_action
from agentgym.tools import Tool
from agentgym.trajectory import Trajectory, Turn


@dataclass
class EpisodeContext:
    """What a strategy may look at during one episode."""

    task_id: str
    executed: list[str] = field(default_factory=list)  # valid actions taken so far
    last_observation: str = ""
    errors_in_row: int = 0  # erroneous turns since the last accepted action (before the turn a hook sees)
    plan: list[str] | None = None  # the expert's actions, once `expert_plan` fetched them
    thoughts: list[str] | None = None  # the expert's reasons for them, where the env gives them
    fetch_plan: Callable[[], Awaitable[dict[str, Any]]] | None = field(default=None, repr=False)
    tools: list[Tool] = field(default_factory=list)  # the agent's actions as tools, in this episode's words

    async def expert_plan(self) -> list[str] | None:
        """The expert's actions for this task, fetched from the environment on first use."""
        if self.plan is None and self.fetch_plan is not None:
            plan = await self.fetch_plan()
            self.plan, self.thoughts = plan["actions"], plan.get("thoughts")
        return self.plan


class Strategy:
    """A feedback strategy: hooks the runner calls; every default leaves the episode as it is."""

    name = ""

    async def before_step(self, ctx: EpisodeContext, proposed: str | None, error: str | None) -> str | None:
        """An action to run instead of the agent's `proposed` one (None when its reply did not parse, with the
        parser's `error`), or None to let the agent's reply stand."""
        return None

    async def on_unparsable(self, ctx: EpisodeContext, reply: str, error: str) -> str | None:
        """What to tell the agent about a reply that did not parse, or None for the parser's own `error`."""
        return None

    async def on_invalid_action(self, ctx: EpisodeContext, action: str, error: str, observation: str) -> str | None:
        """What to tell the agent about an action the environment refused, or None: it sees the plain
        `observation` (which an env usually words as the error) and is not told it erred."""
        return None

    async def after_step(self, ctx: EpisodeContext, turn: Turn) -> None:
        """Called once the environment answered `turn`'s action (`turn.valid` says whether it took it)."""

    def another_attempt(self, traj: Trajectory) -> bool:
        """Whether the task is tried again after the finished episode `traj`."""
        return False

    async def after_episode(self, llm: LLM, traj: Trajectory) -> str | None:
        """Called after every episode the LLM `llm` played to its end; a lesson to carry into the next attempt
        at its task (when `another_attempt` asks for one), or None."""
        return None


class EnvError(Strategy):
    name = "env-error"

    async def on_invalid_action(self, ctx: EpisodeContext, action: str, error: str, observation: str) -> str | None:
        return f"Your action '{action}' was not accepted: {error}\nTry a different action.\n{observation}"


class Refine(EnvError):
    name = "refine"

    async def after_step(self, ctx: EpisodeContext, turn: Turn) -> None:
        if turn.valid and ctx.errors_in_row:
            turn.refinement = True


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower().split() == (b or "").strip().lower().split()


class Teacher(Strategy):
    """Corrects the agent with the expert's plan (`llm=None`) or with a second, stronger LLM."""

    name = "teacher"

    def __init__(self, llm: LLM | None = None, sampling: Sampling | None = None):
        self.llm = llm
        self.sampling = sampling or Sampling(temperature=0.0, max_tokens=64)

    async def before_step(self, ctx: EpisodeContext, proposed: str | None, error: str | None) -> str | None:
        if self.llm is None:
            # The agent is kept on the plan, so the plan's next action is valid from the current state.
            plan, k = await ctx.expert_plan(), len(ctx.executed)
            if plan is None or k >= len(plan) or _same(proposed, plan[k]):
                return None
            return plan[k]
        if error is None:
            return None  # a teacher model only steps in on errors
        prompt = (
            f"An agent in a text environment saw:\n{ctx.last_observation}\n\nIt tried the action "
            f"'{proposed}', which failed: {error}\nReply with 'Action: <the correct action>' only."
        )
        reply = await self.llm.chat([{"role": "user", "content": prompt}], self.sampling)
        return parse_action(reply[0].text).action


def transcript(traj: Trajectory, max_chars: int = 3000) -> str:
    """A readable summary of an episode, for reflections."""
    lines = [t.text for t in traj.turns[1:2]]
    lines += [f"> {t.action}" if t.role == "assistant" else t.text for t in traj.turns[2:]]
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[:1000] + "\n...\n" + text[-(max_chars - 1000):]


class Reflect(Strategy):
    name = "reflect"

    def __init__(self, attempts: int = 2, sampling: Sampling | None = None):
        self.attempts = attempts
        self.sampling = sampling or Sampling(temperature=0.0, max_tokens=96)

    def another_attempt(self, traj: Trajectory) -> bool:
        return not traj.won and traj.attempt + 1 < self.attempts

    async def after_episode(self, llm: LLM, traj: Trajectory) -> str | None:
        if not self.another_attempt(traj):
            return None
        return await self.reflect(llm, transcript(traj))

    async def reflect(self, llm: LLM, transcript: str) -> str | None:
        """The agent's own lesson from the `transcript` of its failed episode."""
        prompt = (
            f"{transcript}\n\nYou did not complete the task. In two sentences, say what went wrong and what "
            "you will do differently next time."
        )
        reply = await llm.chat([{"role": "user", "content": prompt}], self.sampling)
        return reply[0].text.strip() or None


STRATEGIES: dict[str, Any] = {"env-error": EnvError, "refine": Refine, "teacher": Teacher, "reflect": Reflect}


def make_strategies(names: list[str] | str | None) -> list[Strategy]:
    """Strategies from names (`"refine,reflect"`, `["teacher"]`); `none` or empty means none."""
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    out = []
    for name in names or []:
        name = name.strip()
        if name in ("", "none"):
            continue
        if name not in STRATEGIES:
            raise ValueError(f"unknown feedback strategy '{name}': choose from none, {', '.join(STRATEGIES)}")
        out.append(STRATEGIES[name]())
    return out
