"""The ASGI app that hosts any `Env` class behind the uniform HTTP protocol.

A plain ASGI callable rather than a web framework: profiling the echo environment under 64 sessions
showed Starlette's middleware and routing layers taking about half of the server's CPU per step, and
ten fixed routes need none of them. Routes, schemas and errors are listed in `agentgym.protocol`.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from pydantic import BaseModel, ValidationError

from agentgym.compat import CompatApp, mount
from agentgym.env import Env
from agentgym.errors import (
    AgentGymError,
    BadRequest,
    Forbidden,
    MalformedBody,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from agentgym.protocol import (
    MAX_SEED,
    PROTOCOL_VERSION,
    ROUTES,
    CreateRequest,
    ResetRequest,
    Route,
    StepRequest,
    openapi_schema,
)
from agentgym.sessions import Session, SessionManager

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 64 * 1024
JSON_HEADERS = [(b"content-type", b"application/json")]
UNSIGNED = re.compile(r"[0-9]{1,20}")
MAX_QUERY_FIELDS = 20


class HTML(str):
    """A handler's result that is sent as a page for people rather than as JSON."""


@functools.lru_cache(maxsize=256)  # asked twice per request with the same few names: parsing was half the app's CPU
def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP literals (with or without brackets)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=256)
def host_name(host: str) -> str:
    """The name part of a `Host` header (`127.0.0.1:8100` -> `127.0.0.1`); empty when malformed."""
    try:
        return urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return ""


class Request:
    """What a handler needs of an HTTP request: path parameters, query and the JSON body."""

    __slots__ = ("scope", "receive", "params", "max_body", "_query")

    def __init__(self, scope: dict, receive: Callable, params: dict[str, str], max_body: int):
        self.scope, self.receive, self.params, self.max_body = scope, receive, params, max_body
        self._query: dict[str, list[str]] | None = None

    def query(self, name: str) -> str | None:
        """The first value of a query parameter; a query string that is not UTF-8 is a 400."""
        if self._query is None:
            try:
                raw = self.scope.get("query_string", b"").decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("the query string is not valid UTF-8") from None
            try:
                self._query = parse_qs(raw, max_num_fields=MAX_QUERY_FIELDS)
            except ValueError:
                raise BadRequest(f"the query string has more than {MAX_QUERY_FIELDS} parameters") from None
        values = self._query.get(name)
        return values[0] if values else None

    def query_int(self, name: str, maximum: int) -> int | None:
        """A query parameter that must be a non-negative integer no larger than `maximum`."""
        value = self.query(name)
        if value is None:
            return None
        if not UNSIGNED.fullmatch(value) or int(value) > maximum:
            shown = value if len(value) <= 40 else value[:40] + "..."
            raise BadRequest(f"{name} must be an integer from 0 to {maximum}, got '{shown}'")
        return int(value)

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return value
        return None

    async def body(self, model: type[BaseModel]) -> Any:
        """Read the JSON body (refusing more than `max_body` bytes) and validate it against `model`."""
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
        if raw:
            media = (self.header(b"content-type") or b"").split(b";")[0].strip().lower()
            if media != b"application/json" and not media.endswith(b"+json"):
                shown = media.decode("latin-1") or "none"
                raise UnsupportedMediaType(f"send the body as JSON with 'Content-Type: application/json' (got {shown})")
        try:
            return model.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
            raise MalformedBody(
                f"invalid {model.__name__} body: {problems}. Expected JSON with fields {list(model.model_fields)}"
            ) from None


Handler = Callable[[Request], Awaitable[Any]]


class Router:
    """Matches a method and path against declared routes: the route and its path parameters, or a
    404 (no such path) or a 405 (no such method for that path, with the allowed ones)."""

    def __init__(self, routes: tuple[Route, ...]):
        # (segment count, first segment) -> [(route, segments)]; a route whose first segment is a parameter
        # goes under None. Each segment is a literal, or None for a parameter (whose name is in `names`).
        self.table: dict[tuple[int, str | None], list[tuple[Route, tuple[str | None, ...], tuple[str, ...]]]] = {}
        for route in routes:
            first = route.segments[0] if route.segments else ""
            key = (len(route.segments), None if first.startswith("{") else first)
            literal = tuple(None if p.startswith("{") else p for p in route.segments)
            names = tuple(p[1:-1] for p in route.segments if p.startswith("{"))
            self.table.setdefault(key, []).append((route, literal, names))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        parts = [p for p in path.split("/") if p]
        first = parts[0] if parts else ""
        n = len(parts)
        allowed: list[str] = []
        for key in ((n, first), (n, None)):
            for route, literal, names in self.table.get(key, ()):
                if all(t is None or t == p for t, p in zip(literal, parts, strict=True)):
                    if route.method == method:
                        values = [p for t, p in zip(literal, parts, strict=True) if t is None]
                        return route, dict(zip(names, values, strict=True))
                    allowed.append(route.method)
        shown = path if len(path) <= 200 else path[:200] + "..."
        if allowed:
            raise MethodNotAllowed(f"{method} is not allowed on {shown}: use {', '.join(allowed)}", allowed)
        raise NotFound(f"{method} {shown}: no such route. See GET /openapi.json for the routes")


