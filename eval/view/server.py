"""Serve the viewer: in the foreground (the CLI) or as a child process (tests)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agentgym.child import ChildServer
from agentgym.env_server import TOKEN_ENV, check_exposure
from agentgym.errors import BadRequest
from agentgym.netutil import free_port

DEFAULT_DEMOS = "runs/demos/human.jsonl"


def check_paths(paths: list[str]) -> None:
    """Every path is a folder (existing or to come) or a `.jsonl` file."""
    for p in paths:
        path = Path(p)
        if path.is_file() and path.suffix != ".jsonl":
            raise BadRequest(f"{p} is neither a run folder nor a trajectory .jsonl file")


def url_of(host: str, port: int, token: str | None) -> str:
    return f"http://{host}:{port}/" + (f"?token={token}" if token else "")


def run_viewer(paths: list[str], host: str = "127.0.0.1", port: int = 8200, token: str | None = None,
               demos: str | None = None, log_level: str = "warning") -> None:
    """Serve the viewer with uvicorn in this process until interrupted."""
    check_exposure(host, token)
    check_paths(paths)
    import uvicorn

    from eval.view.app import create_app

    app = create_app(paths, demos=demos or DEFAULT_DEMOS, token=token)
    print(f"agentgym view: {url_of(host, port, token)}  (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, proxy_headers=False)


class ViewServer(ChildServer):
    """`with ViewServer(["runs/x"]) as v:` then open `v.url`. Runs `agentgym view` as a child."""

    label = "view"
    startup_timeout = 60.0

    def __init__(self, paths: list[str | os.PathLike], demos: str | os.PathLike | None = None,
                 token: str | None = None, port: int | None = None, log_path: str | None = None):
        super().__init__(log_path)
        self.paths, self.token = [str(p) for p in paths], token
        self.demos = str(demos) if demos else None
        self.host, self.port = "127.0.0.1", port or free_port()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "agentgym.cli", "view", *self.paths, "--port", str(self.port)]
        return cmd + (["--demos", self.demos] if self.demos else [])

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop(TOKEN_ENV, None)
        if self.token:
            env[TOKEN_ENV] = self.token
        return env
