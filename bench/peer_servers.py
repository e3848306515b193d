"""One AgentGym env served the way two peers serve theirs, for `bench_peers.py` to measure beside ours.

    .venv/bin/python bench/peer_servers.py openenv echo --port 8201
    .venv/bin/python bench/peer_servers.py agentgym maze --port 8202

`openenv`: the env wrapped as an OpenEnv `Environment` and served by openenv-core's own `create_app`
(WebSocket `/ws`, one env per connection; HTTP `/reset` and `/step`, a fresh env per request).
`agentgym`: a FastAPI app written the way AgentGym's env servers are (their `agentenv-*/server.py`): one
global dict of env instances keyed by an integer id, no locks, sync handlers run in Starlette's thread
pool, pydantic request models, and errors returned as HTTP 200 `{"error": ...}`. Their per-request
`print`s and logging middleware are left out, so this is, if anything, faster than theirs.
Both run under uvicorn with uvloop and httptools and no access log, exactly as `agentgym serve` does.
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from agentgym.env import Env
from agentgym.registry import load
from agentgym.server import create_app


class ResetQuery(BaseModel):
    id: int
    game: int = 0


class StepQuery(BaseModel):
    id: int
    action: str


class CloseQuery(BaseModel):
    id: int


def openenv_app(env_name: str, max_sessions: int) -> Any:
    """The env behind openenv-core's server (`openenv.core.env_server.create_app`)."""
    from openenv.core.env_server.http_server import create_app
    from openenv.core.env_server.interfaces import Environment
    from openenv.core.env_server.types import Action, Observation, State

    env_cls = load(env_name)
    tasks = env_cls().tasks("held_in")

    class TextAction(Action):
        action: str

    class TextObservation(Observation):
        text: str = ""
        available_actions: list[str] | None = None

    class Wrapped(Environment):
        """Our env as an OpenEnv environment: `reset(task_id=...)`, `step(TextAction)`."""

        SUPPORTS_CONCURRENT_SESSIONS = True

        def __init__(self) -> None:
            super().__init__()
            self.env: Env = env_cls()
            self._state = State(episode_id=None, step_count=0)
            self.started = False

        def reset(self, seed: int | None = None, episode_id: str | None = None, index: int = 0,
                  **kwargs: Any) -> TextObservation:
            obs = self.env.reset(tasks[index % len(tasks)], seed)
            self.started = True
            self._state = State(episode_id=episode_id, step_count=0)
            return TextObservation(text=obs.text, available_actions=obs.available_actions)

        def step(self, action: TextAction, timeout_s: float | None = None, **kwargs: Any) -> TextObservation:
            if not self.started:  # OpenEnv's HTTP /step builds a fresh env for each request
                self.reset()
            result = self.env.step(action.action)
            self._state.step_count += 1
            return TextObservation(text=result.observation.text, available_actions=result.observation.available_actions,
                                   reward=result.reward, done=result.done)

        @property
        def state(self) -> State:
            return self._state

        def close(self) -> None:
            self.env.close()

    return create_app(Wrapped, TextAction, TextObservation, env_name=env_name, max_concurrent_envs=max_sessions)


def agentgym_style_app(env_name: str) -> FastAPI:
    """The env behind a server written as AgentGym's are: a global dict of envs, no locks, errors as 200."""
    env_cls = load(env_name)
    tasks = env_cls().tasks("held_in")
    envs: dict[int, Env] = {}
    ids = itertools.count()
    app = FastAPI()

    @app.get("/")
    def ok() -> str:
        return "ok"

    @app.post("/create")
    def create() -> dict:
        idx = next(ids)
        envs[idx] = env_cls()
        return {"id": idx}

    @app.post("/reset")
    def reset(query: ResetQuery) -> dict:
        try:
            obs = envs[query.id].reset(tasks[query.game % len(tasks)])
            return {"observation": obs.text, "available_actions": obs.available_actions}
        except Exception as e:
            return {"error": str(e)}

    @app.post("/step")
    def step(query: StepQuery) -> dict:
        try:
            result = envs[query.id].step(query.action)
            return {"observation": result.observation.text, "reward": result.reward, "done": result.done}
        except Exception as e:
            return {"error": str(e)}

    @app.post("/close")
    def close(query: CloseQuery) -> dict:
        try:
            envs.pop(query.id).close()
            return {"closed": True}
        except Exception as e:
            return {"error": str(e)}

    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("style", choices=["openenv", "agentgym", "ours-httptools"],
                    help="ours-httptools: our app under uvicorn's own httptools protocol (two writes a response)")
    ap.add_argument("env")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--max-sessions", type=int, default=256)
    args = ap.parse_args()
    if args.style == "ours-httptools":
        env_cls = load(args.env)
        app = create_app(env_cls, max_sessions=args.max_sessions)
    else:
        app = openenv_app(args.env, args.max_sessions) if args.style == "openenv" else agentgym_style_app(args.env)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, loop="uvloop",
                http="httptools")


if __name__ == "__main__":
    main()
