"""Environment sessions: one env instance each, its own lock, an idle TTL and a server-wide cap.

Env code runs in worker threads, from two pools so that one kind of request cannot starve the other:
session calls (create, reset, step, close, pages) and expert computations on the catalog. A session's
lock is held by every call into its env, closing included, so an env is never closed under a step.
The steps (and pages) of an env that declares `inline_step`, and the resets of one that declares `inline_reset`,
run on the event loop instead: a thread hop and GIL hand-off cost about 0.8 ms a call, a quarter of a TextWorld
step, and more than an echo reset. A SIGALRM watchdog enforces the call timeout there (on the main thread,
where `agentgym serve` runs its loop; a server on another thread sends them to the pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from agentgym.env import Env, Observation, StepResult
from agentgym.errors import (
    BadRequest,
    EnvFailure,
    EnvTimeout,
    EpisodeDone,
    TooManySessions,
    UnknownSession,
    UnknownTask,
)

log = logging.getLogger(__name__)


class _Overran(BaseException):
    """Raised into an inline env call by the watchdog (a BaseException, so the env's `except Exception` cannot
    swallow it)."""


_armed = False  # a guarded inline call is running (always on the main thread)
_installed = False  # the SIGALRM handler is in place (once per process)


def _overran(signum: int, frame: Any) -> None:
    if _armed:  # a stray or late SIGALRM outside a guarded call is ignored
        raise _Overran


class _Watchdog:
    """SIGALRM around one inline env call on the main thread: `_Overran` is raised into it once it has run
    `seconds`, then again every 50 ms until it leaves (should the env swallow one with a bare `except:`). Code
    stuck in C is interrupted when it returns to the interpreter; a call that returns just as the alarm fires
    may still count as overrun. A process with inline envs owns SIGALRM and the real-time interval timer (the
    handler is installed at the first guarded call). Two `setitimer` calls a guarded call, a few microseconds."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        global _armed, _installed
        if not _installed:
            signal.signal(signal.SIGALRM, _overran)
            _installed = True
        _armed = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds, 0.05)

    def __exit__(self, *exc: object) -> None:
        global _armed
        _armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)


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
    closed: bool = False  # set under the lock: a request that waited for the lock must not use the env
    last_used: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SessionManager:
    """Owns every live session of one server process."""

    def __init__(self, env_factory: Callable[[], Env], max_sessions: int = 256, ttl: float = 600.0,
                 call_timeout: float | None = None, session_workers: int = 32, expert_workers: int = 4):
        self.env_factory = env_factory
        self.max_sessions = max_sessions
        self.ttl = ttl
        self.call_timeout = call_timeout  # seconds an env call may take before its session is given up
        self.sessions: dict[str, Session] = {}
        self.catalog = env_factory()  # answers task lists, splits and experts; never stepped
        self._tasks: dict[str, list[str]] = {}
        self._creating = 0  # slots reserved by creations still under way
        self._session_pool = ThreadPoolExecutor(session_workers, thread_name_prefix="env-session")
        self._expert_pool = ThreadPoolExecutor(expert_workers, thread_name_prefix="env-expert")
        self._deferred: set[asyncio.Task] = set()  # closes waiting for a timed-out call to return

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, split: str) -> list[str]:
        if split not in self._tasks:
            splits = type(self.catalog).info()["splits"]
            if split not in splits:
                raise BadRequest(f"unknown split '{split}': env '{self.catalog.name}' has splits {splits}")
            self._tasks[split] = list(self.catalog.tasks(split))
        return self._tasks[split]

    def split_of(self, task_id: str) -> str:
        try:
            return self.catalog.check_task(task_id)
        except UnknownTask:
            raise
        except Exception:  # an env may choke on an id of any shape: to the client it is just unknown
            shown = task_id if len(task_id) <= 80 else task_id[:80] + "..."
            raise UnknownTask(f"unknown task '{shown}' for env '{self.catalog.name}': list tasks with GET "
                              "/tasks?split=held_in") from None

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
        if len(self.sessions) + self._creating >= self.max_sessions:
            await self.reap()
        if len(self.sessions) + self._creating >= self.max_sessions:
            raise TooManySessions(
                f"this server holds its maximum of {self.max_sessions} sessions: close finished "
                "sessions (DELETE /sessions/{id}), wait for idle ones to expire, or start the server "
                "with a larger --max-sessions"
            )
        self._creating += 1  # the slot is taken before anything is awaited
        try:
            env = await self._call(self.catalog, self.env_factory)
            session = Session(id=secrets.token_hex(8), env=env, requested_max_steps=max_steps)
            self.sessions[session.id] = session
        finally:
            self._creating -= 1
        async with session.lock:
            try:
                await self._reset(session, task_id, split, seed)
            except (UnknownTask, EpisodeDone):  # refused by the env: the half-made session goes
                self.sessions.pop(session.id, None)
                await self._dispose(session)
                raise
        return session

    def get(self, sid: str) -> Session:
        session = self.sessions.get(sid)
        if session is None:
            raise self._unknown(sid)
        session.last_used = time.monotonic()
        return session

    async def reset(self, session: Session, task_id: str | None, seed: int | None) -> Session:
        async with session.lock:
            self._check_open(session)
            task_id = task_id or session.task_id
            await self._reset(session, task_id, self.split_of(task_id), seed)
        return session

    async def step(self, session: Session, action: str) -> StepResult:
        async with session.lock:  # steps of one session never interleave
            self._check_open(session)
            if session.done:
                raise EpisodeDone(
                    f"session '{session.id}' has finished its episode (task '{session.task_id}'): "
                    "reset it (POST /sessions/{id}/reset) or create a new one"
                )
            result: StepResult = await self._call(session, session.env.step, action, inline=session.env.inline_step)
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

    async def render(self, session: Session, render: Callable[[], str]) -> str:
        """The session's current page, rendered under its lock."""
        async with session.lock:
            self._check_open(session)
            return await self._call(session, render, inline=session.env.inline_step)

    async def close(self, sid: str) -> None:
        """Close a session; a call in flight on it finishes first."""
        session = self.sessions.pop(sid, None)
        if session is None:
            raise UnknownSession(f"unknown session '{sid}': already closed or expired")
        async with session.lock:
            await self._dispose(session)

    async def close_all(self) -> None:
        for sid in list(self.sessions):
            session = self.sessions.pop(sid)
            async with session.lock:
                await self._dispose(session)
        if self._deferred:  # sessions whose env call timed out: closed when that call returns
            await asyncio.wait(list(self._deferred), timeout=30)
        self.catalog.close()
        self._session_pool.shutdown(wait=False, cancel_futures=True)
        self._expert_pool.shutdown(wait=False, cancel_futures=True)

    # -- internals ---------------------------------------------------------------------------
    def _unknown(self, sid: str) -> UnknownSession:
        return UnknownSession(
            f"unknown session '{sid[:40]}': it was closed, expired after {self.ttl:.0f} s idle, or "
            "belongs to another server; create one with POST /sessions"
        )

    def _check_open(self, session: Session) -> None:
        """Raise for a session closed while this request waited for its lock."""
        if session.closed:
            raise self._unknown(session.id)

    async def _reset(self, session: Session, task_id: str, split: str, seed: int | None) -> None:
        session.observation = await self._call(session, session.env.reset, task_id, seed,
                                               inline=session.env.inline_reset)
        session.task_id, session.split = task_id, split
        session.max_steps = session.requested_max_steps or session.env.max_steps_for(task_id)
        session.steps, session.done, session.total_reward = 0, False, 0.0
        session.last_used = time.monotonic()

    async def _call(self, owner: Session | Env, fn: Callable, *args: Any, inline: bool = False) -> Any:
        """Run env code off the event loop (session calls and expert calls in pools of their own), or on it when
        `inline` (a session's cheap calls) and the watchdog can guard it, within the call timeout; an exception
        or a timeout ends only this session."""
        env = owner.env if isinstance(owner, Session) else owner
        # Inline only where the watchdog can guard the call (SIGALRM reaches the main thread alone), or where
        # there is no timeout to enforce.
        if inline and isinstance(owner, Session) and (
                not self.call_timeout or threading.current_thread() is threading.main_thread()):
            try:
                with _Watchdog(self.call_timeout) if self.call_timeout else contextlib.nullcontext():
                    return fn(*args)
            except _Overran:
                self.sessions.pop(owner.id, None)
                await self._dispose(owner)  # the call was interrupted: nothing runs in this env any more
                raise self._timed_out(env, fn, f"session '{owner.id}' is closed") from None
            except (UnknownTask, EpisodeDone):
                raise
            except Exception as exc:
                raise await self._failed(owner, fn, exc) from exc
        pool = self._session_pool if isinstance(owner, Session) or fn is self.env_factory else self._expert_pool
        future = asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.call_timeout)
        except TimeoutError:
            if isinstance(owner, Session):
                self.sessions.pop(owner.id, None)
                owner.closed = True
                self._dispose_later(owner, future)
                raise self._timed_out(env, fn, f"session '{owner.id}' is closed") from None
            raise self._timed_out(env, fn, "no session was affected") from None
        except (UnknownTask, EpisodeDone):
            raise
        except Exception as exc:
            raise await self._failed(owner, fn, exc) from exc

    def _timed_out(self, env: Env, fn: Callable, where: str) -> EnvTimeout:
        return EnvTimeout(f"environment '{env.name}' did not finish {getattr(fn, '__name__', 'call')} within "
                          f"{self.call_timeout:g} s ({where})")

    async def _failed(self, owner: Session | Env, fn: Callable, exc: Exception) -> EnvFailure:
        """Log an env exception, close the session it happened in, and say so in the error."""
        env = owner.env if isinstance(owner, Session) else owner
        log.error("environment %s raised in %s", env.name, getattr(fn, "__name__", fn), exc_info=exc)
        if isinstance(owner, Session):
            self.sessions.pop(owner.id, None)
            await self._dispose(owner)  # the caller holds the lock: nothing else runs in this env
            where = f"session '{owner.id}' is closed"
        else:
            where = "no session was affected"
        return EnvFailure(f"environment '{env.name}' failed: {type(exc).__name__}: {exc} ({where})")

    def _dispose_later(self, session: Session, call: asyncio.Future) -> None:
        """Close a session's env once its timed-out call has returned (never under the call)."""
        async def wait_then_dispose() -> None:
            try:
                await call
            except Exception:
                pass
            await self._dispose(session)

        task = asyncio.ensure_future(wait_then_dispose())
        self._deferred.add(task)
        task.add_done_callback(self._deferred.discard)

    async def _dispose(self, session: Session) -> None:
        session.closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._session_pool, session.env.close)
        except Exception:
            log.exception("closing session %s failed", session.id)

    async def reap(self) -> int:
        """Close sessions idle longer than the TTL; one in use is left alone, checked again under its lock."""
        expired = 0
        for s in list(self.sessions.values()):
            if time.monotonic() - s.last_used <= self.ttl or s.lock.locked():
                continue
            async with s.lock:
                idle = time.monotonic() - s.last_used
                if s.closed or idle <= self.ttl or self.sessions.get(s.id) is not s:
                    continue
                self.sessions.pop(s.id)
                log.info("session %s expired after %.0f s idle", s.id, idle)
                await self._dispose(s)
                expired += 1
        return expired

    async def run_reaper(self) -> None:
        interval = max(0.05, min(self.ttl / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            await self.reap()
