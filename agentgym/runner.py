"""The agent runner: many episodes at once, an LLM acting through ReAct turns, feedback on errors.

asyncio all the way: one task per episode, a semaphore bounding concurrent episodes, one pooled
client per env and per LLM endpoint, so that vLLM's continuous batching sees many requests at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agentgym.action_formats import ActionFormat, ReAct, chat_messages
from agentgym.client import AsyncEnvClient, AsyncEnvSession
from agentgym.env import REWORDED
from agentgym.errors import is_infrastructure_failure
from agentgym.feedback import EpisodeContext, Strategy
from agentgym.llm import LLM, Sampling
from agentgym.react import first_user_message, observation_message
from agentgym.tools import Tool, default_tool
from agentgym.trajectory import Trajectory, Turn

log = logging.getLogger(__name__)


@dataclass
class RunnerConfig:
    sampling: Sampling = field(default_factory=Sampling)
    max_steps: int | None = None  # None: the environment's own budget
    max_retries: int = 3  # consecutive erroneous turns before the episode is given up
    max_context_chars: int = 8000  # older turns are dropped past this; never the instruction
    concurrency: int = 8
    # Past exchanges (reply + observation) the agent sees besides the instruction and the latest
    # observation; None: all that fit. 0 suits envs whose observation says all the agent needs: a small
    # model then cannot fall back on copying its previous reply, and long episodes stay cheap.
    history: int | None = None


def build_context(turns: list[Turn], max_chars: int, history: int | None = None) -> list[dict[str, str]]:
    """Chat messages for the next reply: the system prompt and first user turn always, then the latest
    turns: the last `2 * history + 1` (the latest observation and `history` exchanges before it), or as
    many as fit in `max_chars`, starting on an assistant turn so roles alternate."""
    head, rest = turns[:2], turns[2:]
    if history is not None:
        window = rest[max(0, len(rest) - (2 * history + 1)):]
        return chat_messages(head + window)
    budget = max_chars - sum(len(t.text) for t in head)
    kept: list[Turn] = []
    for turn in reversed(rest):
        if budget - len(turn.text) < 0:
            break
        budget -= len(turn.text)
        kept.append(turn)
    kept.reverse()
    while kept and kept[0].role != "assistant":
        kept.pop(0)
    messages = chat_messages(head)
    if len(kept) < len(rest):
        messages[-1]["content"] += f"\n\n[{len(rest) - len(kept)} earlier messages omitted]"
    return messages + chat_messages(kept)


class _LLMFailure(RuntimeError):
    """The LLM failed to answer (as opposed to the environment failing)."""


class Runner:
    """Runs episodes of one environment with an LLM (or the env's expert, `llm=None`)."""

    def __init__(self, llm: LLM | None, env: AsyncEnvClient, strategies: list[Strategy] | None = None,
                 config: RunnerConfig | None = None, action_format: ActionFormat | None = None):
        self.llm = llm
        self.env = env
        self.strategies = list(strategies or [])
        self.config = config or RunnerConfig()
        self.action_format = action_format or ReAct()
        self._info: dict | None = None
        self.tools: list[Tool] = []
        self._reworded_tools: list[Tool] = []  # the tools in the reworded split's words, where the env has them

    @property
    def expert_mode(self) -> bool:
        return self.llm is None

    @property
    def model_name(self) -> str:
        return "expert" if self.llm is None else self.llm.model

    async def info(self) -> dict:
        """The env's metadata (and, once, the LLM's model name), fetched on first use."""
        if self._info is None:
            if self.llm is not None:
                await self.llm.resolve_model()
            self._info = await self.env.info()
            tools = self._info.get("tools")  # servers older than tool declarations list none
            self.tools = [Tool.from_dict(t) for t in tools] if tools else [default_tool(self._info["action_format"])]
            reworded = self._info.get("reworded", {}).get("tools")  # servers before reworded tools list none
            self._reworded_tools = [Tool.from_dict(t) for t in reworded] if reworded else self.tools
        return self._info

    # -- one episode -------------------------------------------------------------------------
    async def run_episode(self, task_id: str, episode: int = 0, attempt: int = 0,
                          reflection: str | None = None) -> Trajectory:
        """Play one episode and return its full trajectory (errors end it and are recorded, not raised)."""
        info = await self.info()
        traj = Trajectory(env=info["name"], task_id=task_id, split="", model=self.model_name, episode=episode,
                          attempt=attempt, feedback=[s.name for s in self.strategies],
                          sampling=self.config.sampling.to_dict(), history=self.config.history,
                          action_format=self.action_format.name)
        t0 = time.monotonic()
        session: AsyncEnvSession | None = None
        try:
            session = await self.env.session(task_id=task_id, max_steps=self.config.max_steps)
            traj.split = session.split
            await self._play(session, traj, info, reflection)
        except Exception as exc:  # an env or LLM failure ends this episode only
            log.warning("episode %s/%s ended by %s: %s", task_id, episode, type(exc).__name__, exc)
            traj.error = f"{type(exc).__name__}: {exc}"
            traj.ended = "llm_error" if isinstance(exc, _LLMFailure) else "env_error"
            traj.aborted = is_infrastructure_failure(exc.__cause__ if isinstance(exc, _LLMFailure) else exc)
        finally:
            if session is not None:
                try:
                    await session.close()
                except Exception:
                    pass  # already closed by the server (env failure, expiry)
            traj.duration_s = time.monotonic() - t0
        return traj

    async def _play(self, session: AsyncEnvSession, traj: Trajectory, info: dict, reflection: str | None) -> None:
        """The episode's loop: the agent replies, strategies may correct it, the env steps, the agent is told
        what happened; until the env says done or the agent is given up on."""
        ctx = EpisodeContext(task_id=traj.task_id, last_observation=session.observation.text,
                             fetch_plan=lambda: self.env.expert_plan(traj.task_id),
                             tools=self._reworded_tools if traj.split == REWORDED else self.tools)
        if not isinstance(self.action_format, ReAct):
            traj.tools = [t.schema() for t in ctx.tools]
        traj.turns += self._instruction(session, ctx, traj.split, info, reflection)
        ended = None
        while ended is None:
            turn, error = await self._reply(ctx, traj)
            if error is None:
                ended = await self._step(session, ctx, traj, turn)
            else:  # the reply did not parse and no strategy corrected it: nothing to step
                told = await self._first("on_unparsable", ctx, turn.text, error) or error
                ended = self._erred(ctx, traj, turn, told, observation="")
        traj.ended = ended
        if ended == "gave_up":
            traj.error = f"gave up after {ctx.errors_in_row} erroneous turns in a row"

    def _instruction(self, session: AsyncEnvSession, ctx: EpisodeContext, split: str, info: dict,
                     reflection: str | None) -> list[Turn]:
        """The system prompt and the first user message: the env's instruction, its first observation, and the
        lesson of an earlier attempt."""
        words = info.get("reworded", info) if split == REWORDED else info  # the reworded split's own words
        observation = observation_message(session.observation.text, session.observation.available_actions)
        first = first_user_message(words["instruction"], words["action_format"],
                                   observation.removeprefix("Observation: "), reflection)
        return [Turn("system", self.action_format.system_prompt(ctx.tools), kind="instruction"),
                Turn("user", first, kind="instruction")]

    async def _reply(self, ctx: EpisodeContext, traj: Trajectory) -> tuple[Turn, str | None]:
        """The agent's next turn, parsed, or the turn a strategy put in its place; with the parser's error
        when the reply did not parse and was not corrected."""
        turn = await self._act(ctx, traj.turns)
        traj.turns.append(turn)
        parsed = self.action_format.parse(turn.text, turn.tool_calls, ctx.tools)
        turn.action = parsed.action
        fix = await self._first("before_step", ctx, parsed.action, parsed.error)
        if fix is None:
            return turn, parsed.error
        # the strategy overrules the agent: its turn is erroneous, and the corrected turn is what runs
        turn.erroneous, turn.valid = True, False
        traj.turns.append(Turn("user", f"Teacher: that is not the right action here. Do this instead: {fix}",
                               kind="teacher", feedback=True))
        text, calls = self.action_format.write(fix, "I follow the teacher's correction.", ctx.tools)
        traj.turns.append(Turn("assistant", text, kind="action", action=fix, refinement=True, tool_calls=calls))
        return traj.turns[-1], None

    async def _act(self, ctx: EpisodeContext, turns: list[Turn]) -> Turn:
        """The LLM's reply to the context so far, or the expert's next planned action."""
        if self.llm is None:
            plan, k = await ctx.expert_plan(), len(ctx.executed)
            if plan is None or k >= len(plan):
                raise RuntimeError("the expert's plan is exhausted before the episode ended")
            thought = ctx.thoughts[k] if ctx.thoughts else f"The next step toward the goal is: {plan[k]}."
            text, calls = self.action_format.write(plan[k], thought, ctx.tools)
            return Turn("assistant", text, kind="action", tool_calls=calls)
        t = time.monotonic()
        try:
            context = build_context(turns, self.config.max_context_chars, self.config.history)
            sampling = self.action_format.sampling(self.config.sampling, ctx.tools)
            reply = (await self.llm.chat(context, sampling))[0]
        except Exception as exc:
            raise _LLMFailure(f"{type(exc).__name__}: {exc}") from exc
        return Turn("assistant", reply.text, kind="action", prompt_tokens=reply.prompt_tokens,
                    completion_tokens=reply.completion_tokens, latency_s=time.monotonic() - t,
                    tool_calls=reply.tool_calls)

    async def _step(self, session: AsyncEnvSession, ctx: EpisodeContext, traj: Trajectory, turn: Turn) -> str | None:
        """Run the turn's action in the env and record what the agent sees next; how the episode ended, if it did."""
        result = await session.step(turn.action)
        traj.steps += 1
        traj.reward += result.reward
        traj.score = float(result.info.get("score", traj.score) or 0.0)
        turn.valid, turn.reward = bool(result.info.get("valid", True)), result.reward
        ctx.last_observation = result.observation.text
        obs = observation_message(result.observation.text, result.observation.available_actions)
        for strategy in self.strategies:
            await strategy.after_step(ctx, turn)
        gave_up = None
        if turn.valid:
            ctx.executed.append(turn.action)
            ctx.errors_in_row = 0
            traj.turns.append(Turn("user", obs, kind="observation"))
        else:
            error = result.info.get("error") or result.observation.text
            told = await self._first("on_invalid_action", ctx, turn.action, error, obs)
            gave_up = self._erred(ctx, traj, turn, told, observation=obs)
        if result.done:
            traj.won = bool(result.info.get("won", False))
            return "won" if traj.won else "lost" if result.terminated else "out_of_steps"
        return gave_up

    def _erred(self, ctx: EpisodeContext, traj: Trajectory, turn: Turn, told: str | None,
               observation: str) -> str | None:
        """The one rule for an unparsable reply and an invalid action: the turn is erroneous; the agent is told
        `told` (a feedback turn) or, when nothing is told, sees the plain `observation`; after more than
        `max_retries` erroneous turns in a row the agent was told about, it is given up on ("gave_up")."""
        turn.valid, turn.erroneous = False, True
        traj.invalid_actions += 1
        ctx.errors_in_row += 1
        if told is None:
            traj.turns.append(Turn("user", observation, kind="observation"))
            return None
        traj.turns.append(Turn("user", told, kind="feedback", feedback=True))
        return "gave_up" if ctx.errors_in_row > self.config.max_retries else None

    async def _first(self, hook: str, ctx: EpisodeContext, *args) -> str | None:
        """The first answer a strategy's `hook` gives (strategies are asked in order), or None."""
        for strategy in self.strategies:
            answer = await getattr(strategy, hook)(ctx, *args)
            if answer:
                return answer
        return None

    # -- many episodes -----------------------------------------------------------------------
    def is_last_attempt(self, traj: Trajectory) -> bool:
        """True when no further attempt at its task follows `traj`: only an LLM tries again, after an
        episode that was played to its end, when a strategy asks for another attempt."""
        return self.llm is None or traj.aborted or not any(s.another_attempt(traj) for s in self.strategies)

    async def _lesson(self, traj: Trajectory) -> str | None:
        """What the strategies' `after_episode` hooks carry from `traj` into the next attempt (they are called
        after every episode an LLM played to its end, not after an infrastructure failure)."""
        if self.llm is None or traj.aborted:
            return None
        lessons = [await s.after_episode(self.llm, traj) for s in self.strategies]
        return "\n".join(lesson for lesson in lessons if lesson) or None

    async def run_task(self, task_id: str, episode: int = 0, previous: Trajectory | None = None,
                       on_trajectory: Callable[[Trajectory], None] | None = None) -> list[Trajectory]:
        """One task, with further attempts (carrying lessons) while a strategy asks for them; `previous` is a
        stored attempt to continue after. Each attempt goes to `on_trajectory` as it ends."""
        out: list[Trajectory] = []
        attempt, lesson = 0, None
        if previous is not None:
            if self.is_last_attempt(previous):
                return out
            attempt, lesson = previous.attempt + 1, await self._lesson(previous)
        while True:
            traj = await self.run_episode(task_id, episode, attempt, lesson)
            out.append(traj)
            if on_trajectory is not None:
                on_trajectory(traj)
            lesson = await self._lesson(traj)
            if self.is_last_attempt(traj):
                return out
            attempt += 1

    async def run(self, jobs: list[tuple[int, str]], on_trajectory: Callable[[Trajectory], None] | None = None,
                  limit: asyncio.Semaphore | None = None,
                  previous: dict[tuple[str, int], Trajectory] | None = None) -> list[Trajectory]:
        """Run `(episode index, task id)` jobs, at most `concurrency` at once (or as many as `limit`, a
        semaphore shared with other runs); each trajectory is handed to `on_trajectory` as soon as it is
        finished (to be stored before anything else can fail). `previous` maps (task id, episode) to an
        attempt already played, to continue after it."""
        sem = limit or asyncio.Semaphore(self.config.concurrency)
        results: list[Trajectory] = []
        previous = previous or {}

        def record(traj: Trajectory) -> None:
            results.append(traj)
            if on_trajectory is not None:
                on_trajectory(traj)

        async def one(episode: int, task_id: str) -> None:
            async with sem:
                await self.run_task(task_id, episode, previous.get((task_id, episode)), record)

        await asyncio.gather(*(one(e, t) for e, t in jobs))
        return results
