"""The ASGI app that hosts any `Env` class behind the uniform HTTP protocol."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentgym.env import Env
from agentgym.errors import AgentGymError, MalformedBody, PayloadTooLarge, Unauthorized
from agentgym.protocol import (
    PROTOCOL_VERSION,
    CreateRequest,
    ResetRequest,
    StepRequest,
    openapi_schema,
)
from agentgym.sessions import Session, SessionManager

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 64 * 1024


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _session_payload(session: Session) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "task_id": session.task_id,
        "split": session.split,
        "observation": session.observation.to_dict(),
    }


def create_app(
    env_factory: Callable[[], Env],
    max_sessions: int = 256,
    ttl: float = 600.0,
    token: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> Starlette:
    """Build the server app for one environment class (or any factory returning an `Env`)."""
    manager = SessionManager(env_factory, max_sessions=max_sessions, ttl=ttl)
    env_info = {**manager._catalog.info(), "protocol": PROTOCOL_VERSION}
    spec = openapi_schema(f"AgentGym: {env_info['name']}")

    async def body(request: Request, model: type[BaseModel]) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            raise PayloadTooLarge(f"request body of {declared} bytes exceeds this server's limit of {max_body}")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > max_body:
                raise PayloadTooLarge(f"request body exceeds this server's limit of {max_body} bytes")
        try:
            return model.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise MalformedBody(
                f"invalid {model.__name__} body: {problems}. Expected JSON like "
                f"{list(model.model_fields)}"
            ) from None

    async def health(request: Request) -> JSON:
        return JSON({"status": "ok", "sessions": len(manager.sessions), "max_sessions": max_sessions})

    async def info(request: Request) -> JSON:
        return JSON(env_info)

    async def openapi(request: Request) -> JSON:
        return JSON(spec)

    async def tasks(request: Request) -> JSON:
        split = request.query_params.get("split", "held_in")
        if split not in env_info["splits"]:
            raise MalformedBody(f"unknown split '{split}': expected one of {env_info['splits']}")
        return JSON({"split": split, "tasks": manager.tasks(split)})

    async def expert(request: Request) -> JSON:
        task_id = request.path_params["task_id"]
        seed = request.query_params.get("seed")
        actions = await manager.expert(task_id, int(seed) if seed and seed.lstrip("-").isdigit() else None)
        return JSON({"task_id": task_id, "actions": actions})

    async def create(request: Request) -> JSON:
        req = await body(request, CreateRequest)
        task_id, split = manager.resolve_task(req.task_id, req.split, req.index)
        session = await manager.create(task_id, split, req.seed, req.max_steps)
        return JSON(_session_payload(session))

    async def state(request: Request) -> JSON:
        s = manager.get(request.path_params["session_id"])
        return JSON({
            "session_id": s.id, "task_id": s.task_id, "split": s.split, "steps": s.steps,
            "max_steps": s.max_steps, "done": s.done, "total_reward": s.total_reward,
            "observation": s.observation.to_dict(),
        })

    async def step(request: Request) -> JSON:
        session = manager.get(request.path_params["session_id"])
        req = await body(request, StepRequest)
        result = await manager.step(session, req.action)
        return JSON(result.to_dict())

    async def reset(request: Request) -> JSON:
        session = manager.get(request.path_params["session_id"])
        req = await body(request, ResetRequest)
        await manager.reset(session, req.task_id, req.seed)
        return JSON(_session_payload(session))

    async def close(request: Request) -> JSON:
        await manager.close(request.path_params["session_id"])
        return JSON({"code": "closed", "message": "session closed"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        reaper = asyncio.create_task(manager.run_reaper())
        try:
            yield
        finally:
            reaper.cancel()
            await manager.close_all()

    async def on_error(request: Request, exc: Exception) -> JSON:
        if isinstance(exc, AgentGymError):
            return JSON(exc.to_dict(), status_code=exc.status)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSON({"code": "internal", "message": f"{type(exc).__name__}: {exc}"}, status_code=500)

    def guarded(endpoint: Callable) -> Callable:
        """Bearer-token check (when a token is set) and typed errors as JSON."""

        async def wrapper(request: Request) -> Response:
            try:
                if token is not None:
                    given = request.headers.get("authorization", "")
                    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                        raise Unauthorized("missing or wrong bearer token: send 'Authorization: Bearer <token>'")
                return await endpoint(request)
            except Exception as exc:  # every failure becomes a JSON error, never a dropped connection
                return await on_error(request, exc)

        return wrapper

    routes = [
        Route("/health", health, methods=["GET"]),  # open: load balancers probe it
        Route("/info", guarded(info), methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/tasks", guarded(tasks), methods=["GET"]),
        Route("/tasks/{task_id:path}/expert", guarded(expert), methods=["GET"]),
        Route("/sessions", guarded(create), methods=["POST"]),
        Route("/sessions/{session_id}", guarded(state), methods=["GET"]),
        Route("/sessions/{session_id}", guarded(close), methods=["DELETE"]),
        Route("/sessions/{session_id}/step", guarded(step), methods=["POST"]),
        Route("/sessions/{session_id}/reset", guarded(reset), methods=["POST"]),
    ]
    async def http_error(request: Request, exc: HTTPException) -> JSON:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
        message = f"{request.method} {request.url.path}: {exc.detail}. See GET /openapi.json for the routes"
        return JSON({"code": code, "message": message}, status_code=exc.status_code)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.manager = manager
    return app