class EnvApp:
    """ASGI app serving one environment: `uvicorn.run(EnvApp(MyEnv))`. Its routes are `self.routes`
    (the protocol's `ROUTES`; a subclass may add its own, each answered by the method it names)."""

    routes: tuple[Route, ...] = ROUTES

    def __init__(
        self,
        env_factory: Callable[[], Env],
        max_sessions: int = 256,
        ttl: float = 600.0,
        token: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        call_timeout: float | None = None,
    ):
        self.manager = SessionManager(env_factory, max_sessions=max_sessions, ttl=ttl, call_timeout=call_timeout)
        self.max_body = max_body
        self.expected_auth = f"Bearer {token}".encode() if token else None
        self.env_info = {**self.manager.catalog.info(), "protocol": PROTOCOL_VERSION}
        self.spec = openapi_schema(f"AgentGym: {self.env_info['name']}", self.routes)
        self.router = Router(self.routes)
        self.handlers: dict[str, Handler] = {r.handler: getattr(self, r.handler) for r in self.routes}
        self._reaper: asyncio.Task | None = None

    # -- handlers ----------------------------------------------------------------------------
    async def health(self, req: Request) -> dict:
        return {"status": "healthy", "sessions": len(self.manager.sessions), "max_sessions": self.manager.max_sessions}

    async def openapi(self, req: Request) -> dict:
        return self.spec

    async def info(self, req: Request) -> dict:
        return self.env_info

    async def tasks(self, req: Request) -> dict:
        split = req.query("split") or "held_in"
        return {"split": split, "tasks": self.manager.tasks(split)}

    async def task(self, req: Request) -> dict:
        task_id = req.params["task_id"]
        return {"task_id": task_id, "split": self.manager.split_of(task_id)}

    async def expert(self, req: Request) -> dict:
        task_id = req.params["task_id"]
        actions, thoughts = await self.manager.expert(task_id, req.query_int("seed", MAX_SEED))
        return {"task_id": task_id, "actions": actions, "thoughts": thoughts}

    async def create(self, req: Request) -> dict:
        body = await req.body(CreateRequest)
        task_id, split = self.manager.resolve_task(body.task_id, body.split, body.index)
        session = await self.manager.create(task_id, split, body.seed, body.max_steps)
        return self._session_payload(session)

    async def state(self, req: Request) -> dict:
        s = self.manager.get(req.params["session_id"])
        return {
            "session_id": s.id, "task_id": s.task_id, "split": s.split, "steps": s.steps,
            "max_steps": s.max_steps, "done": s.done, "total_reward": s.total_reward,
            "observation": s.observation.to_dict(),
        }

    async def close(self, req: Request) -> dict:
        await self.manager.close(req.params["session_id"])
        return {"code": "closed", "message": "session closed"}

    async def page(self, req: Request) -> HTML:
        session = self.manager.get(req.params["session_id"])
        render = getattr(session.env, "html", None)
        if render is None:
            raise NotFound(f"environment '{self.env_info['name']}' has no HTML view; read its observations instead")
        return HTML(await self.manager.render(session, render))

    async def step(self, req: Request) -> dict:
        session = self.manager.get(req.params["session_id"])
        body = await req.body(StepRequest)
        return (await self.manager.step(session, body.action)).to_dict()

    async def reset(self, req: Request) -> dict:
        session = self.manager.get(req.params["session_id"])
        body = await req.body(ResetRequest)
        await self.manager.reset(session, body.task_id, body.seed)
        return self._session_payload(session)

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
        status, payload, extra_headers = 200, None, []
        try:
            route, params = self.router.match(scope["method"], scope["path"])
            req = Request(scope, receive, params, self.max_body)
            self._check_origin(req)
            if self.expected_auth is not None and not route.open:
                given = req.header(b"authorization") or b""
                if not hmac.compare_digest(given, self.expected_auth):
                    raise Unauthorized("missing or wrong bearer token: send 'Authorization: Bearer <token>'")
            payload = await self.handlers[route.handler](req)
        except AgentGymError as exc:
            status, payload = exc.status, exc.to_dict()
            if isinstance(exc, MethodNotAllowed):
                extra_headers = [(b"allow", ", ".join(exc.allow).encode())]
        except Exception as exc:  # a bug here must not drop the connection: report it as JSON
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            status, payload = 500, {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
        if isinstance(payload, HTML):
            headers, body = [(b"content-type", b"text/html; charset=utf-8")], payload.encode()
        else:
            headers, body = JSON_HEADERS, self._encode(scope, payload)
            if body is None:
                status, body = 500, orjson.dumps({"code": "internal", "message": "the response could not be encoded"})
        headers = [*headers, (b"content-length", str(len(body)).encode()), *extra_headers]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _encode(scope: dict, payload: Any) -> bytes | None:
        """The JSON of a payload, or None (logged) when it cannot be encoded."""
        try:
            return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
        except (TypeError, orjson.JSONEncodeError):
            log.exception("cannot encode the response to %s %s", scope["method"], scope["path"])
            return None

    def _check_origin(self, req: Request) -> None:
        """Without a token, a loopback server answers only its own origin: no request sent by a web page
        of another site (its `Origin`), nor through a foreign host name pointing here (DNS rebinding)."""
        if self.expected_auth is not None:
            return
        server = req.scope.get("server")
        if not server or not is_loopback(str(server[0])):
            return
        host = (req.header(b"host") or b"").decode("latin-1")
        if host and not is_loopback(host_name(host)):
            raise Forbidden(f"this server answers loopback host names only, not '{host[:80]}'")
        origin = req.header(b"origin")
        if origin is not None and origin.decode("latin-1") not in (f"http://{host}", f"https://{host}"):
            raise Forbidden(
                f"cross-site request from origin '{origin.decode('latin-1')[:80]}' refused: start the server with "
                "--token to let other origins in"
            )

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
