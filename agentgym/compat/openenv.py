"""OpenEnv's protocol on every env server: WebSocket sessions at `/ws` and the HTTP shapes of
`/reset`, `/step`, `/state`, `/schema` and `/metadata`, as OpenEnv's Python client (PyPI `openenv`,
and the older `openenv-core`) sends and reads them.

Over `/ws` each connection owns one session, opened by its first `reset` and closed with the socket.
Messages are `{"type": "reset"|"step"|"state"|"close", "data": {...}}`; replies are
`{"type": "observation"|"state"|"error", "data": {...}}`. OpenEnv's own HTTP `/reset` and `/step` are
stateless (a fresh env per request); ours keep the session that `/reset` opened and name it in
`observation.metadata.episode_id`, which `/step` and `/state` take back (it expires after the server's idle TTL).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentgym.env import StepResult
from agentgym.errors import AgentGymError, BadRequest, EnvFailure, MalformedBody, TooManySessions, UnknownSession
from agentgym.protocol import MAX_ACTION_CHARS, Route
from agentgym.sessions import Session, SessionManager

log = logging.getLogger(__name__)


class OpenEnvAction(BaseModel):
    """The typed action: one action string, as the environment's `action_format` describes it."""

    model_config = ConfigDict(extra="forbid")
    action: str = Field(max_length=MAX_ACTION_CHARS, description="one action, e.g. `move north`")
    metadata: dict[str, Any] = Field(default_factory=dict, description="free metadata, ignored by the env")


class OpenEnvObservation(BaseModel):
    """The typed observation: our observation and step info, with OpenEnv's `done`, `reward` and `metadata`."""

    text: str
    available_actions: list[str] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict, description="valid, error, won, score and env extras")
    task_id: str
    split: str
    truncated: bool = False
    done: bool = False
    reward: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, description="episode_id and step_count")


class OpenEnvState(BaseModel):
    """The session's state: OpenEnv's `episode_id` and `step_count`, and ours."""

    model_config = ConfigDict(extra="allow")
    episode_id: str | None = None
    step_count: int = 0
    task_id: str | None = None
    split: str | None = None
    max_steps: int | None = None
    done: bool = False
    total_reward: float = 0.0


class OpenEnvReset(BaseModel):
    """`reset` parameters: OpenEnv's `seed` and `episode_id`, and our task choice."""

    model_config = ConfigDict(extra="forbid")
    seed: int | None = None
    episode_id: str | None = Field(default=None, description="HTTP only: the session to reset (from a previous reset)")
    task_id: str | None = None
    split: str | None = None
    index: int | None = Field(default=None, ge=0)
    max_steps: int | None = Field(default=None, ge=1)


class OpenEnvStep(BaseModel):
    """HTTP `/step` body: OpenEnv's `action`, `timeout_s`, `request_id`, and the session's `episode_id`."""

    model_config = ConfigDict(extra="forbid")
    action: OpenEnvAction
    episode_id: str | None = None
    timeout_s: float | None = None
    request_id: str | None = None


# How our error codes read as OpenEnv's WebSocket error codes.
WS_CODES = {"too_many_sessions": "CAPACITY_REACHED", "env_error": "EXECUTION_ERROR", "episode_done": "EXECUTION_ERROR"}


def observation_payload(session: Session, result: StepResult | None = None) -> dict[str, Any]:
    """The `{observation, reward, done, metadata}` OpenEnv's client parses, for a reset (no result) or a step."""
    obs = session.observation
    info = result.info if result is not None else {"valid": True, "error": None, "won": False, "score": 0.0}
    meta = {"episode_id": session.id, "step_count": session.steps}
    observation = {
        "text": obs.text, "available_actions": obs.available_actions, "extra": obs.extra, "info": info,
        "task_id": session.task_id, "split": session.split,
        "truncated": bool(result is not None and result.truncated), "metadata": meta,
    }
    reward = result.reward if result is not None else None
    # metadata only inside the observation: openenv 0.10 also reads a top-level copy, openenv-core 0.3 refuses one
    return {"observation": observation, "reward": reward, "done": session.done}


def state_payload(session: Session | None) -> dict[str, Any]:
    """OpenEnv's State of a session (an empty one before the first reset)."""
    if session is None:
        return OpenEnvState().model_dump()
    return OpenEnvState(
        episode_id=session.id, step_count=session.steps, task_id=session.task_id, split=session.split,
        max_steps=session.max_steps, done=session.done, total_reward=session.total_reward,
    ).model_dump()


def _validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors()[:5])
        expected = list(model.model_fields)
        raise MalformedBody(f"invalid {model.__name__}: {problems}. Expected fields {expected}") from None


