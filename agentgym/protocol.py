"""Wire schemas of the environment protocol (pydantic), and the OpenAPI document built from them.

The shape follows what users already know: Gymnasium's observation/reward/terminated/truncated/info,
OpenEnv's reset/step/state, AgentGym's create/step/reset.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROTOCOL_VERSION = "1"
MAX_ACTION_CHARS = 4096


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRequest(_Strict):
    """Open a session on a task: by id, or the `index`-th task of a split."""

    task_id: str | None = None
    split: str | None = None
    index: int | None = Field(default=None, ge=0)
    seed: int | None = None
    max_steps: int | None = Field(default=None, ge=1)


class StepRequest(_Strict):
    action: str = Field(max_length=MAX_ACTION_CHARS)


class ResetRequest(_Strict):
    task_id: str | None = None
    seed: int | None = None


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
    status: str
    sessions: int
    max_sessions: int


# (method, path, summary, request model, response model)
ROUTES: list[tuple[str, str, str, type[BaseModel] | None, type[BaseModel]]] = [
    ("get", "/health", "Liveness and session count", None, HealthResponse),
    ("get", "/info", "Environment metadata", None, EnvInfoResponse),
    ("get", "/tasks", "Task ids of a split (query: split)", None, TasksResponse),
    ("get", "/tasks/{task_id}", "The split of a task (validates the id without generating anything)", None,
     TaskResponse),
    ("get", "/tasks/{task_id}/expert", "Expert actions that solve a task (query: seed)", None, ExpertResponse),
    ("post", "/sessions", "Create a session on a task", CreateRequest, SessionResponse),
    ("get", "/sessions/{session_id}", "Session state", None, StateResponse),
    ("get", "/sessions/{session_id}/html", "The current page as HTML, for environments that render pages (text/html)",
     None, ErrorResponse),
    ("post", "/sessions/{session_id}/step", "Apply one action", StepRequest, StepResponse),
    ("post", "/sessions/{session_id}/reset", "Restart the episode (same or other task)", ResetRequest, SessionResponse),
    ("delete", "/sessions/{session_id}", "Close a session", None, ErrorResponse),
]

ERROR_STATUSES = {
    "400": "malformed_body / bad_request",
    "401": "unauthorized",
    "404": "unknown_session / unknown_task",
    "409": "episode_done",
    "413": "payload_too_large",
    "500": "env_error",
    "503": "too_many_sessions",
}


def openapi_schema(title: str = "AgentGym environment server") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the protocol, built from the pydantic models above."""
    components: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            components[name] = sub
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    paths: dict[str, Any] = {}
    error_ref = ref(ErrorResponse)
    for method, path, summary, request, response in ROUTES:
        op: dict[str, Any] = {
            "summary": summary,
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": ref(response)}}}},
        }
        for status, codes in ERROR_STATUSES.items():
            op["responses"][status] = {
                "description": f"error: {codes}",
                "content": {"application/json": {"schema": error_ref}},
            }
        if request is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(request)}}}
        params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
            ]
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": PROTOCOL_VERSION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
