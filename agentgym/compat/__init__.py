"""Other projects' clients on our servers: OpenEnv's protocol and AgentGym's wire format, mounted on an `EnvApp`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentgym.compat.agentenv import AgentEnvRoutes, AgentEnvSpec
from agentgym.compat.openenv import OpenEnvProtocol

__all__ = ["AgentEnvSpec", "CompatApp", "mount"]


class CompatApp:
    """The server app with OpenEnv's WebSocket `/ws` in front; everything else goes to the wrapped app."""

    def __init__(self, app: Any, openenv: OpenEnvProtocol):
        self.app, self.openenv = app, openenv

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "websocket":
            await self.openenv.websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


def mount(app: Any) -> CompatApp:
    """Add OpenEnv's HTTP routes and AgentGym's `/agentgym` routes to `app`'s dispatch (not to its OpenAPI
    document, which stays the native protocol's), and serve `/ws` in front of it."""
    openenv = OpenEnvProtocol(app.manager, app.env_info, app.expected_auth, app.max_body)
    agentenv = AgentEnvRoutes(app.manager, getattr(type(app.manager.catalog), "agentenv", None), app.env_info["name"])
    extra = [*openenv.routes(), *agentenv.routes()]
    app.routes = (*app.routes, *(route for route, _ in extra))
    app.router = type(app.router)(app.routes)
    app.handlers.update({route.handler: handler for route, handler in extra})
    return CompatApp(app, openenv)