class OpenEnvProtocol:
    """OpenEnv's routes over one server's `SessionManager`."""

    def __init__(self, manager: SessionManager, env_info: dict[str, Any], expected_auth: bytes | None, max_body: int):
        self.manager, self.env_info = manager, env_info
        self.expected_auth, self.max_body = expected_auth, max_body

    # -- one session, shared by the WebSocket and HTTP paths ---------------------------------------
    async def reset(self, session: Session | None, params: OpenEnvReset) -> Session:
        """Open a session on the chosen task, or restart `session` (on another task when one is named)."""
        if session is not None and params.split is None and params.index is None:
            return await self.manager.reset(self.manager.get(session.id), params.task_id, params.seed)
        task_id, split = self.manager.resolve_task(params.task_id, params.split, params.index)
        if session is not None:
            return await self.manager.reset(self.manager.get(session.id), task_id, params.seed)
        return await self.manager.create(task_id, split, params.seed, params.max_steps)

    async def step(self, session: Session, action: Any) -> dict[str, Any]:
        """Apply an OpenEnv action (`{"action": "..."}`) and return the observation payload."""
        act = _validate(OpenEnvAction, action)
        result = await self.manager.step(self.manager.get(session.id), act.action)
        return observation_payload(session, result)

    # -- HTTP ------------------------------------------------------------------------------------
    def routes(self) -> list[tuple[Route, Callable]]:
        """The HTTP routes and their handlers."""
        return [
            (Route("POST", "/reset", "openenv_reset", "OpenEnv: open or restart a session", None), self.http_reset),
            (Route("POST", "/step", "openenv_step", "OpenEnv: apply an action", None), self.http_step),
            (Route("GET", "/state", "openenv_state", "OpenEnv: session state", None), self.http_state),
            (Route("GET", "/schema", "openenv_schema", "OpenEnv: JSON schemas", None), self.http_schema),
            (Route("GET", "/metadata", "openenv_metadata", "OpenEnv: env metadata", None), self.http_metadata),
        ]

    def _session(self, episode_id: str | None, verb: str) -> Session:
        if not episode_id:
            raise BadRequest(
                f"{verb} needs the episode_id that POST /reset returned in observation.metadata.episode_id (HTTP "
                "sessions are explicit here); or keep one session per WebSocket at /ws, as OpenEnv's client does"
            )
        return self.manager.get(episode_id)

    async def http_reset(self, req: Any) -> dict[str, Any]:
        params = await req.body(OpenEnvReset)
        session = self._session(params.episode_id, "reset") if params.episode_id else None
        return observation_payload(await self.reset(session, params))

    async def http_step(self, req: Any) -> dict[str, Any]:
        body = await req.body(OpenEnvStep)
        return await self.step(self._session(body.episode_id, "POST /step"), body.action.model_dump())

    async def http_state(self, req: Any) -> dict[str, Any]:
        return state_payload(self._session(req.query("episode_id"), "GET /state"))

    async def http_schema(self, req: Any) -> dict[str, Any]:
        # no `reset_observation`: openenv 0.10 reads it as optional, openenv-core 0.3 refuses it
        return {"action": OpenEnvAction.model_json_schema(), "observation": OpenEnvObservation.model_json_schema(),
                "state": OpenEnvState.model_json_schema()}

    async def http_metadata(self, req: Any) -> dict[str, Any]:
        info = self.env_info
        return {"name": info["name"], "description": info["instruction"], "readme_content": None,
                "version": info["version"], "author": None, "documentation_url": None}

    # -- WebSocket -------------------------------------------------------------------------------
    async def websocket(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Serve one WebSocket connection: one session, opened by the first reset, closed with the socket."""
        if (await receive())["type"] != "websocket.connect":
            return
        if scope["path"].rstrip("/") != "/ws":
            await send({"type": "websocket.close", "code": 1008, "reason": "the only WebSocket route is /ws"})
            return
        if self.expected_auth is not None:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected_auth):
                await send({"type": "websocket.close", "code": 1008, "reason": "missing or wrong bearer token"})
                return
        await send({"type": "websocket.accept"})
        session: Session | None = None
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("text") if message.get("text") is not None else (message.get("bytes") or b"")
                reply, session, closing = await self._message(raw, session)
                if closing:
                    break
                await send({"type": "websocket.send", "text": orjson.dumps(reply).decode()})
            await send({"type": "websocket.close", "code": 1000})
        finally:
            if session is not None and session.id in self.manager.sessions:
                try:
                    await self.manager.close(session.id)
                except AgentGymError:
                    pass  # expired or closed by an env failure meanwhile

    async def _message(self, raw: str | bytes, session: Session | None) -> tuple[dict, Session | None, bool]:
        """(reply, the connection's session, whether the client asked to close) for one message."""
        if len(raw) > self.max_body:
            return _error(f"message of {len(raw)} bytes exceeds this server's limit of {self.max_body}",
                          "VALIDATION_ERROR", "payload_too_large"), session, False
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return _error(f"Invalid JSON: {exc}", "INVALID_JSON", "malformed_body"), session, False
        kind = message.get("type") if isinstance(message, dict) else None
        data = message.get("data") if isinstance(message, dict) else None
        try:
            if kind == "reset":
                session = await self.reset(session, _validate(OpenEnvReset, data))
                return {"type": "observation", "data": observation_payload(session)}, session, False
            if kind == "step":
                if session is None:
                    raise BadRequest("no episode yet: send a reset message before the first step")
                return {"type": "observation", "data": await self.step(session, data)}, session, False
            if kind == "state":
                return {"type": "state", "data": state_payload(session)}, session, False
            if kind == "close":
                return {}, session, True
            return _error(f"Unknown message type: {kind!r}; expected reset, step, state or close", "UNKNOWN_TYPE",
                          "bad_request"), session, False
        except AgentGymError as exc:
            if isinstance(exc, (EnvFailure, UnknownSession)):
                session = None  # the server closed it
            code = WS_CODES.get(exc.code, "VALIDATION_ERROR" if exc.status < 500 else "EXECUTION_ERROR")
            if isinstance(exc, TooManySessions):
                code = "CAPACITY_REACHED"
            return _error(exc.message, code, exc.code), session, False
        except Exception as exc:  # a bug here must not drop the connection
            log.exception("unexpected error on a /ws %s message", kind)
            return _error(f"{type(exc).__name__}: {exc}", "EXECUTION_ERROR", "internal"), session, False


def _error(message: str, code: str, agentgym_code: str) -> dict[str, Any]:
    return {"type": "error", "data": {"message": message, "code": code, "agentgym_code": agentgym_code}}
