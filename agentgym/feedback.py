"""Feedback strategies: composable objects the runner consults at errors and after failed episodes.

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

from dataclasses import dataclass, field
from typing import Any

from agentgym.llm import LLM, Sampling
from agentgym.react import parse_action


@dataclass
class EpisodeContext:
    """What a strategy may look at during one episode."""

    task_id: str
    plan: list[str] | None = None  # the expert's actions, when a teacher asked for them
    thoughts: list[str] | None = None  # the expert's reasons for them, where the env gives them
    executed: list[str] = field(default_factory=list)  # valid actions taken so far
    last_observation: str = ""


class Strategy:
    name = ""
    needs_plan = False
    # Behaviour switches the runner reads; strategies compose by combining them.
    feedback_on_error = False  # tell the agent what went wrong (else it just sees the next observation)
    flags_refinement = False
    attempts = 1

    async def correct(self, ctx: EpisodeContext, proposed: str | None, error: str | None) -> str | None:
        """A corrected action for this step, or None to let the agent's action stand."""
        return None

    async def reflect(self, llm: LLM, transcript: str) -> str | None:
        """A lesson to carry into the next attempt after a failure, or None."""
        return None


class EnvError(Strategy):
    name = "env-error"
    feedback_on_error = True


class Refine(Strategy):
    name = "refine"
    feedback_on_error = True
    flags_refinement = True


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower().split() == (b or "").strip().lower().split()


class Teacher(Strategy):
    """Corrects the agent with the expert's plan (`llm=None`) or with a second, stronger LLM."""

    name = "teacher"

    def __init__(self, llm: LLM | None = None, sampling: Sampling | None = None):
        self.llm = llm
        self.sampling = sampling or Sampling(temperature=0.0, max_tokens=64)
        self.needs_plan = llm is None

    async def correct(self, ctx: EpisodeContext, proposed: str | None, error: str | None) -> str | None:
        if self.llm is None:
            # The agent is kept on the plan, so the plan's next action is valid from the current state.
            k = len(ctx.executed)
            if ctx.plan is None or k >= len(ctx.plan) or _same(proposed, ctx.plan[k]):
                return None
            return ctx.plan[k]
        if error is None:
            return None  # a teacher model only steps in on errors
        prompt = (
            f"An agent in a text environment saw:\n{ctx.last_observation}\n\nIt tried the action "
            f"'{proposed}', which failed: {error}\nReply with 'Action: <the correct action>' only."
        )
        reply = await self.llm.chat([{"role": "user", "content": prompt}], self.sampling)
        return parse_action(reply[0].text).action


class Reflect(Strategy):
    name = "reflect"

    def __init__(self, attempts: int = 2, sampling: Sampling | None = None):
        self.attempts = attempts
        self.sampling = sampling or Sampling(temperature=0.0, max_tokens=96)

    async def reflect(self, llm: LLM, transcript: str) -> str | None:
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
