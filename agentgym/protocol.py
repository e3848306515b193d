"""Wire schemas of the environment protocol (pydantic), and the OpenAPI document built from them.

The shape follows what users already know: Gymnasium's observation/reward/terminated/truncated/info,
OpenEnv's reset/step/state, AgentGym's create/step/reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentgym.env import ALL_SPLITS
from agentgym.errors import (
    AgentGymError,
    BadRequest,
    EnvFailure,
    EnvTimeout,
    EpisodeDone,
    Forbidden,
    MalformedBody,
    NotFound,
    PayloadTooLarge,
    TooManySessions,
    Unauthorized,
    UnknownSession,
    UnknownTask,
    UnsupportedMediaType,
)

PROTOCOL_VERSION = "1"
MAX_ACTION_CHARS = 4096
MAX_STEPS_LIMIT = 10_000  # the largest step budget a client may ask for
MAX_SEED = 2**32 - 1  # seeds every RNG accepts (numpy's legacy one included)
Split = Literal["held_in", "held_out", "held_out_reworded"]  # agentgym.env.ALL_SPLITS (the last where declared)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRequest(_Strict):
    """Open a session on a task: by id, or the `index`-th task of a split."""

    task_id: str | None = None
    split: Split | None = None
    index: int | None = Field(default=None, ge=0)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    max_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS_LIMIT)


class StepRequest(_Strict):
    action: str = Field(max_length=MAX_ACTION_CHARS)


class ResetRequest(_Strict):
    task_id: str | None = None
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)


class ObservationModel(BaseModel):
    text: str
    available_actions: list[str] | None = None
    extra: dict[str, Any] = {}


class StepInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    valid: bool
    error: str | None
    won: bool
    score: float


class StepResponse(BaseModel):
    observation: ObservationModel
    reward: float
    terminated: bool
    truncated: bool
    done: bool
    info: StepInfo


class SessionResponse(BaseModel):
    session_id: str
    task_id: str
    split: str
    observation: ObservationModel


class StateResponse(BaseModel):
    session_id: str
    task_id: str
    split: str
    steps: int
    max_steps: int
    done: bool
    total_reward: float
    observation: ObservationModel


class TasksResponse(BaseModel):
    split: str
    tasks: list[str]


class TaskResponse(BaseModel):
    task_id: str
    split: str


class ExpertResponse(BaseModel):
    task_id: str
    actions: list[str]
    thoughts: list[str] | None = None  # the expert's reason for each action, where the env gives them


class ErrorResponse(BaseModel):
    code: str
    message: str


class ClosedResponse(BaseModel):
    code: Literal["closed"]
    message: str


class EnvInfoResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    version: str
    instruction: str
    action_format: str
    max_steps: int
    splits: list[str]
    protocol: str


class HealthResponse(BaseModel):
    status: Literal["healthy"] = Field(description="OpenEnv's HealthStatus value, as `openenv validate` reads it")
    sessions: int
    max_sessions: int


@dataclass(frozen=True)
class Query:
    """A query parameter of a route."""

    name: str
    schema: dict[str, Any]
    description: str


SPLIT_QUERY = Query("split", {"type": "string", "enum": list(ALL_SPLITS), "default": "held_in"},
                    "the split whose tasks to list")
SEED_QUERY = Query("seed", {"type": "integer", "minimum": 0, "maximum": MAX_SEED}, "the episode's seed")
BODY_ERRORS = (MalformedBody, UnsupportedMediaType, PayloadTooLarge)


@dataclass(frozen=True)
class Route:
    """One operation of the protocol: the server dispatches on it, the OpenAPI document is built from it.

    `handler` names the method of the server app that answers it; `errors` are the errors it can
    answer besides those every route can (403, and 401 unless `open`); `media_type` is that of the
    success body, `response` its schema (None for a page)."""

    method: str
    path: str
    handler: str
    summary: str
    response: type[BaseModel] | None
    request: type[BaseModel] | None = None
    errors: tuple[type[AgentGymError], ...] = ()
    query: tuple[Query, ...] = ()
    media_type: str = "application/json"
    open: bool = False  # answered without the bearer token

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(p for p in self.path.split("/") if p)

    def all_errors(self) -> tuple[type[AgentGymError], ...]:
        common = (Forbidden,) if self.open else (Forbidden, Unauthorized)
        body = BODY_ERRORS if self.request is not None else ()
        return (*common, *body, *self.errors)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "health", "Liveness and session count", HealthResponse, open=True),
    Route("GET", "/openapi.json", "openapi", "This document", None, open=True),
    Route("GET", "/info", "info", "Environment metadata", EnvInfoResponse),
    Route("GET", "/tasks", "tasks", "Task ids of a split", TasksResponse, errors=(BadRequest,), query=(SPLIT_QUERY,)),
    Route("GET", "/tasks/{task_id}", "task", "The split of a task (validates the id without generating anything)",
          TaskResponse, errors=(UnknownTask,)),
    Route("GET", "/tasks/{task_id}/expert", "expert", "Expert actions that solve a task", ExpertResponse,
          errors=(BadRequest, UnknownTask, EnvFailure, EnvTimeout), query=(SEED_QUERY,)),
    Route("POST", "/sessions", "create", "Create a session on a task", SessionResponse, CreateRequest,
          errors=(UnknownTask, TooManySessions, EnvFailure, EnvTimeout)),
    Route("GET", "/sessions/{session_id}", "state", "Session state", StateResponse, errors=(UnknownSession,)),
    Route("DELETE", "/sessions/{session_id}", "close", "Close a session", ClosedResponse, errors=(UnknownSession,)),
    Route("GET", "/sessions/{session_id}/html", "page", "The current page, for environments that render pages",
          None, errors=(UnknownSession, NotFound, EnvFailure, EnvTimeout), media_type="text/html"),
    Route("POST", "/sessions/{session_id}/step", "step", "Apply one action", StepResponse, StepRequest,
          errors=(UnknownSession, EpisodeDone, EnvFailure, EnvTimeout)),
    Route("POST", "/sessions/{session_id}/reset", "reset", "Restart the episode (same or other task)",
          SessionResponse, ResetRequest, errors=(UnknownSession, UnknownTask, EnvFailure, EnvTimeout)),
)


def openapi_schema(title: str = "AgentGym environment server", routes: tuple[Route, ...] = ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes`, built from their declarations and pydantic models."""
    components: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            components[name] = sub
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    paths: dict[str, Any] = {}
    error_ref = ref(ErrorResponse)
    # A response field named like another route's path parameter links the two (used by stateful fuzzers).
    takes = {name.strip("{}"): [r for r in routes if name in r.segments]
             for r in routes for name in r.segments if name.startswith("{")}
    for route in routes:
        success = {"schema": ref(route.response)} if route.response is not None else {"schema": {"type": "object"}}
        if route.media_type != "application/json":
            success = {"schema": {"type": "string"}}
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler,
            "responses": {"200": {"description": "OK", "content": {route.media_type: success}}},
        }
        fields = route.response.model_fields if route.response is not None else {}
        links = {f"{target.handler}_by_{name}": {"operationId": target.handler,
                                                  "parameters": {name: f"$response.body#/{name}"}}
                 for name in fields for target in takes.get(name, []) if target is not route}
        if links:
            op["responses"]["200"]["links"] = links
        by_status: dict[int, list[str]] = {}
        for err in route.all_errors():
            codes = by_status.setdefault(err.status, [])
            if err.code not in codes:
                codes.append(err.code)
        for status in sorted(by_status):
            op["responses"][str(status)] = {
                "description": "error: " + " / ".join(by_status[status]),
                "content": {"application/json": {"schema": error_ref}},
            }
        if route.request is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(route.request)}}}
        params = [{"name": p.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in route.segments if p.startswith("{")]
        params += [{"name": q.name, "in": "query", "required": False, "schema": q.schema, "description": q.description}
                   for q in route.query]
        if params:
            op["parameters"] = params
        if not route.open:
            op["security"] = [{"bearer": []}, {}]
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": PROTOCOL_VERSION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
