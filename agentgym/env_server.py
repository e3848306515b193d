"""Run environment servers: in the foreground (the CLI) or as child processes (tests, pipeline)."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import sys
from typing import Any

from agentgym.child import ChildServer
from agentgym.errors import AgentGymError
from agentgym.netutil import free_port

log = logging.getLogger(__name__)

TOKEN_ENV = "AGENTGYM_TOKEN"
DEFAULT_CALL_TIMEOUT = 300.0  # seconds one env call (create, reset, step, expert) may take
# An idle keep-alive connection is closed by the server after this long. The clients close theirs sooner
# (agentgym.client.IDLE_CLOSE_S): with uvicorn's 5 s, an agent that thought for ~5 s between steps could send
# its step down a connection the server was closing, and lose the episode (measured: 7 of 256 at 256 sessions).
KEEP_ALIVE_S = 120


def check_exposure(host: str, token: str | None, how: str = f"--token (or set {TOKEN_ENV})") -> None:
    """Refuse to listen beyond this machine without a bearer token (`how` says how to give one)."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not token:
        raise AgentGymError(
            f"refusing to listen on {host} without a token: pass {how} "
            "so that only your clients can drive this server, or bind to 127.0.0.1"
        )


def parse_env_options(items: list[str]) -> dict[str, Any]:
    """`["unlisted_games=50", "name=x"]` -> `{"unlisted_games": 50, "name": "x"}` (JSON values, else text)."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise AgentGymError(f"--env-option expects KEY=VALUE with KEY a Python name, got '{item}'")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def run_foreground(
    env: str,
    host: str = "127.0.0.1",
    port: int = 8100,
    max_sessions: int = 256,
    ttl: float = 600.0,
    token: str | None = None,
    log_level: str = "warning",
    env_kwargs: dict[str, Any] | None = None,
    call_timeout: float | None = DEFAULT_CALL_TIMEOUT,
) -> None:
    """Serve one environment with uvicorn in this process until interrupted."""
    import uvicorn

    from agentgym.http_protocol import OneWriteHttpProtocol
    from agentgym.registry import load
    from agentgym.server import create_app

    check_exposure(host, token)
    env_cls = load(env)
    kwargs = dict(env_kwargs or {})
    app = create_app(lambda: env_cls(**kwargs), max_sessions=max_sessions, ttl=ttl, token=token,
                     call_timeout=call_timeout or None)
    uvicorn.run(
        app, host=host, port=port, log_level=log_level, access_log=False, loop="uvloop", http=OneWriteHttpProtocol,
        proxy_headers=False, timeout_keep_alive=KEEP_ALIVE_S,
    )


class EnvServer(ChildServer):
    """`with EnvServer("textworld") as s:` then `EnvClient(s.url)`. Runs `agentgym serve` as a child."""

    label = "env-server"
    startup_timeout = 120.0

    def __init__(
        self,
        env: str,
        port: int | None = None,
        host: str = "127.0.0.1",
        max_sessions: int = 256,
        ttl: float = 600.0,
        token: str | None = None,
        log_path: str | None = None,
        extra_env: dict[str, str] | None = None,
        call_timeout: float | None = DEFAULT_CALL_TIMEOUT,
        env_options: dict[str, Any] | None = None,
    ):
        super().__init__(log_path)
        self.env_options = dict(env_options or {})
        self.env, self.host, self.port = env, host, port or free_port()
        self.max_sessions, self.ttl, self.token = max_sessions, ttl, token
        self.call_timeout = call_timeout
        self.extra_env = dict(extra_env or {})

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "agentgym.cli", "serve", self.env,
            "--host", self.host, "--port", str(self.port),
            "--max-sessions", str(self.max_sessions), "--ttl", str(self.ttl),
            "--call-timeout", str(self.call_timeout or 0),
            *(arg for k, v in self.env_options.items() for arg in ("--env-option", f"{k}={json.dumps(v)}")),
        ]

    def environment(self) -> dict[str, str]:
        env = {**os.environ, **self.extra_env}
        if self.token:
            env[TOKEN_ENV] = self.token
        # `module:Class` specs from the working directory (tests, user code) must import in the child.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        return env
