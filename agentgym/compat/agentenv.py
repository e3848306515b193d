"""AgentGym's wire format (the `agentenv` env clients) under `/agentgym` on every env server that declares it.

AgentGym's clients post to `{base}/create`, `{base}/reset`, `{base}/step`, `{base}/close`, read
`{base}/observation`, and name their env instance with a per-server field (`env_idx` for WebShop, `id` for
the others). An environment opts in with a class attribute `agentenv = AgentEnvSpec(...)` naming which of
AgentGym's servers it stands in for (`FAMILIES`: the shapes of each one's answers). `{base}` is
`http://host:port/agentgym` (their task index counts our held-in tasks) or `http://host:port/agentgym/held_out`.

Statuses: ours are kept (4xx/5xx JSON `{code, message}`) except where AgentGym's client reads an error
from a 200 answer: a step refused on LMRL-Gym's maze and wordle (an unknown or finished instance) answers
200 `{"error": ...}`, which their client turns into the end of the episode. AgentGym's ALFWorld, BabyAI and
TextCraft clients assert a 200 and then read `observation`: an error breaks them whichever way it comes, so
those keep our statuses too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.env import SPLITS, Observation, StepResult
from agentgym.errors import AgentGymError, BadRequest, UnknownSession
from agentgym.protocol import MAX_ACTION_CHARS, Route
from agentgym.sessions import Session, SessionManager


def _closed(ok: bool) -> Any:
    return {"closed": ok}


def _text(session: Session) -> Any:
    return session.observation.text


@dataclass(frozen=True)
class Family:
    """The answers of one of AgentGym's env servers: to create (the instance id, and the session where
    `create_opens`), reset (id, session, task index), step (result), close, and GET observation."""

    created: Callable[[int, Session | None], Any]
    reset: Callable[[int, Session, int], Any]
    step: Callable[[StepResult], Any]
    closed: Callable[[bool], Any] = _closed
    observation: Callable[[Session], Any] = _text
    id_field: str = "id"
    create_opens: bool = False  # TextCraft's create starts an episode at once (task 0 here)
    errors_in_200: bool = False  # LMRL-Gym's client ends the episode on a 200 {"error"}
    # optional fields of their create/reset bodies and the values served here (others are refused)
    fixed: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


def _sciworld_reset(idx: int, s: Session, index: int) -> dict[str, Any]:
    extra = s.observation.extra
    return {"task_name": extra.get("task_type", s.task_id), "var_num": extra.get("variation", index),
            "task_description": extra.get("task_description", ""), "observation": s.observation.text,
            "reward": 0.0, "score": 0.0, "deleted": False, "done": False}


def _plain_step(r: StepResult) -> dict[str, Any]:
    return {"observation": r.observation.text, "reward": r.reward, "done": r.done}


FAMILIES: dict[str, Family] = {
    "webshop": Family(
        created=lambda idx, s: idx, reset=lambda idx, s, index: [s.observation.text, None],
        step=lambda r: {"state": r.observation.text, "reward": r.reward, "done": r.done, "info": None},
        id_field="env_idx"),
    "sciworld": Family(
        created=lambda idx, s: {"id": idx}, reset=_sciworld_reset,
        step=lambda r: {"observation": r.observation.text, "reward": r.reward, "score": r.info.get("score", 0.0),
                        "done": r.done}),
    "lmrlgym": Family(
        created=lambda idx, s: {"id": idx}, reset=lambda idx, s, index: {"id": idx, "observation": s.observation.text},
        step=_plain_step, errors_in_200=True),
    "alfworld": Family(
        created=lambda idx, s: {"id": idx},
        reset=lambda idx, s, index: {"id": idx, "observation": s.observation.text,
                                     "available_actions": s.observation.available_actions or [],
                                     "task_type": s.task_id},
        step=lambda r: {**_plain_step(r), "available_actions": r.observation.available_actions or []},
        fixed={"world_type": ("Text",)}),
    "babyai": Family(  # their client takes `score` as the step's reward
        created=lambda idx, s: {"id": idx},
        reset=lambda idx, s, index: {"observation": s.observation.text, "reward": 0.0, "score": 0.0,
                                     "deleted": False, "done": False},
        step=lambda r: {**_plain_step(r), "score": r.reward}, closed=bool,
        observation=lambda s: {"observation": s.observation.text, "reward": s.total_reward,
                               "score": s.total_reward, "done": s.done, "deleted": False}),
    "textcraft": Family(
        created=lambda idx, s: {"id": idx, "observation": s.observation.text, "done": False, "reward": 0},
        reset=lambda idx, s, index: {"id": idx, "observation": s.observation.text, "done": False, "reward": 0},
        step=_plain_step, closed=bool, create_opens=True, fixed={"commands": (None,), "goal": (None,)}),
}


@dataclass(frozen=True)
class AgentEnvSpec:
    """How AgentGym's client of an environment speaks: which of their servers' shapes (`FAMILIES`), the
    name of the reset body's task index, a translation of their actions into ours, and extra GET routes
    (each a function of the session's current observation, None before the first reset)."""

    family: str
    index_field: str  # the reset body's task index: session_id (webshop), data_idx, game (maze, alfworld), seed
    translate: Callable[[str], str] | None = None
    extras: Mapping[str, Callable[[Observation | None], Any]] = field(default_factory=dict)  # GET {base}/<name>?<id>=

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown AgentGym server family '{self.family}': expected one of {list(FAMILIES)}")

    @property
    def shape(self) -> Family:
        return FAMILIES[self.family]

    @property
    def id_field(self) -> str:
        return self.shape.id_field


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")  # the instance id and the reset index have per-env names


class AgentEnvStep(_Body):
    action: str = Field(max_length=MAX_ACTION_CHARS)


class AgentEnvRoutes:
    """AgentGym's routes over one server's `SessionManager`, for an environment whose class declares `agentenv`."""

    def __init__(self, manager: SessionManager, spec: AgentEnvSpec | None, env_name: str):
        self.manager, self.spec, self.env_name = manager, spec, env_name
        # their integer instance ids -> our session ids; None until the first reset opens the session
        self.ids: dict[int, str | None] = {}
        self._next_id = itertools.count()

    def routes(self) -> list[tuple[Route, Callable]]:
        """The routes of `/agentgym[/<split>]/<verb>`, all answered by `handle`."""
        paths = ("/agentgym", "/agentgym/{verb}", "/agentgym/{split}/{verb}")
        return [(Route(method, path, f"agentenv_{method.lower()}_{n}", "AgentGym's wire format", None), self.handle)
                for method in ("GET", "POST") for n, path in enumerate(paths)]

    async def handle(self, req: Any) -> Any:
        params = [p for p in req.scope["path"].split("/") if p][1:]
        split = "held_in"
        if params and params[0] in SPLITS:
            split, params = params[0], params[1:]
        if not params:
            return f"This is environment {self.env_name} (AgentGym's wire format, {split} tasks)."
        if self.spec is None:
            raise _NotFound(f"environment '{self.env_name}' has no AgentGym counterpart: use the native "
                            "protocol (/sessions) or OpenEnv's (/ws)")
        method, verb = req.scope["method"], params[0] if len(params) == 1 else None
        if method == "POST" and verb in ("create", "reset", "step", "close"):
            return await getattr(self, verb)(req, split)
        if method == "GET" and verb == "observation":
            return self.spec.shape.observation(self._session(req.query(self.spec.id_field)))
        if method == "GET" and verb == "detail":
            return self._detail(self._session(req.query(self.spec.id_field)))
        if method == "GET" and verb in self.spec.extras:
            sid = self.ids.get(self._int(req.query(self.spec.id_field)))
            return self.spec.extras[verb](self.manager.get(sid).observation if sid else None)
        known = ["create", "reset", "step", "close", "observation", "detail", *self.spec.extras]
        raise _NotFound(f"{method} {req.scope['path']}: AgentGym's {self.spec.family} client uses {known}")

    # -- verbs -----------------------------------------------------------------------------------
    async def create(self, req: Any, split: str) -> Any:
        """A new instance id; its session opens on the first reset, which names the task (or at once, on
        the split's first task, where their server starts an episode on create)."""
        shape = self.spec.shape
        self._check_fixed((await req.body(_Body)).model_dump())
        self._forget_closed()
        session = None
        if shape.create_opens:
            task_id, _ = self.manager.resolve_task(None, split, 0)
            session = await self.manager.create(task_id, split, None, None)
        idx = next(self._next_id)
        self.ids[idx] = session.id if session else None
        return shape.created(idx, session)

    async def reset(self, req: Any, split: str) -> Any:
        body = (await req.body(_Body)).model_dump()
        self._check_fixed(body)
        idx = self._int(body.get(self.spec.id_field))
        if idx not in self.ids:
            raise UnknownSession(f"unknown {self.spec.id_field} {idx}: create one with POST /create")
        index = body.get(self.spec.index_field) or 0
        if not isinstance(index, int) or index < 0:
            raise BadRequest(f"'{self.spec.index_field}' must be a task index (an integer >= 0), got {index!r}")
        task_id, _ = self.manager.resolve_task(None, split, index)
        sid = self.ids[idx]
        if sid is None:
            session = await self.manager.create(task_id, split, None, None)
            self.ids[idx] = session.id
        else:
            session = await self.manager.reset(self.manager.get(sid), task_id, None)
        return self.spec.shape.reset(idx, session, index)

    async def step(self, req: Any, split: str) -> Any:
        body = await req.body(AgentEnvStep)
        try:
            session = self._session(getattr(body, self.spec.id_field, None))
            action = self.spec.translate(body.action) if self.spec.translate else body.action
            result = await self.manager.step(session, action)
        except AgentGymError as exc:
            if self.spec.shape.errors_in_200 and exc.status < 500:
                return {"error": exc.message, "code": exc.code}  # their client ends the episode on this
            raise
        return self.spec.shape.step(result)

    async def close(self, req: Any, split: str) -> Any:
        body = (await req.body(_Body)).model_dump()
        idx = self._int(body.get(self.spec.id_field))
        if idx not in self.ids:
            return self.spec.shape.closed(False)
        sid = self.ids.pop(idx)
        if sid is not None and sid in self.manager.sessions:
            await self.manager.close(sid)
        return self.spec.shape.closed(True)

    # -- helpers ---------------------------------------------------------------------------------
    def _check_fixed(self, body: dict[str, Any]) -> None:
        for name, served in self.spec.shape.fixed.items():
            if body.get(name, served[0]) not in served:
                raise BadRequest(f"'{name}' {body[name]!r} is not served here: {self.spec.family} serves "
                                 f"{name} {' or '.join(map(repr, served))}")

    def _int(self, raw: Any) -> int:
        if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
            return int(raw)
        raise BadRequest(f"'{self.spec.id_field}' must be the integer that POST /create returned, got {raw!r}")

    def _session(self, raw: Any) -> Session:
        idx = self._int(raw)
        if idx not in self.ids:
            raise UnknownSession(f"unknown {self.spec.id_field} {idx}: create one with POST /create")
        sid = self.ids[idx]
        if sid is None:
            raise BadRequest(f"{self.spec.id_field} {idx} has no episode yet: POST /reset first")
        return self.manager.get(sid)

    def _forget_closed(self) -> None:
        """Drop ids whose session closed or expired, and the oldest never-reset ids past the session cap."""
        for idx in [i for i, sid in self.ids.items() if sid is not None and sid not in self.manager.sessions]:
            del self.ids[idx]
        pending = [i for i, sid in self.ids.items() if sid is None]
        for idx in pending[: max(0, len(pending) - self.manager.max_sessions + 1)]:
            del self.ids[idx]

    @staticmethod
    def _detail(session: Session) -> dict[str, Any]:
        return {"observation": session.observation.text, "reward": session.total_reward, "done": session.done,
                "deleted": False, "task_id": session.task_id, "steps": session.steps}


class _NotFound(AgentGymError):
    code, status = "not_found", 404
