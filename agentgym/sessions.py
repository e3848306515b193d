"""Environment sessions: one env instance each, its own lock, an idle TTL and a server-wide cap."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import anyio.to_thread

from agentgym.env import Env, Observation, StepResult
from agentgym.errors import BadRequest, EnvFailure, EpisodeDone, TooManySessions, UnknownSession, UnknownTask

log = logging.getLogger(__name__)


@dataclass
class Session:
    id: str
    env: Env
    task_id: str = ""
    split: str = ""
    requested_max_steps: int | None = None  # the client's budget; else the env's for the task (`max_steps_for`)
    max_steps: int = 50
    steps: int = 0
    done: bool = False
    total_reward: float = 0.0
    observation: Observation | None = None
    last_used: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SessionManager:
    """Owns every live session of one server process."""

    def __init__(self, env_factory: Callable[[], Env], max_sessions: int = 256, ttl: float = 600.0):
        self.env_factory = env_factory
        self.max_sessions = max_sessions
        self.ttl = ttl
        self.sessions: dict[str, Session] = {}
        self.catalog = env_factory()  # answers task lists and splits; never stepped
        self._tasks: dict[str, list[str]] = {}

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, split: str) -> list[str]:
        if split not in self._tasks:
            splits = type(self.catalog).info()["splits"]
            if split not in splits:
                raise BadRequest(f"unknown split '{split}': env '{self.catalog.name}' has splits {splits}")
            self._tasks[split] = list(self.catalog.tasks(split))
        return self._tasks[split]

    def split_of(self, task_id: str) -> str:
        return self.catalog.check_task(task_id)

    def resolve_task(self, task_id: str | None, split: str | None, index: int | None) -> tuple[str, str]:
        """(task_id, split) from either an id or a split plus index."""
        if task_id is not None:
            return task_id, self.split_of(task_id)
        split = split or "held_in"
        tasks = self.tasks(split)
        index = index or 0
        if index >= len(tasks):
            raise UnknownTask(f"split '{split}' has {len(tasks)} tasks; index {index} is out of range")
        return tasks[index], split

    async def expert(self, task_id: str, seed: int | None) -> tuple[list[str], list[str] | None]:
        """The expert's actions for a task, and its reasons for them where the env gives them."""
        self.split_of(task_id)
        catalog = self.catalog

        def plan() -> tuple[list[str], list[str] | None]:
            return catalog.expert(task_id, seed), catalog.expert_thoughts(task_id, seed)

        return await self._call(catalog, plan)

    # -- lifecycle ---------------------------------------------------------------------------
    async def create(self, task_id: str, split: str, seed: int | None, max_steps: int | None) -> Session:
        if len(self.sessions) >= self.max_sessions:
            await self.reap()
        if len(self.sessions) >= self.max_sessions:
            raise TooManySessions(
                f"this server holds its maximum of {self.max_sessions} sessions: close finished "
                "sessions (DELETE /sessions/{id}), wait for idle ones to expire, or start the server "
                "with a larger --max-sessions"
            )
        sid = secrets.token_hex(8)
        env = await anyio.to_thread.run_sync(self.env_factory)
        session = Session(id=sid, env=env, requested_max_steps=max_steps)
        self.sessions[sid] = session  # reserve the slot before the (possibly slow) reset
        async with session.lock:
            await self._reset(session, task_id, split, seed)
        return session

    def get(self, sid: str) -> Session:
        session = self.sessions.get(sid)
        if session is None:
            raise UnknownSession(
                f"unknown session '{sid}': it was closed, expired after {self.ttl:.0f} s idle, or "
                "belongs to another server; create one with POST /sessions"
            )
        session.last_used = time.monotonic()
        return session

    async def reset(self, session: Session, task_id: str | None, seed: int | None) -> Session:
        async with session.lock:
            task_id = task_id or session.task_id
            await self._reset(session, task_id, self.split_of(task_id), seed)
        return session

    async def step(self, session: Session, action: str) -> StepResult:
        async with session.lock:  # steps of one session never interleave
            if session.done:
                raise EpisodeDone(
                    f"session '{session.id}' has finished its episode (task '{session.task_id}'): "
                    "reset it (POST /sessions/{id}/reset) or create a new one"
                )
            result: StepResult = await self._call(session, session.env.step, action)
            session.steps += 1
            session.total_reward += result.reward
            if not result.terminated and session.steps >= session.max_steps:  # the one place budgets are enforced
                result.truncated = True
                spent = f"\n\nThe step budget ({session.max_steps}) is spent: the episode is over."
                result.observation = replace(result.observation, text=result.observation.text + spent)
            session.observation = result.observation
            session.done = result.done
            session.last_used = time.monotonic()
            return result

    async def close(self, sid: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is None:
            raise UnknownSession(f"unknown session '{sid}': already closed or expired")
        await self._dispose(session)

    async def close_all(self) -> None:
        for sid in list(self.sessions):
            await self._dispose(self.sessions.pop(sid))
        self.catalog.close()

    # -- internals ---------------------------------------------------------------------------
    async def _reset(self, session: Session, task_id: str, split: str, seed: int | None) -> None:
        session.observation = await self._call(session, session.env.reset, task_id, seed)
        session.task_id, session.split = task_id, split
        session.max_steps = session.requested_max_steps or session.env.max_steps_for(task_id)
        session.steps, session.done, session.total_reward = 0, False, 0.0
        session.last_used = time.monotonic()

    async def _call(self, owner: Session | Env, fn: Callable, *args: Any) -> Any:
        """Run env code off the event loop; an exception ends only this session."""
        env = owner.env if isinstance(owner, Session) else owner
        try:
            if env.inline_step:
                return fn(*args)
            return await anyio.to_thread.run_sync(fn, *args)
        except (UnknownTask, EpisodeDone):
            raise
        except Exception as exc:
            log.exception("environment %s raised in %s", env.name, getattr(fn, "__name__", fn))
            if isinstance(owner, Session):
                self.sessions.pop(owner.id, None)
                await self._dispose(owner)
                where = f"session '{owner.id}' is closed"
            else:
                where = "no session was affected"
            raise EnvFailure(f"environment '{env.name}' failed: {type(exc).__name__}: {exc} ({where})") from exc

    async def _dispose(self, session: Session) -> None:
        try:
            await anyio.to_thread.run_sync(session.env.close)
        except Exception:
            log.exception("closing session %s failed", session.id)

    async def reap(self) -> int:
        """Close sessions idle longer than the TTL (never one that is mid-step)."""
        now = time.monotonic()
        expired = [
            s for s in self.sessions.values() if now - s.last_used > self.ttl and not s.lock.locked()
        ]
        for s in expired:
            if self.sessions.pop(s.id, None) is not None:
                log.info("session %s expired after %.0f s idle", s.id, now - s.last_used)
                await self._dispose(s)
        return len(expired)

    async def run_reaper(self) -> None:
        interval = max(0.05, min(self.ttl / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            await self.reap()
