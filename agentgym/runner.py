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


def transcript(traj: Trajectory, max_chars: int = 3000) -> str:
    """A readable summary of an episode, for reflections."""
    lines = [t.text for t in traj.turns[1:2]]
    lines += [f"> {t.action}" if t.role == "assistant" else t.text for t in traj.turns[2:]]
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[:1000] + "\n...\n" + text[-(max_chars - 1000):]


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

    @property
    def expert_mode(self) -> bool:
        return self.llm is None

    @property
    def model_name(self) -> str:
        return "expert" if self.llm is None else self.llm.model

    def _any(self, attr: str) -> bool:
        return any(getattr(s, attr) for s in self.strategies)

    async def info(self) -> dict:
        """The env's metadata (and, once, the LLM's model name), fetched on first use."""
        if self._info is None:
            if self.llm is not None:
                await self.llm.resolve_model()
            self._info = await self.env.info()
            tools = self._info.get("tools")  # servers older than tool declarations list none
            self.tools = [Tool.from_dict(t) for t in tools] if tools else [default_tool(self._info["action_format"])]
        return self._info

    # -- one episode -------------------------------------------------------------------------
    async def run_episode(self, task_id: str, episode: int = 0, attempt: int = 0,
                          reflection: str | None = None) -> Trajectory:
        """Play one episode and return its full trajectory (errors end it and are recorded, not raised)."""
        info = await self.info()
        traj = Trajectory(env=info["name"], task_id=task_id, split="", model=self.model_name, episode=episode,
                          attempt=attempt, feedback=[s.name for s in self.strategies],
                          sampling=self.config.sampling.to_dict(), history=self.config.history,
                          action_format=self.action_format.name,
                          tools=[] if isinstance(self.action_format, ReAct) else [t.schema() for t in self.tools])
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

    async def _act(self, ctx: EpisodeContext, turns: list[Turn]) -> Turn:
        if self.llm is None:
            k = len(ctx.executed)
            if ctx.plan is None or k >= len(ctx.plan):
                raise RuntimeError("the expert's plan is exhausted before the episode ended")
            thought = ctx.thoughts[k] if ctx.thoughts else f"The next step toward the goal is: {ctx.plan[k]}."
            text, calls = self.action_format.write(ctx.plan[k], thought, self.tools)
            return Turn("assistant", text, kind="action", tool_calls=calls)
        t = time.monotonic()
        try:
            context = build_context(turns, self.config.max_context_chars, self.config.history)
            sampling = self.action_format.sampling(self.config.sampling, self.tools)
            reply = (await self.llm.chat(context, sampling))[0]
        except Exception as exc:
            raise _LLMFailure(f"{type(exc).__name__}: {exc}") from exc
        return Turn("assistant", reply.text, kind="action", prompt_tokens=reply.prompt_tokens,
                    completion_tokens=reply.completion_tokens, latency_s=time.monotonic() - t,
                    tool_calls=reply.tool_calls)

    async def _correction(self, ctx: EpisodeContext, proposed: str | None, error: str | None) -> str | None:
        for strategy in self.strategies:
            fix = await strategy.correct(ctx, proposed, error)
            if fix:
                return fix
        return None

    async def _play(self, session: AsyncEnvSession, traj: Trajectory, info: dict, reflection: str | None) -> None:
        ctx = EpisodeContext(task_id=traj.task_id, last_observation=session.observation.text)
        if self.expert_mode or self._any("needs_plan"):
            plan = await self.env.expert_plan(traj.task_id)
            ctx.plan, ctx.thoughts = plan["actions"], plan.get("thoughts")
        words = info.get("reworded", info) if traj.split == REWORDED else info  # the reworded split's own words
        first = first_user_message(words["instruction"], words["action_format"],
                                   observation_message(session.observation.text, session.observation.available_actions)
                                   .removeprefix("Observation: "), reflection)
        turns = traj.turns
        system = self.action_format.system_prompt(self.tools)
        turns += [Turn("system", system, kind="instruction"), Turn("user", first, kind="instruction")]
        tell, flag_recovery = self._any("feedback_on_error"), self._any("flags_refinement")
        errors_in_row, after_error = 0, False
        while True:
            turn = await self._act(ctx, turns)
            turns.append(turn)
            parsed = self.action_format.parse(turn.text, turn.tool_calls, self.tools)
            turn.action = parsed.action
            fix = await self._correction(ctx, parsed.action, parsed.error)
            if fix is None and parsed.error:
                turn.valid, turn.erroneous = False, True
                traj.invalid_actions += 1
                errors_in_row, after_error = errors_in_row + 1, True
                turns.append(Turn("user", parsed.error, kind="feedback", feedback=True))
                if errors_in_row > self.config.max_retries:
                    traj.error, traj.ended = f"gave up after {errors_in_row} erroneous turns in a row", "gave_up"
                    return
                continue
            if fix is not None:  # the teacher overrules the agent; the corrected turn is what runs
                turn.erroneous, turn.valid = True, False
                turns.append(Turn("user", f"Teacher: that is not the right action here. Do this instead: {fix}",
                                  kind="teacher", feedback=True))
                text, calls = self.action_format.write(fix, "I follow the teacher's correction.", self.tools)
                turn = Turn("assistant", text, kind="action", action=fix, refinement=True, tool_calls=calls)
                turns.append(turn)
            result = await session.step(turn.action)
            traj.steps += 1
            traj.reward += result.reward
            traj.score = float(result.info.get("score", traj.score) or 0.0)
            turn.valid, turn.reward = bool(result.info.get("valid", True)), result.reward
            ctx.last_observation = result.observation.text
            obs = observation_message(result.observation.text, result.observation.available_actions)
            if turn.valid:
                ctx.executed.append(turn.action)
                if after_error and flag_recovery:
                    turn.refinement = True
                errors_in_row, after_error = 0, False
                turns.append(Turn("user", obs, kind="observation"))
            else:
                turn.erroneous = True
                traj.invalid_actions += 1
                errors_in_row, after_error = errors_in_row + 1, True
                error = result.info.get("error") or result.observation.text
                if tell:
                    turns.append(Turn("user", f"Your action '{turn.action}' was not accepted: {error}\n"
                                      f"Try a different action.\n{obs}", kind="feedback", feedback=True))
                else:
                    turns.append(Turn("user", obs, kind="observation"))
            if result.done:
                traj.won = bool(result.info.get("won", False))
                traj.ended = "won" if traj.won else "lost" if result.terminated else "out_of_steps"
                return
            if tell and errors_in_row > self.config.max_retries:
                traj.error, traj.ended = f"gave up after {errors_in_row} erroneous turns in a row", "gave_up"
                return

    # -- many episodes -----------------------------------------------------------------------
    @property
    def attempts(self) -> int:
        """Attempts per task: more than one only when a reflection strategy asks and an LLM plays."""
        if self.llm is None or not any(s.attempts > 1 for s in self.strategies):
            return 1
        return max(s.attempts for s in self.strategies)

    def is_last_attempt(self, traj: Trajectory) -> bool:
        """True when no further attempt at its task follows `traj`."""
        return traj.won or traj.aborted or traj.attempt + 1 >= self.attempts

    async def run_task(self, task_id: str, episode: int = 0, previous: Trajectory | None = None,
                       on_trajectory: Callable[[Trajectory], None] | None = None) -> list[Trajectory]:
        """One task, with further attempts carrying reflections when a `reflect` strategy asks for them;
        `previous` is a stored attempt to continue after. Each attempt goes to `on_trajectory` as it ends."""
        reflector = next((s for s in self.strategies if s.attempts > 1), None)
        out: list[Trajectory] = []
        start, reflection = 0, None
        if previous is not None:
            if self.is_last_attempt(previous):
                return out
            start = previous.attempt + 1
            reflection = await reflector.reflect(self.llm, transcript(previous))
        for attempt in range(start, self.attempts):
            traj = await self.run_episode(task_id, episode, attempt, reflection)
            out.append(traj)
            if on_trajectory is not None:
                on_trajectory(traj)
            if self.is_last_attempt(traj):
                break
            reflection = await reflector.reflect(self.llm, transcript(traj))
        return out

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
