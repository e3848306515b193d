"""Errors with stable codes, shared by the server (as JSON `{code, message}`) and the clients."""

from __future__ import annotations


class AgentGymError(Exception):
    """Base of every error this toolkit raises on purpose."""

    code = "error"
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class BadRequest(AgentGymError):
    code, status = "bad_request", 400


class MalformedBody(BadRequest):
    code = "malformed_body"


class PayloadTooLarge(BadRequest):
    code, status = "payload_too_large", 413


class UnsupportedMediaType(BadRequest):
    code, status = "unsupported_media_type", 415


class Unauthorized(AgentGymError):
    code, status = "unauthorized", 401


class Forbidden(AgentGymError):
    """A request from another web origin, or through a host name that is not this loopback server."""

    code, status = "forbidden", 403


class NotFound(AgentGymError):
    """No such route, or no such view of a session."""

    code, status = "not_found", 404


class MethodNotAllowed(AgentGymError):
    """The path exists, the method does not: the response lists the allowed ones in `Allow`."""

    code, status = "method_not_allowed", 405

    def __init__(self, message: str, allow: list[str] | None = None):
        super().__init__(message)
        self.allow = allow or []


class UnknownSession(AgentGymError):
    code, status = "unknown_session", 404


class UnknownTask(AgentGymError):
    code, status = "unknown_task", 404


class EpisodeDone(AgentGymError):
    code, status = "episode_done", 409


class TooManySessions(AgentGymError):
    code, status = "too_many_sessions", 503


class EnvFailure(AgentGymError):
    """The environment raised: the session is closed, the server keeps serving the others."""

    code, status = "env_error", 500


class EnvTimeout(EnvFailure):
    """An environment call ran past the server's time limit: its session is closed once the call ends."""

    code, status = "env_timeout", 504


class ModelError(AgentGymError):
    """A model could not be found, read or converted."""

    code = "model_error"


class ServerStartError(AgentGymError):
    """A child server (vLLM, an env server) did not become healthy."""

    code = "server_start_error"


ERRORS_BY_CODE: dict[str, type[AgentGymError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        MalformedBody,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        UnknownSession,
        UnknownTask,
        EpisodeDone,
        TooManySessions,
        EnvFailure,
        EnvTimeout,
    )
}


def error_from_payload(payload: dict, status: int) -> AgentGymError:
    """Rebuild the typed error a server sent as `{code, message}`."""
    cls = ERRORS_BY_CODE.get(payload.get("code", ""), AgentGymError)
    err = cls(payload.get("message", f"HTTP {status}"))
    err.status = status
    return err


# Exceptions of the HTTP clients that mean "the server could not be reached or did not answer".
_TRANSPORT_ERRORS = {
    ("aiohttp", "ClientConnectionError"), ("aiohttp", "ClientPayloadError"), ("httpx", "TransportError"),
}
_INFRASTRUCTURE_CODES = {"too_many_sessions", "unknown_session", "env_timeout", "server_start_error"}


def is_infrastructure_failure(exc: BaseException) -> bool:
    """True when `exc` says a server was unreachable, overloaded, too slow or lost the session: a failure
    of the machinery, not an outcome of the episode, so the episode is worth playing again."""
    if isinstance(exc, AgentGymError):
        return exc.code in _INFRASTRUCTURE_CODES or exc.status in (502, 503, 504)
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    return any((c.__module__.partition(".")[0], c.__name__) in _TRANSPORT_ERRORS for c in type(exc).__mro__)
