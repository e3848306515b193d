"""A person plays an environment through the agents' own runner: the person is the policy.

`HumanPolicy` is an `LLM` whose replies come from the play page, so the episode goes through the same
runner, client and protocol as an agent's, and what it records is a trajectory like any other (with the
same flags for erroneous and refined turns), ready to be saved as a human demonstration for SFT.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from typing import Any

import aiohttp

from agentgym.client import AsyncEnvClient, AsyncEnvSession
from agentgym.env_server import EnvServer
from agentgym.errors import AgentGymError, BadRequest, EpisodeDone, Unauthorized
from agentgym.feedback import make_strategies
from agentgym.llm import LLM, Completion, Messages, Sampling
from agentgym.runner import Runner, RunnerConfig
from agentgym.server import NotFound
from agentgym.trajectory import Trajectory

log = logging.getLogger(__name__)

HUMAN = "human"
DEFAULT_THOUGHT = "I choose the next action."
MAX_PLAYS = 32


class HumanPolicy(LLM):
    """The runner's policy for a person: each `chat` waits until `answer` gives the person's reply."""

    model = HUMAN

    def __init__(self) -> None:
        self.prompt: Messages = []  # the conversation the person is answering
        self.asked = asyncio.Event()  # set while a reply is awaited
        self._reply: asyncio.Future[str] | None = None

    async def chat(self, messages: Messages, sampling: Sampling, n: int = 1) -> list[Completion]:
        self.prompt = messages
        self._reply = asyncio.get_running_loop().create_future()
        self.asked.set()
        text = await self._reply
        return [Completion(text, 0, 0, "stop")]  # no model tokens: a person wrote it

    def answer(self, text: str) -> None:
        if self._reply is None or self._reply.done():
            raise EpisodeDone("no action is awaited: the episode is over or still applying the last action")
        self.asked.clear()
        self._reply.set_result(text)


class _SessionKeepingClient(AsyncEnvClient):
    """An `AsyncEnvClient` that keeps the session the runner opens, so that its page can be shown."""

    current: AsyncEnvSession | None = None

    async def session(self, *args: Any, **kwargs: Any) -> AsyncEnvSession:
        self.current = await super().session(*args, **kwargs)
        return self.current


def reply_text(action: str, thought: str = "") -> str:
    """A ReAct reply, as an agent writes it, from what the person typed."""
    action = " ".join(action.split())
    if not action:
        raise BadRequest("write an action (or click one) before sending")
    thought = " ".join(thought.split()) or DEFAULT_THOUGHT
    return f"Thought: {thought}\nAction: {action}"


class Play:
    """One episode a person plays on an env server, run by the runner in the viewer's event loop."""

    def __init__(self, play_id: str, url: str, task_id: str, token: str | None = None, feedback: str = "refine"):
        self.id, self.url, self.task_id = play_id, url, task_id
        self.client = _SessionKeepingClient(url, token=token)
        self.policy = HumanPolicy()
        # People may err as often as they like; nothing of the conversation is cut.
        config = RunnerConfig(sampling=Sampling(temperature=0.0), max_retries=10**6, max_context_chars=10**9)
        self.runner = Runner(self.policy, self.client, make_strategies(feedback), config)
        self.task: asyncio.Task[Trajectory] | None = None
        self.info: dict[str, Any] = {}
        self.has_page: bool | None = None  # does the env render HTML pages (found out on first use)
        self.saved_as: str | None = None

    async def start(self) -> None:
        try:
            self.info = await self.runner.info()
        except AgentGymError as exc:
            if isinstance(exc, Unauthorized):
                raise
            self.info = {"error": exc.message}
        if not isinstance(self.info, dict) or "name" not in self.info:
            raise BadRequest(f"{self.url} does not answer like an AgentGym env server (GET /info: {self.info!r:.200})")
        self.task = asyncio.create_task(self.runner.run_episode(self.task_id))
        await self._settle()
        traj = self.trajectory
        if traj is not None and traj.error and not traj.steps and self.client.current is None:
            raise BadRequest(f"could not start {self.task_id} on {self.url}: {traj.error}")

    async def _settle(self) -> None:
        """Wait until the runner asks the person for the next reply or the episode ends."""
        assert self.task is not None
        asked = asyncio.ensure_future(self.policy.asked.wait())
        try:
            await asyncio.wait({asked, self.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()

    async def act(self, action: str, thought: str = "") -> None:
        """Send the person's action (with an optional thought) and wait for its outcome."""
        if self.done:
            raise EpisodeDone(f"the episode of {self.task_id} is over: save it or start another")
        self.policy.answer(reply_text(action, thought))
        await self._settle()

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    @property
    def trajectory(self) -> Trajectory | None:
        if not self.done or self.task is None or self.task.cancelled():
            return None
        return self.task.result()

    @property
    def observation(self):
        session = self.client.current
        return session.observation if session is not None else None

    async def page(self) -> str | None:
        """The env's current page as HTML, or None when the env has none (or the episode is over)."""
        session = self.client.current
        if self.has_page is False or session is None or self.done:
            return None
        try:
            html = await session.html()
        except AgentGymError as exc:
            if exc.status == 404 and "HTML view" in exc.message:
                self.has_page = False
            else:  # the session expired or the env failed: the play screen shows the text instead
                log.warning("play %s: no page from %s: %s", self.id, self.url, exc)
            return None
        self.has_page = True
        return html

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        await self.client.close()


class PlayManager:
    """The open plays, and the env servers the viewer started for them (stopped when it stops)."""

    def __init__(self) -> None:
        self.plays: dict[str, Play] = {}
        self.servers: dict[str, EnvServer] = {}
        self._ids = itertools.count(1)
        self._starting = asyncio.Lock()

    async def server_for(self, env: str) -> tuple[str, str]:
        """(URL, token) of a server of registered env `env`, started on first use with a token of its own."""
        from agentgym.registry import available

        if env.replace("-", "_") not in available():
            raise BadRequest(f"unknown environment '{env}': registered are {', '.join(available())}")
        async with self._starting:
            if env not in self.servers:
                server = EnvServer(env, max_sessions=MAX_PLAYS, token=secrets.token_hex(16))
                await asyncio.to_thread(server.start)
                self.servers[env] = server
        server = self.servers[env]
        return server.url, server.token

    async def open(self, url: str, token: str | None, task_id: str | None, split: str, index: int,
                   feedback: str = "refine") -> Play:
        """Start a play on a task (by id, or the `index`-th of `split`) of the server at `url`."""
        if len([p for p in self.plays.values() if not p.done]) >= MAX_PLAYS:
            raise BadRequest(f"{MAX_PLAYS} plays are open: finish or close one first")
        try:
            make_strategies(feedback)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        try:
            if not task_id:
                async with AsyncEnvClient(url, token=token) as client:
                    tasks = await client.tasks(split)
                if not 0 <= index < len(tasks):
                    raise BadRequest(f"split {split} of {url} has {len(tasks)} tasks: index {index} is out of range")
                task_id = tasks[index]
            play = Play(f"{next(self._ids)}-{secrets.token_hex(4)}", url, task_id, token, feedback)
            try:
                await play.start()
            except BaseException:
                await play.close()
                raise
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise BadRequest(f"cannot reach an env server at {url}: {type(exc).__name__}: {exc}") from None
        except Unauthorized as exc:  # the env server's token, not the viewer's
            raise BadRequest(f"the env server at {url} refused the token: {exc.message}") from None
        self.plays[play.id] = play
        return play

    def get(self, play_id: str) -> Play:
        play = self.plays.get(play_id)
        if play is None:
            raise NotFound(f"no play '{play_id}': start one at /play")
        return play

    async def close(self) -> None:
        for play in self.plays.values():
            await play.close()
        for server in self.servers.values():
            await asyncio.to_thread(server.stop)
        self.plays.clear()
        self.servers.clear()
