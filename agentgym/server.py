"""The ASGI app that hosts any `Env` class behind the uniform HTTP protocol.

A plain ASGI callable rather than a web framework: profiling the echo environment under 64 sessions
showed Starlette's middleware and routing layers taking about half of the server's CPU per step, and
ten fixed routes need none of them. Routes, schemas and errors are listed in `agentgym.protocol`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson
from pydantic import BaseModel, ValidationError

from agentgym.compat import CompatApp, mount
from agentgym.env import SPLITS, Env
from agentgym.errors import AgentGymError, BadRequest, MalformedBody, PayloadTooLarge, Unauthorized
from agentgym.protocol import PROTOCOL_VERSION, CreateRequest, ResetRequest, StepRequest, openapi_schema
from agentgym.sessions import Session, SessionManager

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 64 * 1024
JSON_HEADERS = [(b"content-type", b"application/json")]


class NotFound(AgentGymError):
    code, status = "not_found", 404


class HTML(str):
    """A handler's result that is sent as a page for people rather than as JSON."""


class Request:
    """What a handler needs of an HTTP request: path parameters, query and the JSON body."""

    __slots__ = ("scope", "receive", "params", "max_body")

    def __init__(self, scope: dict, receive: Callable, params: list[str], max_body: int):
        self.scope, self.receive, self.params, self.max_body = scope, receive, params, max_body

    def query(self, name: str) -> str | None:
        values = parse_qs(self.scope.get("query_string", b"").decode()).get(name)
        return values[0] if values else None

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return value
        return None

    async def body(self, model: type[BaseModel]) -> Any:
        """Read the body (refusing more than `max_body` bytes) and validate it against `model`."""
        declared = self.header(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise PayloadTooLarge(
                f"request body of {int(declared)} bytes exceeds this server's limit of {self.max_body}"
            )
        raw = b""
        while True:
            message = await self.receive()
            raw += message.get("body", b"")
            if len(raw) > self.max_body:
                raise PayloadTooLarge(f"request body exceeds this server's limit of {self.max_body} bytes")
            if not message.get("more_body"):
                break
        try:
            return model.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
            raise MalformedBody(
                f"invalid {model.__name__} body: {problems}. Expected JSON with fields {list(model.model_fields)}"
            ) from None


Handler = Callable[[Request], Awaitable[Any]]


class EnvApp:
    """ASGI app serving one environment: `uvicorn.run(EnvApp(MyEnv))`."""

    def __init__(
        self,
        env_factory: Callable[[], Env],
        max_sessions: int = 256,
        ttl: float = 600.0,
        token: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ):
        self.manager = SessionManager(env_factory, max_sessions=max_sessions, ttl=ttl)
        self.max_body = max_body
        self.expected_auth = f"Bearer {token}".encode() if token else None
        self.env_info = {**self.manager.catalog.info(), "protocol": PROTOCOL_VERSION}
        self.spec = openapi_schema(f"AgentGym: {self.env_info['name']}")
        self._reaper: asyncio.Task | None = None
        # (method, first path segment, number of segments) -> handler; open routes skip the token.
        self.routes: dict[tuple[str, str, int], Handler] = {
            ("GET", "health", 1): self.health,
            ("GET", "openapi.json", 1): self.openapi,
            ("GET", "info", 1): self.info,
            ("GET", "tasks", 1): self.tasks,
            ("GET", "tasks", 2): self.task,  # /tasks/{task_id}: its split, without generating anything
            ("GET", "tasks", 3): self.expert,  # /tasks/{task_id}/expert
            ("POST", "sessions", 1): self.create,
            ("GET", "sessions", 2): self.state,
            ("GET", "sessions", 3): self.page,  # /sessions/{id}/html: the current page, for a browser
            ("DELETE", "sessions", 2): self.close,
            ("POST", "sessions", 3): self.session_action,  # /sessions/{id}/step|reset
        }
        self.open_routes = {self.health, self.openapi}

    # -- handlers ----------------------------------------------------------------------------
    async def health(self, req: Request) -> dict:
        return {"status": "ok", "sessions": len(self.manager.sessions), "max_sessions": self.manager.max_sessions}

    async def openapi(self, req: Request) -> dict:
        return self.spec

    async def info(self, req: Request) -> dict:
        return self.env_info

    async def tasks(self, req: Request) -> dict:
        split = req.query("split") or "held_in"
        if split not in SPLITS:
            raise BadRequest(f"unknown split '{split}': expected one of {list(SPLITS)}")
        return {"split": split, "tasks": self.manager.tasks(split)}

    async def task(self, req: Request) -> dict:
        task_id = req.params[1]
        return {"task_id": task_id, "split": self.manager.split_of(task_id)}

    async def page(self, req: Request) -> HTML:
        session = self.manager.get(req.params[1])
        if req.params[2] != "html":
            raise NotFound(f"no route /sessions/{{id}}/{req.params[2]}: did you mean /html?")
        render = getattr(session.env, "html", None)
        if render is None:
            raise NotFound(f"environment '{self.env_info['name']}' has no HTML view; read its observations instead")
        async with session.lock:
            return HTML(render())

    async def expert(self, req: Request) -> dict:
        task_id, tail = req.params[1], req.params[2]
        if tail != "expert":
            raise NotFound(f"no route /tasks/{task_id}/{tail}: did you mean /tasks/{task_id}/expert?")
        seed = req.query("seed")
        if seed is not None and not seed.lstrip("-").isdigit():
            raise BadRequest(f"seed must be an integer, got '{seed}'")
        actions = await self.manager.expert(task_id, int(seed) if seed is not None else None)
        return {"task_id": task_id, "actions": actions}

    async def create(self, req: Request) -> dict:
        body = await req.body(CreateRequest)
        task_id, split = self.manager.resolve_task(body.task_id, body.split, body.index)
        session = await self.manager.create(task_id, split, body.seed, body.max_steps)
        return self._session_payload(session)

    async def state(self, req: Request) -> dict:
        s = self.manager.get(req.params[1])
        return {
            "session_id": s.id, "task_id": s.task_id, "split": s.split, "steps": s.steps,
            "max_steps": s.max_steps, "done": s.done, "total_reward": s.total_reward,
            "observation": s.observation.to_dict(),
        }

    async def close(self, req: Request) -> dict:
        await self.manager.close(req.params[1])
        return {"code": "closed", "message": "session closed"}

    async def session_action(self, req: Request) -> dict:
        session = self.manager.get(req.params[1])
        action = req.params[2]
        if action == "step":
            body = await req.body(StepRequest)
            return (await self.manager.step(session, body.action)).to_dict()
        if action == "reset":
            body = await req.body(ResetRequest)
            await self.manager.reset(session, body.task_id, body.seed)
            return self._session_payload(session)
        raise NotFound(f"no route /sessions/{{id}}/{action}: use /step or /reset")

    @staticmethod
    def _session_payload(session: Session) -> dict:
        return {
            "session_id": session.id, "task_id": session.task_id, "split": session.split,
            "observation": session.observation.to_dict(),
        }

    # -- ASGI --------------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: dict, receive: Callable, send: Callable) -> None:
        status, payload = 200, None
        try:
            params = [p for p in scope["path"].split("/") if p]
            handler = self.routes.get((scope["method"], params[0] if params else "", len(params)))
            if handler is None:
                raise NotFound(
                    f"{scope['method']} {scope['path']}: no such route. See GET /openapi.json for the routes"
                )
            req = Request(scope, receive, params, self.max_body)
            if self.expected_auth is not None and handler not in self.open_routes:
                given = req.header(b"authorization") or b""
                if not hmac.compare_digest(given, self.expected_auth):
                    raise Unauthorized("missing or wrong bearer token: send 'Authorization: Bearer <token>'")
            payload = await handler(req)
        except AgentGymError as exc:
            status, payload = exc.status, exc.to_dict()
        except Exception as exc:  # a bug here must not drop the connection: report it as JSON
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            status, payload = 500, {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
        if isinstance(payload, HTML):
            headers, body = [(b"content-type", b"text/html; charset=utf-8")], payload.encode()
        else:
            headers, body = JSON_HEADERS, orjson.dumps(payload)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._reaper = asyncio.create_task(self.manager.run_reaper())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._reaper:
                    self._reaper.cancel()
                await self.manager.close_all()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(env_factory: Callable[[], Env], **kwargs: Any) -> CompatApp:
    """Build the server app for one environment class (or any factory returning an `Env`), with the
    compatibility layers of `agentgym.compat` (OpenEnv, AgentGym) mounted on it."""
    return mount(EnvApp(env_factory, **kwargs))
